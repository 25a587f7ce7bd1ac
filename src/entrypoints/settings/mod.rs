//! Layered configuration shared by every verb: defaults → optional config file → environment
//! → flags. clap merges the last two (a flag beats its environment variable); this module adds
//! the file underneath and the defaults under that.
//!
//! - [`Secret`]: a string whose `Debug` / `Display` print `[redacted]`; passwords live in it
//!   from the moment they are parsed until they are handed to a client configuration.
//! - [`ConfigFile`]: the optional TOML file (`--config FILE` / `ALLOCATION_WORKER_CONFIG`);
//!   unknown keys are refused, so a typo is an error and not a silently ignored setting.
//! - [`webhooks`]: the `[webhooks]` table (subscriptions, sources, delivery policy).
//! - [`ConnectionArgs`]: the flags every Kafka-speaking verb takes (where Kafka and the
//!   registry are, credentials, librdkafka pass-through, topic prefix), resolved into a
//!   [`Connection`].
//!
//! - [`SecurityArgs`] (`security.rs`): TLS files, secrets from files (`*_FILE`), registry
//!   bearer token and CA, and the check that SASL PLAIN/SCRAM comes with credentials.
//!
//! Invariants: every error here is a configuration error (exit code 2) with a one-line
//! message that names the flag, the environment variable and the file key; secret values
//! never appear in an error message, in `Debug` output or in `--help` (`hide_env_values`).

mod file;
mod security;
#[cfg(test)]
mod tests;
pub mod webhooks;

use std::fmt;
use std::path::PathBuf;

pub use file::ConfigFile;
pub use security::{check_sasl_credentials, read_secret_file, SecurityArgs};

use crate::adapters::codec::{Registration, RegistryConfig};
use crate::runtime::config::{is_secret_property, ConfigError, KafkaProperties, Topics};
use crate::runtime::connect::{self, ConnectError};

/// How long the start-up connection check waits for a broker that neither answers nor refuses.
pub const CONNECT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// A secret string: redacted in `Debug` and `Display`; read it with [`Secret::expose`].
#[derive(Clone, PartialEq, Eq, Default, serde::Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret value, for handing to a client configuration only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl std::str::FromStr for Secret {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Self(s.to_owned()))
    }
}

/// Invalid configuration: exit code 2, one line.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("config file {path}: {message}")]
    File { path: PathBuf, message: String },
    #[error("{what} is not set (flag {flag}, environment {env}, config file key `{key}`)")]
    Missing {
        what: &'static str,
        flag: &'static str,
        env: &'static str,
        key: &'static str,
    },
    #[error("invalid {what}: {message}")]
    Invalid { what: &'static str, message: String },
    #[error("invalid librdkafka property `{0}`: expected key=value")]
    Property(String),
    #[error(transparent)]
    Runtime(#[from] ConfigError),
    /// Kafka refused the credentials or the TLS settings at start-up.
    #[error(transparent)]
    Refused(ConnectError),
}

/// The first of: flag or environment (as clap merged them), the file's value, the default.
pub fn pick<T>(flag_or_env: Option<T>, file: Option<T>, default: T) -> T {
    flag_or_env.or(file).unwrap_or(default)
}

/// Flags of every verb that talks to Kafka (and, for most, to the registry).
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ConnectionArgs {
    /// Optional TOML config file (see docs/operations.md); environment and flags override it.
    #[arg(
        long,
        env = "ALLOCATION_WORKER_CONFIG",
        value_name = "FILE",
        global = true
    )]
    pub config: Option<PathBuf>,
    /// Kafka bootstrap servers, `host:port[,host:port…]`. Required.
    #[arg(long, env = "KAFKA_BOOTSTRAP_SERVERS", global = true)]
    pub bootstrap_servers: Option<String>,
    /// Base URL of the Confluent-compatible schema registry API. Required.
    #[arg(long, env = "SCHEMA_REGISTRY_URL", global = true)]
    pub schema_registry_url: Option<String>,
    /// Basic-auth user of the schema registry.
    #[arg(long, env = "SCHEMA_REGISTRY_USERNAME", global = true)]
    pub schema_registry_username: Option<String>,
    /// Basic-auth password of the schema registry (prefer the environment variable).
    #[arg(
        long,
        env = "SCHEMA_REGISTRY_PASSWORD",
        hide_env_values = true,
        global = true
    )]
    pub schema_registry_password: Option<Secret>,
    /// Prefix of every topic name (e.g. `staging.`). [default: none]
    #[arg(long, env = "TOPIC_PREFIX", global = true)]
    pub topic_prefix: Option<String>,
    /// SASL user (sets librdkafka `sasl.username`).
    #[arg(long, env = "KAFKA_SASL_USERNAME", global = true)]
    pub sasl_username: Option<String>,
    /// SASL password (sets librdkafka `sasl.password`; prefer the environment variable).
    #[arg(
        long,
        env = "KAFKA_SASL_PASSWORD",
        hide_env_values = true,
        global = true
    )]
    pub sasl_password: Option<Secret>,
    /// librdkafka properties, comma-separated `key=value` (a literal comma in a value: `\,`).
    #[arg(
        long,
        env = "KAFKA_PROPERTIES",
        value_name = "K=V,…",
        hide_env_values = true,
        global = true
    )]
    pub kafka_properties: Option<Secret>,
    /// A librdkafka property passed through, `key=value` (repeatable; wins over the others).
    #[arg(short = 'X', value_name = "KEY=VALUE", global = true)]
    pub property: Vec<String>,
    #[command(flatten)]
    pub security: SecurityArgs,
}

/// Where Kafka and the registry are, resolved from every layer.
#[derive(Debug, Clone)]
pub struct Connection {
    pub bootstrap_servers: String,
    pub properties: KafkaProperties,
    pub topics: Topics,
    /// `None` when the registry URL is not configured (verbs that need it call
    /// [`Connection::registry`]).
    registry_url: Option<String>,
    registry_auth: Option<(String, Secret)>,
    registry_token: Option<Secret>,
    registry_ca: Option<PathBuf>,
}

impl ConnectionArgs {
    /// Loads the config file named by `--config` / `ALLOCATION_WORKER_CONFIG`, if any.
    pub fn file(&self) -> Result<ConfigFile, SettingsError> {
        match &self.config {
            Some(path) => ConfigFile::load(path),
            None => Ok(ConfigFile::default()),
        }
    }

    /// The topic names (prefix from flag/env, file, or none).
    pub fn topics(&self, file: &ConfigFile) -> Topics {
        Topics::with_prefix(&pick(
            self.topic_prefix.clone(),
            file.topic_prefix.clone(),
            String::new(),
        ))
    }

    /// Resolves the connection settings.
    pub fn resolve(&self, file: &ConfigFile) -> Result<Connection, SettingsError> {
        let bootstrap_servers = self
            .bootstrap_servers
            .clone()
            .or_else(|| file.bootstrap_servers.clone())
            .filter(|s| !s.trim().is_empty())
            .ok_or(SettingsError::Missing {
                what: "the Kafka bootstrap servers",
                flag: "--bootstrap-servers",
                env: "KAFKA_BOOTSTRAP_SERVERS",
                key: "bootstrap_servers",
            })?;
        let mut raw: Vec<(String, String)> = Vec::new();
        for (k, v) in &file.kafka_properties {
            raw.push((k.clone(), v.expose().to_owned()));
        }
        if let Some(list) = &self.kafka_properties {
            for item in split_list(list.expose()) {
                raw.push(split_property(&item)?);
            }
        }
        for item in &self.property {
            raw.push(split_property(item)?);
        }
        let mut properties = KafkaProperties::new();
        for (k, v) in &raw {
            properties.set(k, v)?;
        }
        if let Some(user) = self.sasl_username.as_ref().or(file.sasl_username.as_ref()) {
            properties.set("sasl.username", user)?;
        }
        self.security
            .apply_kafka(file, self.sasl_password.as_ref(), &mut properties)?;
        check_sasl_credentials(&properties)?;
        let registry_user = self
            .schema_registry_username
            .clone()
            .or_else(|| file.schema_registry_username.clone());
        let registry_security = self
            .security
            .registry(file, self.schema_registry_password.as_ref())?;
        let registry_auth = match (registry_user, registry_security.password) {
            (Some(user), password) => Some((user, password.unwrap_or_default())),
            (None, Some(_)) => {
                return Err(SettingsError::Invalid {
                    what: "schema registry credentials",
                    message: "a password without a user (set SCHEMA_REGISTRY_USERNAME)".into(),
                })
            }
            (None, None) => None,
        };
        if registry_auth.is_some() && registry_security.token.is_some() {
            return Err(SettingsError::Invalid {
                what: "schema registry credentials",
                message: "basic auth (SCHEMA_REGISTRY_USERNAME) and a bearer token \
                          (SCHEMA_REGISTRY_TOKEN) are both set: choose one"
                    .into(),
            });
        }
        Ok(Connection {
            bootstrap_servers,
            properties,
            topics: self.topics(file),
            registry_url: self
                .schema_registry_url
                .clone()
                .or_else(|| file.schema_registry_url.clone())
                .filter(|s| !s.trim().is_empty()),
            registry_auth,
            registry_token: registry_security.token,
            registry_ca: registry_security.ca_location,
        })
    }
}

impl Connection {
    /// The registry client configuration; the URL is required.
    pub fn registry(&self, registration: Registration) -> Result<RegistryConfig, SettingsError> {
        let url = self.registry_url.clone().ok_or(SettingsError::Missing {
            what: "the schema registry URL",
            flag: "--schema-registry-url",
            env: "SCHEMA_REGISTRY_URL",
            key: "schema_registry_url",
        })?;
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err(SettingsError::Invalid {
                what: "schema registry URL",
                message: format!("`{url}` is not an http(s) URL"),
            });
        }
        let mut config = RegistryConfig::new(url);
        config.registration = registration;
        config.basic_auth = self
            .registry_auth
            .as_ref()
            .map(|(user, password)| (user.clone(), password.expose().to_owned()));
        config.bearer_token = self
            .registry_token
            .as_ref()
            .map(|token| token.expose().to_owned());
        config.ca_location = self.registry_ca.clone();
        Ok(config)
    }

    /// Connects once with these settings (see `runtime::connect`): an error when Kafka refused
    /// the credentials or the TLS settings (a configuration error, exit 2). An unreachable
    /// cluster is not an error here: the verb goes on and meets it as it would without the
    /// check (retries, 503s, timeouts).
    pub fn check_connection(&self) -> Result<(), SettingsError> {
        check_connection(&self.client_config())
    }

    /// A client configuration with the bootstrap servers and every pass-through property.
    pub fn client_config(&self) -> rdkafka::ClientConfig {
        let mut config = rdkafka::ClientConfig::new();
        config.set("bootstrap.servers", &self.bootstrap_servers);
        for (k, v) in self.properties.iter() {
            config.set(k, v);
        }
        config
    }
}

/// See [`Connection::check_connection`].
pub fn check_connection(config: &rdkafka::ClientConfig) -> Result<(), SettingsError> {
    match connect::preflight(config, CONNECT_TIMEOUT) {
        Err(e) if e.is_configuration() => Err(SettingsError::Refused(e)),
        _ => Ok(()),
    }
}

/// A librdkafka refusal of the client configuration as a configuration error, without the
/// value when the property is secret-bearing.
pub fn client_error(e: &rdkafka::error::KafkaError) -> SettingsError {
    let message = match e {
        rdkafka::error::KafkaError::ClientConfig(_, description, key, _) => {
            if is_secret_property(key) {
                format!("librdkafka refused the value of `{key}`")
            } else {
                description.clone()
            }
        }
        other => other.to_string(),
    };
    SettingsError::Invalid {
        what: "Kafka client configuration",
        message,
    }
}

/// Parses `auto` / `require`.
pub fn parse_registration(value: &str) -> Result<Registration, SettingsError> {
    match value {
        "auto" => Ok(Registration::AutoRegister),
        "require" => Ok(Registration::RequireExisting),
        other => Err(SettingsError::Invalid {
            what: "schema registration (SCHEMA_REGISTRATION)",
            message: format!("must be `auto` or `require`, not `{other}`"),
        }),
    }
}

/// Splits one `key=value` item (never echoes the value: it may be a secret).
pub fn split_property(item: &str) -> Result<(String, String), SettingsError> {
    item.split_once('=')
        .filter(|(k, _)| !k.trim().is_empty())
        .map(|(k, v)| (k.trim().to_owned(), v.to_owned()))
        .ok_or_else(|| {
            let key = item.split('=').next().unwrap_or_default();
            SettingsError::Property(key.chars().take(64).collect())
        })
}

/// Splits a comma-separated list where `\,` is a literal comma; blank items are skipped.
pub fn split_list(list: &str) -> Vec<String> {
    let mut items = Vec::new();
    let mut current = String::new();
    let mut chars = list.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if chars.peek() == Some(&',') => {
                current.push(',');
                chars.next();
            }
            ',' => items.push(std::mem::take(&mut current)),
            c => current.push(c),
        }
    }
    items.push(current);
    items.retain(|i| !i.trim().is_empty());
    items.into_iter().map(|i| i.trim().to_owned()).collect()
}
