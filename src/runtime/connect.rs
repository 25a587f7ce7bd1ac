//! Start-up connection check: before a verb starts its real clients, one short-lived client
//! connects with the user's settings and either reads the cluster metadata or fails fast.
//!
//! librdkafka retries a failed SASL authentication or TLS handshake for ever, reporting each
//! attempt through the client context's error and log callbacks; left alone, a wrong password
//! is a stream of identical log lines and a process that never exits. [`preflight`] instead
//! captures those callbacks (printing none of them), and returns at the first
//! authentication or TLS failure with one [`ConnectError`] whose message names the failure
//! (librdkafka's description: it carries the broker address and mechanism, never a
//! credential). [`QuietContext`] is the same silence for clients built only to validate a
//! configuration.
//!
//! An unreachable cluster (connections failing for another reason for [`GRACE`], or no answer
//! within the timeout) is reported as [`ConnectError::Unreachable`]; the verbs then carry on as
//! they would without the check (e.g. `serve` answers 503 until Kafka is back). A refused login
//! or handshake shows on the first connection, well within the grace period.
//!
//! Invariants: authentication and TLS failures are [`ErrorClass::Fatal`] and configuration
//! problems (exit code 2); nothing here logs a property value.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::runtime::scope::{ClientKind, ForClient};
use rdkafka::client::ClientContext;
use rdkafka::config::{ClientConfig, RDKafkaLogLevel};
use rdkafka::consumer::ConsumerContext;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{BaseProducer, Producer, ProducerContext};
use rdkafka::util::Timeout;

use super::errors::ErrorClass;

/// Why the start-up connection check failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConnectError {
    /// The broker refused the SASL credentials (or the mechanism).
    #[error(
        "Kafka authentication failed: {0} (check security.protocol, sasl.mechanism, the user \
         and the password)"
    )]
    Authentication(String),
    /// The TLS handshake failed (untrusted broker certificate, missing or refused client
    /// certificate, protocol mismatch).
    #[error(
        "TLS connection to Kafka failed: {0} (check ssl.ca.location and, for mutual TLS, \
         ssl.certificate.location / ssl.key.location)"
    )]
    Tls(String),
    /// No broker answered within the timeout.
    #[error("no Kafka broker reachable (after {waited:?}): {detail}")]
    Unreachable { waited: Duration, detail: String },
    /// librdkafka refused to create the client (a configuration error).
    #[error("cannot create the Kafka client: {0}")]
    Client(String),
}

impl ConnectError {
    /// Every connection failure stops the verb.
    pub fn class(&self) -> ErrorClass {
        ErrorClass::Fatal
    }

    /// True when the settings are wrong (exit code 2), false when the cluster is unreachable.
    pub fn is_configuration(&self) -> bool {
        !matches!(self, ConnectError::Unreachable { .. })
    }
}

/// What a librdkafka error callback reports, sorted for [`preflight`].
fn sort(code: RDKafkaErrorCode, reason: &str) -> Option<ConnectError> {
    let lower = reason.to_ascii_lowercase();
    match code {
        RDKafkaErrorCode::Authentication | RDKafkaErrorCode::SaslAuthenticationFailed => {
            Some(ConnectError::Authentication(reason.to_owned()))
        }
        RDKafkaErrorCode::SSL => Some(ConnectError::Tls(reason.to_owned())),
        // A refused client certificate arrives as a TLS alert on a broken connection.
        // (Phrases of librdkafka / OpenSSL, never the broker's address, which may read
        // `sasl_ssl://…` on any failure.)
        _ if ["ssl handshake", "ssl routines", "certificate verify"]
            .iter()
            .any(|w| lower.contains(w)) =>
        {
            Some(ConnectError::Tls(reason.to_owned()))
        }
        _ if lower.contains("sasl authentication") => {
            Some(ConnectError::Authentication(reason.to_owned()))
        }
        _ => None,
    }
}

/// A client context that prints nothing and remembers the first authentication or TLS
/// failure (and the last other error, for the "unreachable" message).
#[derive(Default)]
pub struct QuietContext {
    fatal: Mutex<Option<ConnectError>>,
    last: Mutex<Option<String>>,
    /// When the first error other than an authentication or TLS failure arrived.
    failing_since: Mutex<Option<Instant>>,
}

impl QuietContext {
    fn fatal(&self) -> Option<ConnectError> {
        self.fatal.lock().ok().and_then(|f| f.clone())
    }

    fn last(&self) -> Option<String> {
        self.last.lock().ok().and_then(|l| l.clone())
    }

    fn failing_for(&self) -> Duration {
        self.failing_since
            .lock()
            .ok()
            .and_then(|f| f.map(|t| t.elapsed()))
            .unwrap_or_default()
    }
}

impl ClientContext for QuietContext {
    fn log(&self, level: RDKafkaLogLevel, fac: &str, message: &str) {
        // Only at debug level: the error callback below carries what matters.
        use RDKafkaLogLevel as L;
        if matches!(
            level,
            L::Emerg | L::Alert | L::Critical | L::Error | L::Warning
        ) {
            tracing::debug!(target: "librdkafka", "{fac} {message}");
        }
    }

    fn error(&self, error: KafkaError, reason: &str) {
        tracing::debug!(target: "librdkafka", error = %error, "{reason}");
        let code = error.rdkafka_error_code();
        if let Some(found) = code.and_then(|c| sort(c, reason)) {
            if let Ok(mut fatal) = self.fatal.lock() {
                fatal.get_or_insert(found);
            }
        } else {
            if let Ok(mut since) = self.failing_since.lock() {
                since.get_or_insert_with(Instant::now);
            }
            if let Ok(mut last) = self.last.lock() {
                *last = Some(reason.to_owned());
            }
        }
    }
}

impl ConsumerContext for QuietContext {}

impl ProducerContext for QuietContext {
    type DeliveryOpaque = ();
    fn delivery(&self, _: &rdkafka::message::DeliveryResult<'_>, _: Self::DeliveryOpaque) {}
}

/// How long connections may fail for other reasons (refused, unresolvable host) before the
/// cluster counts as unreachable.
pub const GRACE: Duration = Duration::from_secs(2);

/// Connects with `config` (bootstrap servers and the pass-through security properties) and
/// reads the cluster metadata: `Ok` once that worked, the first authentication or TLS failure
/// as soon as librdkafka reports it, [`ConnectError::Unreachable`] when connections kept failing
/// for another reason for [`GRACE`], or after `timeout`.
pub fn preflight(config: &ClientConfig, timeout: Duration) -> Result<(), ConnectError> {
    let client: BaseProducer<QuietContext> = config
        .for_client(ClientKind::Producer)
        .create_with_context(QuietContext::default())
        .map_err(|e| ConnectError::Client(describe(&e)))?;
    let started = Instant::now();
    let step = Duration::from_millis(250);
    loop {
        client.poll(Duration::ZERO);
        if let Some(fatal) = client.context().fatal() {
            return Err(fatal);
        }
        let result = client
            .client()
            .fetch_metadata(None, Timeout::After(step.min(timeout)));
        client.poll(Duration::ZERO);
        if let Some(fatal) = client.context().fatal() {
            return Err(fatal);
        }
        let down = client.context().failing_for() >= GRACE;
        match result {
            Ok(_) => return Ok(()),
            Err(e) if down || started.elapsed() >= timeout => {
                let detail = client.context().last().unwrap_or_else(|| e.to_string());
                return Err(ConnectError::Unreachable {
                    waited: started.elapsed(),
                    detail,
                });
            }
            Err(_) => {}
        }
    }
}

/// A client-creation error without property values (librdkafka's config errors can echo them).
fn describe(e: &KafkaError) -> String {
    match e {
        KafkaError::ClientConfig(_, _, key, _) => {
            format!("librdkafka refused the property `{key}`")
        }
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sasl_and_tls_failures_are_sorted_from_the_error_callback() {
        let auth = sort(
            RDKafkaErrorCode::Authentication,
            "sasl_ssl://b:9093/bootstrap: SASL authentication error: Authentication failed",
        );
        assert!(matches!(auth, Some(ConnectError::Authentication(_))));
        let tls = sort(
            RDKafkaErrorCode::SSL,
            "ssl://b:9093/bootstrap: SSL handshake failed: certificate verify failed",
        );
        assert!(matches!(tls, Some(ConnectError::Tls(_))));
        let tls = sort(
            RDKafkaErrorCode::BrokerTransportFailure,
            "ssl://b:9093/bootstrap: SSL handshake failed: alert certificate required",
        );
        assert!(matches!(tls, Some(ConnectError::Tls(_))));
        let no_client_cert = sort(
            RDKafkaErrorCode::BrokerTransportFailure,
            "ssl://b:9093/bootstrap: Receive failed: error:0A000412:SSL routines::sslv3 alert \
             bad certificate: SSL alert number 42 (after 0ms in state APIVERSION_QUERY)",
        );
        assert!(matches!(no_client_cert, Some(ConnectError::Tls(_))));
        assert_eq!(
            sort(
                RDKafkaErrorCode::BrokerTransportFailure,
                "b:9092/bootstrap: Connect to ipv4#127.0.0.1:9092 failed: Connection refused"
            ),
            None
        );
        assert_eq!(
            sort(RDKafkaErrorCode::AllBrokersDown, "1/1 brokers down"),
            None
        );
        // The broker's address says sasl_ssl:// on every failure: not an authentication one.
        assert_eq!(
            sort(
                RDKafkaErrorCode::BrokerTransportFailure,
                "sasl_ssl://alerts:9093/bootstrap: Connect to ipv4#127.0.0.1:9093 failed: \
                 Connection refused (after 0ms in state CONNECT)"
            ),
            None
        );
    }

    #[test]
    fn authentication_and_tls_are_configuration_errors_and_fatal() {
        let auth = ConnectError::Authentication("x".into());
        assert!(auth.is_configuration());
        assert_eq!(auth.class(), ErrorClass::Fatal);
        assert!(ConnectError::Tls("x".into()).is_configuration());
        let down = ConnectError::Unreachable {
            waited: Duration::from_secs(1),
            detail: "refused".into(),
        };
        assert!(!down.is_configuration());
        assert_eq!(down.class(), ErrorClass::Fatal);
    }

    #[test]
    fn librdkafka_is_built_with_tls_and_the_sasl_mechanisms_managed_kafka_needs() {
        let features = ClientConfig::new()
            .create_native_config()
            .and_then(|c| c.get("builtin.features"))
            .expect("builtin.features");
        let features: Vec<&str> = features.split(',').collect();
        // sasl_gssapi: rdkafka's `sasl` feature (Cyrus SASL, for Kerberos).
        for needed in [
            "ssl",
            "sasl_plain",
            "sasl_scram",
            "sasl_oauthbearer",
            "sasl_gssapi",
        ] {
            assert!(features.contains(&needed), "{needed} missing: {features:?}");
        }
    }
}
