//! Tests of the registry client: credentials and CA settings, backoff, failure classes.

use super::*;

#[test]
fn credentials_never_appear_in_debug() {
    let mut config = RegistryConfig::new("http://registry:8081");
    config.basic_auth = Some(("svc".into(), "hunter2".into()));
    let shown = format!("{config:?}");
    assert!(!shown.contains("hunter2"), "{shown}");
    assert!(shown.contains("svc"));
    let client = RegistryClient::new(&config).expect("client");
    assert!(!format!("{client:?}").contains("hunter2"));
    config.basic_auth = None;
    config.bearer_token = Some("tok3n-s3cret".into());
    let shown = format!("{config:?}");
    assert!(!shown.contains("tok3n-s3cret"), "{shown}");
}

#[test]
fn a_missing_or_empty_ca_file_is_a_configuration_error() {
    let mut config = RegistryConfig::new("https://registry:8081");
    config.ca_location = Some("/nonexistent/ca.pem".into());
    let err = RegistryClient::new(&config).expect_err("missing CA file");
    assert!(matches!(err, RegistryError::Config(_)), "{err}");
    assert!(err.to_string().contains("/nonexistent/ca.pem"), "{err}");
    let empty = std::env::temp_dir().join(format!("empty-ca-{}.pem", std::process::id()));
    std::fs::write(&empty, "not a certificate\n").expect("write");
    config.ca_location = Some(empty.clone());
    let err = RegistryClient::new(&config).expect_err("no certificate");
    let _ = std::fs::remove_file(&empty);
    assert!(matches!(err, RegistryError::Config(_)), "{err}");
}

#[test]
fn backoff_doubles_up_to_the_cap() {
    let p = RetryPolicy {
        max_attempts: 10,
        initial_backoff: Duration::from_millis(100),
        max_backoff: Duration::from_millis(350),
    };
    assert_eq!(p.backoff(1), Duration::from_millis(100));
    assert_eq!(p.backoff(2), Duration::from_millis(200));
    assert_eq!(p.backoff(3), Duration::from_millis(350));
    assert_eq!(p.backoff(60), Duration::from_millis(350));
}

#[test]
fn registry_failures_are_classified_by_status() {
    let status = |s: &str| {
        SRCError::new(
            &format!("HTTP request to schema registry failed with status {s}"),
            None,
            false,
        )
    };
    assert_eq!(classify(&status("404 Not Found")), Failure::NotFound);
    assert_eq!(classify(&status("409 Conflict")), Failure::Conflict);
    assert_eq!(
        classify(&status("500 Internal Server Error")),
        Failure::Transient
    );
    assert_eq!(classify(&status("504 Gateway Timeout")), Failure::Transient);
    assert_eq!(classify(&status("401 Unauthorized")), Failure::Unauthorized);
    assert_eq!(classify(&status("403 Forbidden")), Failure::Unauthorized);
    assert_eq!(classify(&status("400 Bad Request")), Failure::Other);
    let connection = SRCError::new("http call to schema registry failed", None, true);
    assert_eq!(classify(&connection), Failure::Transient);
}
