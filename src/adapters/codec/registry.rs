//! The schema-registry client of the codec, over `schema_registry_converter`'s async API:
//! subject → id resolution for writing (auto-register, or require that the schema exists) and
//! id → writer schema lookup for reading, both cached, with bounded retries and exponential
//! backoff on transient failures (connection errors, 5xx, 408/429).
//!
//! Authentication: basic auth or a bearer token (never both), over https with the system's
//! roots plus an optional CA file. A 401/403 answer is [`RegistryError::Unauthorized`]: never
//! retried, a configuration problem.
//!
//! Invariants:
//! - subjects follow TopicRecordNameStrategy: `<topic>-<record full name>`;
//! - a successful lookup is cached for the life of the client (ids are immutable);
//! - a failure is never cached: `AvroDecoder::remove_errors_from_cache()` runs after every
//!   failed attempt, so an outage heals by itself once the registry answers again.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use schema_registry_converter::async_impl::avro::AvroDecoder;
use schema_registry_converter::async_impl::schema_registry::{
    perform_sr_call, post_schema, SrSettings,
};
use schema_registry_converter::avro_common::AvroSchema;
use schema_registry_converter::error::SRCError;
use schema_registry_converter::schema_registry_common::{SchemaType, SrCall, SuppliedSchema};

use super::error::RegistryError;
use crate::adapters::contracts::RecordType;
use crate::adapters::topics::subject_name;

/// What to do when this worker's schema is not yet under its subject.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Registration {
    /// Register it (the registry's compatibility rule decides whether it is accepted).
    #[default]
    AutoRegister,
    /// Require that an identical schema is already registered (schemas deployed by CI).
    RequireExisting,
}

/// Bounded retries with exponential backoff.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in total (≥ 1).
    pub max_attempts: u32,
    pub initial_backoff: Duration,
    pub max_backoff: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 5,
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(2),
        }
    }
}

impl RetryPolicy {
    /// The pause after failed attempt `attempt` (1-based).
    pub fn backoff(&self, attempt: u32) -> Duration {
        let factor = 2u32.saturating_pow(attempt.saturating_sub(1));
        self.initial_backoff
            .saturating_mul(factor)
            .min(self.max_backoff)
    }
}

/// How to reach the registry.
#[derive(Clone, PartialEq, Eq)]
pub struct RegistryConfig {
    /// Base URL of the Confluent-compatible API (e.g. `http://host:8081` or Apicurio's
    /// `http://host:8080/apis/ccompat/v7`).
    pub url: String,
    pub registration: Registration,
    pub retry: RetryPolicy,
    /// Timeout of one HTTP request.
    pub request_timeout: Duration,
    /// Basic auth (user, password); never logged.
    pub basic_auth: Option<(String, String)>,
    /// Bearer token (`Authorization: Bearer …`); never logged.
    pub bearer_token: Option<String>,
    /// PEM file of CA certificates trusted besides the system's (https registries).
    pub ca_location: Option<std::path::PathBuf>,
}

impl RegistryConfig {
    /// Defaults for `url`: auto-register, 5 attempts, 5 s per request.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            registration: Registration::default(),
            retry: RetryPolicy::default(),
            request_timeout: Duration::from_secs(5),
            basic_auth: None,
            bearer_token: None,
            ca_location: None,
        }
    }
}

impl std::fmt::Debug for RegistryConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegistryConfig")
            .field("url", &self.url)
            .field("registration", &self.registration)
            .field("retry", &self.retry)
            .field("request_timeout", &self.request_timeout)
            .field(
                "basic_auth",
                &self
                    .basic_auth
                    .as_ref()
                    .map(|(user, _)| (user, "[redacted]")),
            )
            .field(
                "bearer_token",
                &self.bearer_token.as_ref().map(|_| "[redacted]"),
            )
            .field("ca_location", &self.ca_location)
            .finish()
    }
}

/// How a registry failure should be handled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Failure {
    Transient,
    NotFound,
    Conflict,
    Unauthorized,
    Other,
}

/// The HTTP status in a `schema_registry_converter` error message, if any.
fn http_status(e: &SRCError) -> Option<u16> {
    let rest = e.error.split("status ").nth(1)?;
    rest.get(..3)?.parse().ok()
}

fn classify(e: &SRCError) -> Failure {
    match http_status(e) {
        Some(404) => Failure::NotFound,
        Some(409 | 422) => Failure::Conflict,
        Some(401 | 403) => Failure::Unauthorized,
        Some(408 | 429) => Failure::Transient,
        Some(s) if s >= 500 => Failure::Transient,
        Some(_) => Failure::Other,
        None if e.retriable => Failure::Transient,
        None => Failure::Other,
    }
}

fn describe(e: &SRCError) -> String {
    match &e.cause {
        Some(cause) => format!("{}: {cause}", e.error),
        None => e.error.clone(),
    }
}

/// The registry client (cheap to share behind an `Arc`). Its `Debug` shows no settings: they
/// carry the registry credentials.
pub struct RegistryClient {
    settings: SrSettings,
    decoder: AvroDecoder,
    /// Schema ids by record type (its place in [`RecordType::ALL`]), then topic (a record type
    /// goes to one or two topics: a short list). Looked up for every record written, without
    /// building the subject name or hashing the topic.
    ids: RwLock<Vec<Vec<(String, u32)>>>,
    registration: Registration,
    retry: RetryPolicy,
}

impl std::fmt::Debug for RegistryClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegistryClient")
            .field("registration", &self.registration)
            .field("retry", &self.retry)
            .finish_non_exhaustive()
    }
}

impl RegistryClient {
    /// Builds the HTTP client; no request is made yet.
    pub fn new(config: &RegistryConfig) -> Result<Self, RegistryError> {
        let mut builder = SrSettings::new_builder(config.url.trim_end_matches('/').to_owned());
        builder.set_timeout(config.request_timeout);
        if let Some((user, password)) = &config.basic_auth {
            builder.set_basic_authorization(user, Some(password));
        }
        if let Some(token) = &config.bearer_token {
            builder.set_token_authorization(token);
        }
        let mut client = reqwest::Client::builder();
        if let Some(path) = &config.ca_location {
            client = client.tls_certs_merge(read_ca(path)?);
        }
        let settings = builder
            .build_with(client)
            .map_err(|e| RegistryError::Config(describe(&e)))?;
        Ok(Self {
            decoder: AvroDecoder::new(settings.clone()),
            settings,
            ids: RwLock::new(vec![Vec::new(); RecordType::ALL.len()]),
            registration: config.registration,
            retry: RetryPolicy {
                max_attempts: config.retry.max_attempts.max(1),
                ..config.retry
            },
        })
    }

    /// Runs `op` until it succeeds, fails non-transiently, or attempts run out.
    async fn with_retries<T, F, Fut>(&self, mut op: F) -> Result<T, (Failure, SRCError, u32)>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T, SRCError>>,
    {
        let mut attempt = 1;
        loop {
            match op().await {
                Ok(v) => return Ok(v),
                Err(e) => {
                    // Failures must not stick: the next call asks the registry again.
                    self.decoder.remove_errors_from_cache();
                    let failure = classify(&e);
                    if failure != Failure::Transient || attempt >= self.retry.max_attempts {
                        return Err((failure, e, attempt));
                    }
                    tracing::debug!(attempt, error = %describe(&e), "schema registry: retrying");
                    tokio::time::sleep(self.retry.backoff(attempt)).await;
                    attempt += 1;
                }
            }
        }
    }

    /// The id to write `record` on `topic` with, registering or checking the schema the first
    /// time (per the [`Registration`] mode).
    pub async fn schema_id(&self, topic: &str, record: RecordType) -> Result<u32, RegistryError> {
        if let Some(id) = self.cached_id(topic, record) {
            return Ok(id);
        }
        let subject = subject_name(topic, record);
        let text = record.schema_text().trim();
        let result = match self.registration {
            Registration::AutoRegister => {
                self.with_retries(|| {
                    let schema = SuppliedSchema::new(
                        Some(record.full_name().to_owned()),
                        SchemaType::Avro,
                        text.to_owned(),
                    );
                    let subject = subject.clone();
                    async move {
                        post_schema(&self.settings, subject, schema)
                            .await
                            .map(|r| r.id)
                    }
                })
                .await
            }
            Registration::RequireExisting => {
                let body = serde_json::json!({ "schema": text, "schemaType": "AVRO" }).to_string();
                self.with_retries(|| async {
                    let raw =
                        perform_sr_call(&self.settings, SrCall::PostForVersion(&subject, &body))
                            .await?;
                    raw.id.ok_or_else(|| {
                        SRCError::non_retryable_without_cause("lookup response carries no id")
                    })
                })
                .await
            }
        };
        let id = result.map_err(|(failure, e, attempts)| match failure {
            Failure::Transient => RegistryError::Unavailable {
                attempts,
                detail: describe(&e),
            },
            Failure::NotFound => RegistryError::NotRegistered {
                subject: subject.clone(),
            },
            Failure::Conflict => RegistryError::Incompatible {
                subject: subject.clone(),
                detail: describe(&e),
            },
            Failure::Unauthorized => RegistryError::Unauthorized {
                detail: describe(&e),
            },
            Failure::Other => RegistryError::Refused {
                detail: describe(&e),
            },
        })?;
        if let Ok(mut ids) = self.ids.write() {
            if let Some(topics) = ids.get_mut(record as usize) {
                match topics.iter_mut().find(|(t, _)| t == topic) {
                    Some((_, cached)) => *cached = id,
                    None => topics.push((topic.to_owned(), id)),
                }
            }
        }
        Ok(id)
    }

    fn cached_id(&self, topic: &str, record: RecordType) -> Option<u32> {
        let ids = self.ids.read().ok()?;
        let topics = ids.get(record as usize)?;
        topics.iter().find(|(t, _)| t == topic).map(|(_, id)| *id)
    }

    /// The writer schema registered under `id` (cached by the converter's decoder).
    pub async fn writer_schema(&self, id: u32) -> Result<Arc<AvroSchema>, RegistryError> {
        self.with_retries(|| self.decoder.get_schema(id))
            .await
            .map_err(|(failure, e, attempts)| match failure {
                Failure::NotFound => RegistryError::SchemaNotFound { id },
                Failure::Unauthorized => RegistryError::Unauthorized {
                    detail: describe(&e),
                },
                Failure::Transient => RegistryError::Unavailable {
                    attempts,
                    detail: describe(&e),
                },
                _ if e.error.contains("is not correct") || e.error.contains("not supported") => {
                    RegistryError::NotAvro { id }
                }
                _ => RegistryError::Refused {
                    detail: describe(&e),
                },
            })
    }
}

/// The certificates of a PEM file (one or several).
fn read_ca(path: &std::path::Path) -> Result<Vec<reqwest::Certificate>, RegistryError> {
    let unreadable = |e: &dyn std::fmt::Display| {
        RegistryError::Config(format!(
            "cannot use the registry CA file `{}`: {e}",
            path.display()
        ))
    };
    let pem = std::fs::read(path).map_err(|e| unreadable(&e))?;
    let certs = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| unreadable(&e))?;
    if certs.is_empty() {
        return Err(unreadable(&"no PEM certificate in it"));
    }
    Ok(certs)
}

#[cfg(test)]
#[path = "registry_tests.rs"]
mod tests;
