//! The `[webhooks]` table of the config file: outbound subscriptions of other organisations,
//! inbound sources, and the delivery policy. Webhook settings come from the file only (a list
//! of tables does not fit a flag); secrets may live in files of their own (`secret_file`).
//!
//! ```toml
//! [webhooks]
//! max_attempts = 8            # HTTP attempts at one event before the subscriber is parked
//! backoff_initial_ms = 500    # exponential backoff with jitter…
//! backoff_max_ms = 60000      # …capped here
//! request_timeout_ms = 10000
//! tolerance_secs = 300        # inbound: accepted distance of webhook-timestamp from now
//!
//! [[webhooks.subscriptions]]
//! name = "acme"                                  # [A-Za-z0-9_-]+, unique
//! url = "https://hooks.acme.example/allocation"
//! event_types = ["Allocated", "Deallocated"]     # short or full names; empty or "*" = all
//! secret_file = "/etc/allocation-worker/acme.whsec"   # or secret = "whsec_…"
//! cloudevents = true
//!
//! [[webhooks.sources]]
//! name = "shop"                                  # POST /webhooks/shop
//! secret = "whsec_…"
//! ```
//!
//! Invariants: every secret is parsed into a [`WebhookSecret`] (redacted `Debug`) and never
//! appears in an error; names are unique and safe as consumer-group suffixes and metric labels.

use std::path::PathBuf;
use std::time::Duration;

use super::{Secret, SettingsError};
use crate::adapters::contracts::RecordType;
use crate::adapters::webhooks::payload::parse_event_type;
use crate::adapters::webhooks::WebhookSecret;

/// The `[webhooks]` table as written.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhooksFile {
    #[serde(default)]
    pub subscriptions: Vec<SubscriptionFile>,
    #[serde(default)]
    pub sources: Vec<SourceFile>,
    pub max_attempts: Option<u32>,
    pub backoff_initial_ms: Option<u64>,
    pub backoff_max_ms: Option<u64>,
    pub request_timeout_ms: Option<u64>,
    pub tolerance_secs: Option<i64>,
}

/// One `[[webhooks.subscriptions]]` entry as written.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubscriptionFile {
    pub name: String,
    pub url: String,
    #[serde(default)]
    pub event_types: Vec<String>,
    pub secret: Option<Secret>,
    pub secret_file: Option<PathBuf>,
    #[serde(default)]
    pub cloudevents: bool,
}

/// One `[[webhooks.sources]]` entry as written.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceFile {
    pub name: String,
    pub secret: Option<Secret>,
    pub secret_file: Option<PathBuf>,
}

/// An outbound subscription, validated.
#[derive(Debug, Clone)]
pub struct Subscription {
    pub name: String,
    pub url: String,
    /// Empty: every event of this context.
    pub event_types: Vec<RecordType>,
    pub secret: WebhookSecret,
    pub cloudevents: bool,
}

/// An inbound source, validated.
#[derive(Debug, Clone)]
pub struct Source {
    pub name: String,
    pub secret: WebhookSecret,
}

/// Retry policy of outbound deliveries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeliveryPolicy {
    pub max_attempts: u32,
    pub backoff_initial: Duration,
    pub backoff_max: Duration,
    pub request_timeout: Duration,
}

/// Everything about webhooks, validated.
#[derive(Debug, Clone)]
pub struct WebhookSettings {
    pub subscriptions: Vec<Subscription>,
    pub sources: Vec<Source>,
    pub policy: DeliveryPolicy,
    pub tolerance_secs: i64,
}

fn invalid(message: String) -> SettingsError {
    SettingsError::Invalid {
        what: "webhooks configuration",
        message,
    }
}

fn check_name(kind: &str, name: &str, seen: &mut Vec<String>) -> Result<(), SettingsError> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if !ok {
        return Err(invalid(format!(
            "{kind} name `{}` must be 1–64 of [A-Za-z0-9_-]",
            name.chars().take(64).collect::<String>()
        )));
    }
    if seen.iter().any(|s| s == name) {
        return Err(invalid(format!("{kind} name `{name}` is used twice")));
    }
    seen.push(name.to_owned());
    Ok(())
}

fn secret(
    kind: &str,
    name: &str,
    inline: &Option<Secret>,
    file: &Option<PathBuf>,
) -> Result<WebhookSecret, SettingsError> {
    let text = match (inline, file) {
        (Some(s), None) => s.expose().to_owned(),
        (None, Some(path)) => std::fs::read_to_string(path).map_err(|e| {
            invalid(format!(
                "{kind} `{name}`: cannot read secret_file {}: {e}",
                path.display()
            ))
        })?,
        _ => {
            return Err(invalid(format!(
                "{kind} `{name}`: give exactly one of `secret` and `secret_file`"
            )))
        }
    };
    WebhookSecret::parse(&text).map_err(|e| invalid(format!("{kind} `{name}`: {e}")))
}

impl WebhooksFile {
    /// Validates the table (an absent table is `WebhooksFile::default()`: nothing configured).
    pub fn resolve(&self) -> Result<WebhookSettings, SettingsError> {
        let mut seen = Vec::new();
        let mut subscriptions = Vec::new();
        for s in &self.subscriptions {
            check_name("subscription", &s.name, &mut seen)?;
            if !(s.url.starts_with("http://") || s.url.starts_with("https://")) {
                return Err(invalid(format!(
                    "subscription `{}`: url must be http(s)",
                    s.name
                )));
            }
            let mut event_types = Vec::new();
            for t in &s.event_types {
                match parse_event_type(t)
                    .map_err(|e| invalid(format!("subscription `{}`: {e}", s.name)))?
                {
                    Some(t) => event_types.push(t),
                    None => {
                        event_types.clear();
                        break;
                    }
                }
            }
            subscriptions.push(Subscription {
                name: s.name.clone(),
                url: s.url.clone(),
                event_types,
                secret: secret("subscription", &s.name, &s.secret, &s.secret_file)?,
                cloudevents: s.cloudevents,
            });
        }
        let mut seen = Vec::new();
        let mut sources = Vec::new();
        for s in &self.sources {
            check_name("source", &s.name, &mut seen)?;
            sources.push(Source {
                name: s.name.clone(),
                secret: secret("source", &s.name, &s.secret, &s.secret_file)?,
            });
        }
        let policy = DeliveryPolicy {
            max_attempts: self.max_attempts.unwrap_or(8),
            backoff_initial: Duration::from_millis(self.backoff_initial_ms.unwrap_or(500)),
            backoff_max: Duration::from_millis(self.backoff_max_ms.unwrap_or(60_000)),
            request_timeout: Duration::from_millis(self.request_timeout_ms.unwrap_or(10_000)),
        };
        if policy.max_attempts == 0
            || policy.backoff_initial.is_zero()
            || policy.backoff_max < policy.backoff_initial
            || policy.request_timeout.is_zero()
        {
            return Err(invalid(
                "max_attempts, backoff_initial_ms and request_timeout_ms must be positive, \
                 backoff_max_ms at least backoff_initial_ms"
                    .into(),
            ));
        }
        let tolerance_secs = self.tolerance_secs.unwrap_or(300);
        if tolerance_secs <= 0 {
            return Err(invalid("tolerance_secs must be positive".into()));
        }
        Ok(WebhookSettings {
            subscriptions,
            sources,
            policy,
            tolerance_secs,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::ConfigFile;

    const KEY: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

    #[test]
    fn subscriptions_and_sources_are_validated_and_secrets_stay_hidden() {
        let text = format!(
            r#"
            [webhooks]
            max_attempts = 3
            [[webhooks.subscriptions]]
            name = "acme"
            url = "https://hooks.example/a"
            event_types = ["Allocated", "allocation.events.OutOfStock"]
            secret = "{KEY}"
            cloudevents = true
            [[webhooks.subscriptions]]
            name = "all"
            url = "http://127.0.0.1:9/x"
            event_types = ["*"]
            secret = "{KEY}"
            [[webhooks.sources]]
            name = "shop"
            secret = "{KEY}"
            "#
        );
        let file = ConfigFile::parse(&text).unwrap();
        let settings = file.webhooks.unwrap().resolve().unwrap();
        assert_eq!(settings.subscriptions.len(), 2);
        assert_eq!(settings.subscriptions[0].event_types.len(), 2);
        assert!(settings.subscriptions[0].cloudevents);
        assert!(settings.subscriptions[1].event_types.is_empty());
        assert_eq!(settings.policy.max_attempts, 3);
        assert_eq!(settings.sources[0].name, "shop");
        assert!(!format!("{settings:?}").contains("MfKQ"));
    }

    #[test]
    fn mistakes_are_configuration_errors_without_the_secret() {
        let cases = [
            format!("[[webhooks.subscriptions]]\nname='a b'\nurl='http://x'\nsecret='{KEY}'"),
            format!("[[webhooks.subscriptions]]\nname='a'\nurl='ftp://x'\nsecret='{KEY}'"),
            format!("[[webhooks.subscriptions]]\nname='a'\nurl='http://x'\nsecret='{KEY}'\nevent_types=['Allocate']"),
            "[[webhooks.subscriptions]]\nname='a'\nurl='http://x'".to_owned(),
            "[[webhooks.sources]]\nname='s'\nsecret='whsec_not*base64'".to_owned(),
            format!("[[webhooks.sources]]\nname='s'\nsecret='{KEY}'\n[[webhooks.sources]]\nname='s'\nsecret='{KEY}'"),
            format!("[webhooks]\nmax_attempts=0\n[[webhooks.sources]]\nname='s'\nsecret='{KEY}'"),
        ];
        for text in cases {
            let file = ConfigFile::parse(&text).unwrap();
            let error = file.webhooks.unwrap().resolve().unwrap_err().to_string();
            assert!(!error.contains("MfKQ"), "{error}");
            assert!(error.contains("webhooks"), "{error}");
        }
        assert!(ConfigFile::parse("[webhooks]\nmax_attemps = 3").is_err());
    }
}
