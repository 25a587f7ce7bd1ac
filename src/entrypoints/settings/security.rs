//! Security settings of every Kafka-speaking verb: TLS files and SASL credentials for Kafka,
//! CA file, basic auth and bearer token for the schema registry, and secrets read from files.
//!
//! - Every secret can be given as a value (`KAFKA_SASL_PASSWORD`) or as a file holding it
//!   (`KAFKA_SASL_PASSWORD_FILE`, e.g. a mounted Kubernetes Secret); giving both at the same
//!   layer is an error, a flag/environment value beats the config file. A file's content is
//!   used up to its trailing line break.
//! - TLS files (`KAFKA_SSL_CA_LOCATION`, …) become the librdkafka `ssl.*.location` properties.
//! - [`check_sasl_credentials`]: a SASL protocol with PLAIN or SCRAM but without a user or
//!   password is a configuration error at start, not an endless authentication retry.
//!
//! Invariants: secret values live in [`Secret`] until handed to a client; an error names the
//! setting and the file path, never a secret's content.

use std::path::{Path, PathBuf};

use super::{ConfigFile, Secret, SettingsError};
use crate::runtime::config::KafkaProperties;

/// Flags for TLS, SASL and registry authentication (flattened into `ConnectionArgs`).
#[derive(Debug, Clone, Default, clap::Args)]
pub struct SecurityArgs {
    /// librdkafka `security.protocol`: PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL.
    #[arg(long, env = "KAFKA_SECURITY_PROTOCOL", global = true)]
    pub security_protocol: Option<String>,
    /// librdkafka `sasl.mechanism`: SCRAM-SHA-512, SCRAM-SHA-256 or PLAIN.
    #[arg(long, env = "KAFKA_SASL_MECHANISM", global = true)]
    pub sasl_mechanism: Option<String>,
    /// File holding the SASL password (instead of KAFKA_SASL_PASSWORD).
    #[arg(
        long,
        env = "KAFKA_SASL_PASSWORD_FILE",
        value_name = "FILE",
        global = true
    )]
    pub sasl_password_file: Option<PathBuf>,
    /// PEM file of the CA(s) that signed the brokers' certificates (`ssl.ca.location`).
    #[arg(
        long,
        env = "KAFKA_SSL_CA_LOCATION",
        value_name = "FILE",
        global = true
    )]
    pub ssl_ca_location: Option<PathBuf>,
    /// PEM client certificate for mutual TLS (`ssl.certificate.location`).
    #[arg(
        long,
        env = "KAFKA_SSL_CERTIFICATE_LOCATION",
        value_name = "FILE",
        global = true
    )]
    pub ssl_certificate_location: Option<PathBuf>,
    /// PEM private key of the client certificate (`ssl.key.location`).
    #[arg(
        long,
        env = "KAFKA_SSL_KEY_LOCATION",
        value_name = "FILE",
        global = true
    )]
    pub ssl_key_location: Option<PathBuf>,
    /// Password of an encrypted client key (`ssl.key.password`; prefer the file variant).
    #[arg(
        long,
        env = "KAFKA_SSL_KEY_PASSWORD",
        hide_env_values = true,
        global = true
    )]
    pub ssl_key_password: Option<Secret>,
    /// File holding the client key's password.
    #[arg(
        long,
        env = "KAFKA_SSL_KEY_PASSWORD_FILE",
        value_name = "FILE",
        global = true
    )]
    pub ssl_key_password_file: Option<PathBuf>,
    /// File holding the schema registry's basic-auth password.
    #[arg(
        long,
        env = "SCHEMA_REGISTRY_PASSWORD_FILE",
        value_name = "FILE",
        global = true
    )]
    pub schema_registry_password_file: Option<PathBuf>,
    /// Bearer token for the schema registry (prefer the file variant).
    #[arg(
        long,
        env = "SCHEMA_REGISTRY_TOKEN",
        hide_env_values = true,
        global = true
    )]
    pub schema_registry_token: Option<Secret>,
    /// File holding the schema registry's bearer token.
    #[arg(
        long,
        env = "SCHEMA_REGISTRY_TOKEN_FILE",
        value_name = "FILE",
        global = true
    )]
    pub schema_registry_token_file: Option<PathBuf>,
    /// PEM file of a CA to trust (besides the system's) for an https registry.
    #[arg(
        long,
        env = "SCHEMA_REGISTRY_CA_LOCATION",
        value_name = "FILE",
        global = true
    )]
    pub schema_registry_ca_location: Option<PathBuf>,
}

/// One secret setting's names, for resolving and for error messages.
pub struct SecretNames {
    pub value_env: &'static str,
    pub file_env: &'static str,
}

pub const SASL_PASSWORD: SecretNames = SecretNames {
    value_env: "KAFKA_SASL_PASSWORD",
    file_env: "KAFKA_SASL_PASSWORD_FILE",
};
pub const SSL_KEY_PASSWORD: SecretNames = SecretNames {
    value_env: "KAFKA_SSL_KEY_PASSWORD",
    file_env: "KAFKA_SSL_KEY_PASSWORD_FILE",
};
pub const REGISTRY_PASSWORD: SecretNames = SecretNames {
    value_env: "SCHEMA_REGISTRY_PASSWORD",
    file_env: "SCHEMA_REGISTRY_PASSWORD_FILE",
};
pub const REGISTRY_TOKEN: SecretNames = SecretNames {
    value_env: "SCHEMA_REGISTRY_TOKEN",
    file_env: "SCHEMA_REGISTRY_TOKEN_FILE",
};

/// Reads a secret from `path`: the content without its trailing line break; empty is refused.
pub fn read_secret_file(path: &Path, names: &SecretNames) -> Result<Secret, SettingsError> {
    let invalid = |message: String| SettingsError::Invalid {
        what: "secret file",
        message,
    };
    let text = std::fs::read_to_string(path).map_err(|e| {
        invalid(format!(
            "cannot read {} `{}`: {e}",
            names.file_env,
            path.display()
        ))
    })?;
    let value = text.trim_end_matches(['\n', '\r']);
    if value.is_empty() {
        return Err(invalid(format!(
            "{} `{}` is empty",
            names.file_env,
            path.display()
        )));
    }
    Ok(Secret::new(value))
}

/// A secret from one layer's value or file (both set is an error).
fn layer(
    value: Option<&Secret>,
    file: Option<&PathBuf>,
    names: &SecretNames,
) -> Result<Option<Secret>, SettingsError> {
    match (value, file) {
        (Some(_), Some(_)) => Err(SettingsError::Invalid {
            what: "secret",
            message: format!("set {} or {}, not both", names.value_env, names.file_env),
        }),
        (Some(v), None) => Ok(Some(v.clone())),
        (None, Some(path)) => read_secret_file(path, names).map(Some),
        (None, None) => Ok(None),
    }
}

/// A secret from the flag/environment layer, else from the config file's layer.
pub fn resolve_secret(
    flag: (Option<&Secret>, Option<&PathBuf>),
    file: (Option<&Secret>, Option<&PathBuf>),
    names: &SecretNames,
) -> Result<Option<Secret>, SettingsError> {
    match layer(flag.0, flag.1, names)? {
        Some(secret) => Ok(Some(secret)),
        None => layer(file.0, file.1, names),
    }
}

/// The schema registry's authentication and trust settings, resolved.
#[derive(Debug, Clone, Default)]
pub struct RegistrySecurity {
    pub password: Option<Secret>,
    pub token: Option<Secret>,
    pub ca_location: Option<PathBuf>,
}

impl SecurityArgs {
    /// Sets the librdkafka properties these settings stand for (after the pass-through ones,
    /// which they override) and the SASL password; the SASL user is set by the caller.
    pub fn apply_kafka(
        &self,
        file: &ConfigFile,
        sasl_password: Option<&Secret>,
        properties: &mut KafkaProperties,
    ) -> Result<(), SettingsError> {
        let text = |flag: &Option<String>, file: &Option<String>| flag.clone().or(file.clone());
        let path = |flag: &Option<PathBuf>, file: &Option<PathBuf>| flag.clone().or(file.clone());
        if let Some(v) = text(&self.security_protocol, &file.security_protocol) {
            properties.set("security.protocol", &v)?;
        }
        if let Some(v) = text(&self.sasl_mechanism, &file.sasl_mechanism) {
            properties.set("sasl.mechanism", &v)?;
        }
        for (key, value) in [
            (
                "ssl.ca.location",
                path(&self.ssl_ca_location, &file.ssl_ca_location),
            ),
            (
                "ssl.certificate.location",
                path(
                    &self.ssl_certificate_location,
                    &file.ssl_certificate_location,
                ),
            ),
            (
                "ssl.key.location",
                path(&self.ssl_key_location, &file.ssl_key_location),
            ),
        ] {
            if let Some(p) = value {
                properties.set(key, &p.to_string_lossy())?;
            }
        }
        let sasl_password = resolve_secret(
            (sasl_password, self.sasl_password_file.as_ref()),
            (
                file.sasl_password.as_ref(),
                file.sasl_password_file.as_ref(),
            ),
            &SASL_PASSWORD,
        )?;
        if let Some(password) = sasl_password {
            properties.set("sasl.password", password.expose())?;
        }
        let key_password = resolve_secret(
            (
                self.ssl_key_password.as_ref(),
                self.ssl_key_password_file.as_ref(),
            ),
            (
                file.ssl_key_password.as_ref(),
                file.ssl_key_password_file.as_ref(),
            ),
            &SSL_KEY_PASSWORD,
        )?;
        if let Some(password) = key_password {
            properties.set("ssl.key.password", password.expose())?;
        }
        Ok(())
    }

    /// The registry password (given `flag_password` from `--schema-registry-password`), token
    /// and CA file.
    pub fn registry(
        &self,
        file: &ConfigFile,
        flag_password: Option<&Secret>,
    ) -> Result<RegistrySecurity, SettingsError> {
        Ok(RegistrySecurity {
            password: resolve_secret(
                (flag_password, self.schema_registry_password_file.as_ref()),
                (
                    file.schema_registry_password.as_ref(),
                    file.schema_registry_password_file.as_ref(),
                ),
                &REGISTRY_PASSWORD,
            )?,
            token: resolve_secret(
                (
                    self.schema_registry_token.as_ref(),
                    self.schema_registry_token_file.as_ref(),
                ),
                (
                    file.schema_registry_token.as_ref(),
                    file.schema_registry_token_file.as_ref(),
                ),
                &REGISTRY_TOKEN,
            )?,
            ca_location: self
                .schema_registry_ca_location
                .clone()
                .or_else(|| file.schema_registry_ca_location.clone()),
        })
    }
}

/// Refuses SASL with PLAIN or SCRAM but no user or no password: librdkafka would otherwise
/// retry a doomed authentication for ever.
pub fn check_sasl_credentials(properties: &KafkaProperties) -> Result<(), SettingsError> {
    let protocol = properties
        .get("security.protocol")
        .unwrap_or("plaintext")
        .to_ascii_uppercase();
    if !protocol.starts_with("SASL_") {
        return Ok(());
    }
    let mechanism = properties
        .get("sasl.mechanisms")
        .or(properties.get("sasl.mechanism"))
        .unwrap_or("GSSAPI")
        .to_ascii_uppercase();
    if !(mechanism == "PLAIN" || mechanism.starts_with("SCRAM-")) {
        return Ok(());
    }
    let missing: Vec<&str> = [
        ("sasl.username", "KAFKA_SASL_USERNAME"),
        (
            "sasl.password",
            "KAFKA_SASL_PASSWORD or KAFKA_SASL_PASSWORD_FILE",
        ),
    ]
    .iter()
    .filter(|(key, _)| properties.get(key).is_none_or(|v| v.is_empty()))
    .map(|(_, env)| *env)
    .collect();
    if missing.is_empty() {
        return Ok(());
    }
    Err(SettingsError::Invalid {
        what: "Kafka credentials",
        message: format!(
            "security.protocol={protocol} with sasl.mechanism={mechanism} needs a user and a \
             password; missing: {}",
            missing.join(", ")
        ),
    })
}
