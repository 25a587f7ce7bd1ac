//! Issue 10, secure connections, against the secure listeners of `scripts/stack up --secure`:
//! a broker with a SASL_SSL listener (SCRAM-SHA-512 and PLAIN users) and an SSL listener that
//! requires client certificates, and the real registry behind an HTTPS gateway that checks
//! basic auth or a bearer token (certificates from the stack's own CA).
//!
//! - [`end_to_end`]: the worker binary processes commands over SASL_SSL with SCRAM-SHA-512
//!   (registry: basic auth), over SASL_SSL with PLAIN (registry: bearer token), and over mutual
//!   TLS with an encrypted client key (registry: basic auth from the environment); every secret
//!   comes from a file or the environment and none appears in the worker's output.
//! - [`refused`]: a wrong password, an untrusted CA, a missing credential, a missing client
//!   certificate and refused registry credentials each end the process with exit code 2 and
//!   exactly one line of output that names the failure and carries no secret — no retries.
//!
//! The commands are produced and the outputs read over the plaintext listener of the same
//! broker (the harness's clients); only the worker under test speaks TLS/SASL.
//! Without the `STACK_SECURE_*` variables every test here fails, naming the command to run.

mod end_to_end;
mod refused;

use std::path::Path;
use std::process::ExitStatus;
use std::time::{Duration, Instant};

use crate::harness::worker::Worker;

/// Where the secure listeners, certificates and credentials of the stack are.
pub struct Secure {
    pub sasl_ssl_bootstrap: String,
    pub ssl_bootstrap: String,
    pub ca: String,
    pub untrusted_ca: String,
    pub client_cert: String,
    pub client_key: String,
    pub client_key_password_file: String,
    pub sasl_username: String,
    pub sasl_password_file: String,
    pub registry_url: String,
    pub registry_username: String,
    pub registry_password_file: String,
    pub registry_token_file: String,
}

const NO_SECURE_HINT: &str = "the secure-connection tests need the secure listeners of the \
    local stack. Run:\n    scripts/stack down; scripts/stack up --secure; export $(scripts/stack env)\n\
    (scripts/test does this for you).";

fn var(name: &str) -> String {
    match std::env::var(name) {
        Ok(v) if !v.is_empty() => v,
        _ => panic!("{name} is not set: {NO_SECURE_HINT}"),
    }
}

impl Secure {
    /// From the `STACK_SECURE_*` variables printed by `scripts/stack env`; panics (naming
    /// `scripts/stack up --secure`) when they are missing.
    pub fn from_env() -> Self {
        let s = Self {
            sasl_ssl_bootstrap: var("STACK_SECURE_SASL_SSL_BOOTSTRAP"),
            ssl_bootstrap: var("STACK_SECURE_SSL_BOOTSTRAP"),
            ca: var("STACK_SECURE_CA"),
            untrusted_ca: var("STACK_SECURE_UNTRUSTED_CA"),
            client_cert: var("STACK_SECURE_CLIENT_CERT"),
            client_key: var("STACK_SECURE_CLIENT_KEY"),
            client_key_password_file: var("STACK_SECURE_CLIENT_KEY_PASSWORD_FILE"),
            sasl_username: var("STACK_SECURE_SASL_USERNAME"),
            sasl_password_file: var("STACK_SECURE_SASL_PASSWORD_FILE"),
            registry_url: var("STACK_SECURE_REGISTRY_URL"),
            registry_username: var("STACK_SECURE_REGISTRY_USERNAME"),
            registry_password_file: var("STACK_SECURE_REGISTRY_PASSWORD_FILE"),
            registry_token_file: var("STACK_SECURE_REGISTRY_TOKEN_FILE"),
        };
        for file in [&s.ca, &s.sasl_password_file, &s.registry_token_file] {
            assert!(
                Path::new(file).is_file(),
                "{file} does not exist (a stale environment?): {NO_SECURE_HINT}"
            );
        }
        s
    }

    /// Every secret of the stack, to prove none leaks into the output.
    pub fn secrets(&self) -> Vec<String> {
        [
            &self.sasl_password_file,
            &self.registry_password_file,
            &self.registry_token_file,
            &self.client_key_password_file,
        ]
        .iter()
        .map(|f| read(f))
        .collect()
    }

    /// Environment of a SASL_SSL connection with `mechanism`, password from its file.
    pub fn sasl_env(&self, mechanism: &str) -> Vec<(String, String)> {
        env(&[
            ("KAFKA_SECURITY_PROTOCOL", "SASL_SSL"),
            ("KAFKA_SASL_MECHANISM", mechanism),
            ("KAFKA_SASL_USERNAME", &self.sasl_username),
            ("KAFKA_SASL_PASSWORD_FILE", &self.sasl_password_file),
            ("KAFKA_SSL_CA_LOCATION", &self.ca),
        ])
    }

    /// Environment of a mutual-TLS connection (encrypted client key, password from its file).
    pub fn mtls_env(&self) -> Vec<(String, String)> {
        env(&[
            ("KAFKA_SECURITY_PROTOCOL", "SSL"),
            ("KAFKA_SSL_CA_LOCATION", &self.ca),
            ("KAFKA_SSL_CERTIFICATE_LOCATION", &self.client_cert),
            ("KAFKA_SSL_KEY_LOCATION", &self.client_key),
            (
                "KAFKA_SSL_KEY_PASSWORD_FILE",
                &self.client_key_password_file,
            ),
        ])
    }

    /// Environment of the HTTPS registry with basic auth, password from its file.
    pub fn registry_basic_env(&self) -> Vec<(String, String)> {
        env(&[
            ("SCHEMA_REGISTRY_CA_LOCATION", &self.ca),
            ("SCHEMA_REGISTRY_USERNAME", &self.registry_username),
            (
                "SCHEMA_REGISTRY_PASSWORD_FILE",
                &self.registry_password_file,
            ),
        ])
    }

    /// Environment of the HTTPS registry with a bearer token from its file.
    pub fn registry_token_env(&self) -> Vec<(String, String)> {
        env(&[
            ("SCHEMA_REGISTRY_CA_LOCATION", &self.ca),
            ("SCHEMA_REGISTRY_TOKEN_FILE", &self.registry_token_file),
        ])
    }
}

pub fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// A secret file's content (without its line break).
pub fn read(path: &str) -> String {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("reading {path}: {e}: {NO_SECURE_HINT}"))
        .trim_end()
        .to_owned()
}

/// Waits for the process to exit (SIGKILLs it and panics with its log after `timeout`).
pub async fn wait_exit(worker: &mut Worker, timeout: Duration) -> ExitStatus {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(status) = worker.try_exit() {
            return status;
        }
        if Instant::now() >= deadline {
            worker.kill();
            panic!(
                "worker {} still running after {timeout:?} (a retry loop instead of failing \
                 fast?); log:\n{}",
                worker.spec.label,
                worker.log_tail(40)
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Panics when any of `secrets` occurs in `output`.
pub fn assert_no_secret(output: &str, secrets: &[String]) {
    for secret in secrets {
        assert!(
            !secret.is_empty() && !output.contains(secret.as_str()),
            "a secret appears in the output:\n{output}"
        );
    }
}
