//! Standard Webhooks signatures (<https://www.standardwebhooks.com/>), implemented once and
//! used by both directions: outbound deliveries are signed here, inbound requests verified here.
//!
//! - the secret is `whsec_<base64>`: the HMAC key is the base64-decoded part (a secret without
//!   the prefix is taken as base64 too; one that is not base64 is refused);
//! - the signed content is `{webhook-id}.{webhook-timestamp}.{body}`, the timestamp integer
//!   seconds since the epoch;
//! - `webhook-signature` is a space-separated list of `v1,<base64(HMAC-SHA256)>`; a request is
//!   authentic when any `v1` entry matches (other versions are ignored, so keys can rotate);
//! - a verifier refuses timestamps further than a tolerance (5 minutes by default) from its
//!   clock, in either direction, which bounds replays.
//!
//! Invariants: pure (no clock, no I/O: the caller passes `now`); signatures are compared in
//! constant time (`Mac::verify_slice`); the key never appears in `Debug` output or errors.

use std::fmt;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

/// Header names of the specification.
pub const WEBHOOK_ID: &str = "webhook-id";
pub const WEBHOOK_TIMESTAMP: &str = "webhook-timestamp";
pub const WEBHOOK_SIGNATURE: &str = "webhook-signature";
/// The specification's default tolerance, in seconds.
pub const DEFAULT_TOLERANCE_SECS: i64 = 5 * 60;

const PREFIX: &str = "whsec_";

/// A signing key, parsed from its `whsec_<base64>` form. `Debug` prints `[redacted]`.
#[derive(Clone, PartialEq, Eq)]
pub struct WebhookSecret(Vec<u8>);

impl fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("WebhookSecret([redacted])")
    }
}

/// Why a secret could not be used (never contains the secret).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretError {
    #[error("a webhook secret must be `whsec_` followed by base64")]
    NotBase64,
    #[error("a webhook secret must not be empty")]
    Empty,
}

impl WebhookSecret {
    /// Parses `whsec_<base64>` (or bare base64).
    pub fn parse(text: &str) -> Result<Self, SecretError> {
        let text = text.trim();
        let encoded = text.strip_prefix(PREFIX).unwrap_or(text);
        let key = STANDARD
            .decode(encoded)
            .map_err(|_| SecretError::NotBase64)?;
        if key.is_empty() {
            return Err(SecretError::Empty);
        }
        Ok(Self(key))
    }

    /// A secret from raw key bytes.
    pub fn from_key(key: Vec<u8>) -> Self {
        Self(key)
    }

    /// The `whsec_<base64>` form (to hand to the other organisation).
    pub fn to_whsec(&self) -> String {
        format!("{PREFIX}{}", STANDARD.encode(&self.0))
    }

    fn mac(&self, id: &str, timestamp: i64, body: &[u8]) -> Hmac<Sha256> {
        // HMAC accepts keys of any length: new_from_slice cannot fail for it.
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&self.0)
            .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
        mac.update(id.as_bytes());
        mac.update(b".");
        mac.update(timestamp.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        mac
    }

    /// The `webhook-signature` value: `v1,<base64(HMAC-SHA256(key, "{id}.{timestamp}.{body}"))>`.
    pub fn sign(&self, id: &str, timestamp: i64, body: &[u8]) -> String {
        let tag = self.mac(id, timestamp, body).finalize().into_bytes();
        format!("v1,{}", STANDARD.encode(tag))
    }

    /// Verifies the three headers' values against `body` at time `now` (seconds).
    pub fn verify(
        &self,
        headers: &SignedHeaders<'_>,
        body: &[u8],
        now: i64,
        tolerance_secs: i64,
    ) -> Result<(), VerifyError> {
        let id = headers
            .id
            .filter(|s| !s.is_empty())
            .ok_or(VerifyError::MissingHeader(WEBHOOK_ID))?;
        let raw_ts = headers
            .timestamp
            .ok_or(VerifyError::MissingHeader(WEBHOOK_TIMESTAMP))?;
        let signatures = headers
            .signature
            .ok_or(VerifyError::MissingHeader(WEBHOOK_SIGNATURE))?;
        let timestamp: i64 = raw_ts
            .trim()
            .parse()
            .map_err(|_| VerifyError::BadTimestamp)?;
        if (now - timestamp).abs() > tolerance_secs {
            return Err(VerifyError::OutsideTolerance);
        }
        let mac = self.mac(id, timestamp, body);
        for entry in signatures.split(' ') {
            let Some(("v1", encoded)) = entry.split_once(',') else {
                continue;
            };
            let Ok(tag) = STANDARD.decode(encoded) else {
                continue;
            };
            if mac.clone().verify_slice(&tag).is_ok() {
                return Ok(());
            }
        }
        Err(VerifyError::NoMatch)
    }
}

/// The three header values of a signed request, as received.
#[derive(Debug, Clone, Copy, Default)]
pub struct SignedHeaders<'a> {
    pub id: Option<&'a str>,
    pub timestamp: Option<&'a str>,
    pub signature: Option<&'a str>,
}

/// Why a request is not authentic. `reason()` is a stable label value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    #[error("missing header {0}")]
    MissingHeader(&'static str),
    #[error("webhook-timestamp is not an integer number of seconds")]
    BadTimestamp,
    #[error("webhook-timestamp is outside the tolerance")]
    OutsideTolerance,
    #[error("no v1 signature matches")]
    NoMatch,
}

impl VerifyError {
    /// A stable, low-cardinality label.
    pub fn reason(&self) -> &'static str {
        match self {
            VerifyError::MissingHeader(_) => "missing_header",
            VerifyError::BadTimestamp => "bad_timestamp",
            VerifyError::OutsideTolerance => "timestamp_outside_tolerance",
            VerifyError::NoMatch => "bad_signature",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // The test vector of the Standard Webhooks reference libraries (the same secret, id,
    // timestamp, payload and signature appear in many public implementations' tests);
    // independently cross-checked with Python's hmac/hashlib/base64.
    const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
    const TS: i64 = 1614265330;
    const BODY: &[u8] = br#"{"test": 2432232314}"#;
    const SIG: &str = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";

    fn headers<'a>(ts: &'a str, sig: &'a str) -> SignedHeaders<'a> {
        SignedHeaders {
            id: Some(ID),
            timestamp: Some(ts),
            signature: Some(sig),
        }
    }

    #[test]
    fn signs_the_specification_vector() {
        let secret = WebhookSecret::parse(SECRET).unwrap();
        assert_eq!(secret.sign(ID, TS, BODY), SIG);
        assert_eq!(secret.to_whsec(), SECRET);
    }

    #[test]
    fn verifies_within_the_tolerance_and_refuses_the_rest() {
        let secret = WebhookSecret::parse(SECRET).unwrap();
        let ts = TS.to_string();
        let ok = |h: SignedHeaders<'_>, body: &[u8], now| secret.verify(&h, body, now, 300);
        assert_eq!(ok(headers(&ts, SIG), BODY, TS), Ok(()));
        assert_eq!(ok(headers(&ts, SIG), BODY, TS + 300), Ok(()));
        assert_eq!(ok(headers(&ts, SIG), BODY, TS - 300), Ok(()));
        // Several signatures (key rotation): any matching v1 entry is enough.
        let rotated = format!("v2,abc v1,AAAA {SIG}");
        assert_eq!(ok(headers(&ts, &rotated), BODY, TS), Ok(()));
        assert_eq!(
            ok(headers(&ts, SIG), BODY, TS + 301),
            Err(VerifyError::OutsideTolerance)
        );
        assert_eq!(
            ok(headers(&ts, SIG), BODY, TS - 301),
            Err(VerifyError::OutsideTolerance)
        );
        assert_eq!(
            ok(headers(&ts, SIG), br#"{"test": 2432232315}"#, TS),
            Err(VerifyError::NoMatch)
        );
        let other_ts = (TS + 1).to_string();
        assert_eq!(
            ok(headers(&other_ts, SIG), BODY, TS),
            Err(VerifyError::NoMatch)
        );
        assert_eq!(
            ok(headers("soon", SIG), BODY, TS),
            Err(VerifyError::BadTimestamp)
        );
        assert_eq!(
            ok(headers(&ts, "v1,not base64!"), BODY, TS),
            Err(VerifyError::NoMatch)
        );
        let other = WebhookSecret::from_key(b"another key".to_vec());
        assert_eq!(
            other.verify(&headers(&ts, SIG), BODY, TS, 300),
            Err(VerifyError::NoMatch)
        );
        let missing = SignedHeaders {
            signature: None,
            ..headers(&ts, SIG)
        };
        assert_eq!(
            ok(missing, BODY, TS),
            Err(VerifyError::MissingHeader(WEBHOOK_SIGNATURE))
        );
    }

    #[test]
    fn secrets_are_parsed_and_never_printed() {
        assert_eq!(
            WebhookSecret::parse("whsec_%%%"),
            Err(SecretError::NotBase64)
        );
        assert_eq!(WebhookSecret::parse("whsec_"), Err(SecretError::Empty));
        let secret = WebhookSecret::parse(SECRET).unwrap();
        assert!(!format!("{secret:?}").contains("MfKQ"));
        // Bare base64 is the same key.
        assert_eq!(
            WebhookSecret::parse("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap(),
            secret
        );
    }
}
