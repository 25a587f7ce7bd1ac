//! The optional config file: TOML, every key optional, unknown keys refused. One file serves
//! every verb (each reads the keys it needs); environment variables and flags override it.
//!
//! ```toml
//! bootstrap_servers = "kafka-0.kafka:9092"
//! schema_registry_url = "http://registry:8081"
//! topic_prefix = "stg."
//! transactional_id = "worker-0"
//! commit_interval_ms = 100
//! http_addr = "0.0.0.0:8080"
//!
//! [kafka_properties]
//! "security.protocol" = "SASL_SSL"
//! "sasl.mechanism" = "SCRAM-SHA-512"
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::{Secret, SettingsError};

/// The parsed config file. Field names are the flags' long names with `_` for `-`.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    pub bootstrap_servers: Option<String>,
    pub schema_registry_url: Option<String>,
    pub schema_registration: Option<String>,
    pub schema_registry_username: Option<String>,
    pub schema_registry_password: Option<Secret>,
    pub topic_prefix: Option<String>,
    pub sasl_username: Option<String>,
    pub sasl_password: Option<Secret>,
    /// librdkafka pass-through properties (values are treated as possibly secret).
    #[serde(default)]
    pub kafka_properties: BTreeMap<String, Secret>,
    pub group_id: Option<String>,
    pub transactional_id: Option<String>,
    pub group_instance_id: Option<String>,
    pub guarantee: Option<String>,
    pub commit_interval_ms: Option<u64>,
    pub max_batch: Option<usize>,
    pub session_timeout_ms: Option<u64>,
    pub transaction_timeout_ms: Option<u64>,
    pub shutdown_timeout_ms: Option<u64>,
    pub http_addr: Option<String>,
    pub lag_interval_ms: Option<u64>,
    pub produce_timeout_ms: Option<u64>,
    /// Outbound subscriptions and inbound sources (see [`super::webhooks`]).
    pub webhooks: Option<super::webhooks::WebhooksFile>,
    pub sse_heartbeat_ms: Option<u64>,
    pub sse_client_buffer: Option<usize>,
    // Security (see `security.rs`): TLS files, secrets from files, registry token and CA.
    pub security_protocol: Option<String>,
    pub sasl_mechanism: Option<String>,
    pub sasl_password_file: Option<PathBuf>,
    pub ssl_ca_location: Option<PathBuf>,
    pub ssl_certificate_location: Option<PathBuf>,
    pub ssl_key_location: Option<PathBuf>,
    pub ssl_key_password: Option<Secret>,
    pub ssl_key_password_file: Option<PathBuf>,
    pub schema_registry_password_file: Option<PathBuf>,
    pub schema_registry_token: Option<Secret>,
    pub schema_registry_token_file: Option<PathBuf>,
    pub schema_registry_ca_location: Option<PathBuf>,
}

impl ConfigFile {
    /// Reads and parses `path`.
    pub fn load(path: &Path) -> Result<Self, SettingsError> {
        let text = std::fs::read_to_string(path).map_err(|e| SettingsError::File {
            path: path.to_owned(),
            message: e.to_string(),
        })?;
        Self::parse(&text).map_err(|message| SettingsError::File {
            path: path.to_owned(),
            message,
        })
    }

    /// Parses TOML text; the error is one line (TOML errors span several).
    pub fn parse(text: &str) -> Result<Self, String> {
        toml::from_str(text).map_err(|e: toml::de::Error| {
            let message = e.message().trim().to_owned();
            match e.span() {
                Some(span) => {
                    let line = text[..span.start.min(text.len())].matches('\n').count() + 1;
                    format!("line {line}: {message}")
                }
                None => message,
            }
        })
    }
}
