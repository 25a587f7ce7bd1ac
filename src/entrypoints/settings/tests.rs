//! Tests of the layered configuration: defaults, config file, environment and flags, and the
//! one-line errors (exit code 2) for invalid settings.

use super::*;

fn args() -> ConnectionArgs {
    ConnectionArgs::default()
}

#[test]
fn secrets_are_redacted() {
    let s = Secret::new("hunter2");
    assert_eq!(format!("{s:?} {s}"), "[redacted] [redacted]");
    assert_eq!(s.expose(), "hunter2");
}

#[test]
fn flags_beat_the_file_and_the_file_beats_defaults() {
    let file = ConfigFile::parse(
        "bootstrap_servers = \"file:9092\"\ntopic_prefix = \"f.\"\nschema_registry_url = \"http://r\"\n",
    )
    .unwrap();
    let mut a = args();
    let c = a.resolve(&file).unwrap();
    assert_eq!(c.bootstrap_servers, "file:9092");
    assert_eq!(c.topics.commands, "f.allocation.commands");
    a.bootstrap_servers = Some("flag:9092".into());
    a.topic_prefix = Some(String::new());
    let c = a.resolve(&file).unwrap();
    assert_eq!(c.bootstrap_servers, "flag:9092");
    assert_eq!(c.topics.commands, "allocation.commands");
    assert!(a.resolve(&ConfigFile::default()).is_ok());
    assert!(matches!(
        args().resolve(&ConfigFile::default()),
        Err(SettingsError::Missing { .. })
    ));
}

#[test]
fn properties_layer_file_then_env_list_then_flags_and_sasl_maps() {
    let file = ConfigFile::parse(
        "[kafka_properties]\n\"security.protocol\" = \"SSL\"\n\"linger.ms\" = \"1\"\n",
    )
    .unwrap();
    let mut a = args();
    a.bootstrap_servers = Some("b".into());
    a.kafka_properties = Some(Secret::new(
        "security.protocol=SASL_SSL, ssl.cipher.suites=A\\,B ,",
    ));
    a.property = vec!["linger.ms=7".into()];
    a.sasl_username = Some("svc".into());
    a.sasl_password = Some(Secret::new("hunter2"));
    let c = a.resolve(&file).unwrap();
    let props: Vec<_> = c.properties.iter().collect();
    assert!(
        props.contains(&("security.protocol", "SASL_SSL")),
        "{props:?}"
    );
    assert!(props.contains(&("ssl.cipher.suites", "A,B")), "{props:?}");
    assert!(props.contains(&("linger.ms", "7")));
    assert!(props.contains(&("sasl.username", "svc")));
    assert!(props.contains(&("sasl.password", "hunter2")));
    let shown = format!("{c:?} {a:?}");
    assert!(!shown.contains("hunter2"), "{shown}");
}

#[test]
fn owned_and_malformed_properties_are_refused_without_echoing_values() {
    let mut a = args();
    a.bootstrap_servers = Some("b".into());
    a.kafka_properties = Some(Secret::new("isolation.level=read_uncommitted"));
    assert!(matches!(
        a.resolve(&ConfigFile::default()),
        Err(SettingsError::Runtime(_))
    ));
    a.kafka_properties = Some(Secret::new("sasl.passwordhunter2"));
    let err = a.resolve(&ConfigFile::default()).unwrap_err().to_string();
    assert!(err.contains("expected key=value"), "{err}");
    a.kafka_properties = None;
    a.property = vec!["=x".into()];
    assert!(a.resolve(&ConfigFile::default()).is_err());
}

#[test]
fn registry_needs_an_http_url_and_takes_basic_auth() {
    let mut a = args();
    a.bootstrap_servers = Some("b".into());
    let c = a.resolve(&ConfigFile::default()).unwrap();
    assert!(matches!(
        c.registry(Registration::AutoRegister),
        Err(SettingsError::Missing { .. })
    ));
    a.schema_registry_url = Some("registry:8081".into());
    let c = a.resolve(&ConfigFile::default()).unwrap();
    assert!(c.registry(Registration::AutoRegister).is_err());
    a.schema_registry_url = Some("http://registry:8081".into());
    a.schema_registry_username = Some("u".into());
    a.schema_registry_password = Some(Secret::new("p"));
    let c = a.resolve(&ConfigFile::default()).unwrap();
    let r = c.registry(Registration::RequireExisting).unwrap();
    assert_eq!(r.basic_auth, Some(("u".into(), "p".into())));
    a.schema_registry_username = None;
    assert!(a.resolve(&ConfigFile::default()).is_err());
}

#[test]
fn config_file_errors_are_one_line_and_unknown_keys_refused() {
    let err = ConfigFile::parse("bootstrap_server = \"x\"\n").unwrap_err();
    assert!(err.starts_with("line 1:"), "{err}");
    assert!(!err.contains('\n'), "{err}");
    let err = ConfigFile::parse("commit_interval_ms = \"soon\"").unwrap_err();
    assert!(!err.contains('\n'), "{err}");
    assert!(ConfigFile::load(Path::new("/nonexistent/x.toml")).is_err());
}

#[test]
fn lists_split_on_unescaped_commas() {
    assert_eq!(split_list("a=1,b=2"), ["a=1", "b=2"]);
    assert_eq!(split_list(" a=1\\,2 , ,"), ["a=1,2"]);
    assert!(split_list("").is_empty());
    assert_eq!(
        split_property("k=v=w").unwrap(),
        ("k".to_owned(), "v=w".to_owned())
    );
}

use std::path::Path;

#[test]
fn client_errors_never_echo_secret_values() {
    let e = rdkafka::error::KafkaError::ClientConfig(
        rdkafka::types::RDKafkaConfRes::RD_KAFKA_CONF_INVALID,
        "Invalid value \"hunter2\" for configuration property \"sasl.password\"".into(),
        "sasl.password".into(),
        "hunter2".into(),
    );
    let text = client_error(&e).to_string();
    assert!(!text.contains("hunter2"), "{text}");
    assert!(text.contains("sasl.password"), "{text}");
}

/// A file under the temp dir holding `content`, removed when dropped.
struct TempFile(std::path::PathBuf);

impl TempFile {
    fn new(name: &str, content: &str) -> Self {
        let path = std::env::temp_dir().join(format!(
            "allocation-worker-settings-{}-{name}",
            uuid::Uuid::new_v4().simple()
        ));
        std::fs::write(&path, content).expect("write temp file");
        Self(path)
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn sasl_ssl() -> ConnectionArgs {
    let mut a = args();
    a.bootstrap_servers = Some("b:9093".into());
    a.security.security_protocol = Some("SASL_SSL".into());
    a.security.sasl_mechanism = Some("SCRAM-SHA-512".into());
    a.sasl_username = Some("svc".into());
    a
}

#[test]
fn secrets_come_from_files_without_their_line_break_and_stay_redacted() {
    let password = TempFile::new("sasl", "s3cr3t-from-file\n");
    let key_password = TempFile::new("key", "k3y-pass\r\n");
    let token = TempFile::new("token", "t0ken-value\n");
    let mut a = sasl_ssl();
    a.security.sasl_password_file = Some(password.0.clone());
    a.security.ssl_ca_location = Some("/etc/kafka/ca.crt".into());
    a.security.ssl_certificate_location = Some("/etc/kafka/tls.crt".into());
    a.security.ssl_key_location = Some("/etc/kafka/tls.key".into());
    a.security.ssl_key_password_file = Some(key_password.0.clone());
    a.schema_registry_url = Some("https://registry".into());
    a.security.schema_registry_token_file = Some(token.0.clone());
    a.security.schema_registry_ca_location = Some("/etc/registry/ca.crt".into());
    let c = a.resolve(&ConfigFile::default()).unwrap();
    let props = &c.properties;
    assert_eq!(props.get("security.protocol"), Some("SASL_SSL"));
    assert_eq!(props.get("sasl.mechanism"), Some("SCRAM-SHA-512"));
    assert_eq!(props.get("sasl.password"), Some("s3cr3t-from-file"));
    assert_eq!(props.get("ssl.key.password"), Some("k3y-pass"));
    assert_eq!(props.get("ssl.ca.location"), Some("/etc/kafka/ca.crt"));
    assert_eq!(
        props.get("ssl.certificate.location"),
        Some("/etc/kafka/tls.crt")
    );
    assert_eq!(props.get("ssl.key.location"), Some("/etc/kafka/tls.key"));
    let r = c.registry(Registration::AutoRegister).unwrap();
    assert_eq!(r.bearer_token.as_deref(), Some("t0ken-value"));
    assert_eq!(r.ca_location, Some("/etc/registry/ca.crt".into()));
    let shown = format!("{c:?} {a:?} {r:?}");
    for secret in ["s3cr3t-from-file", "k3y-pass", "t0ken-value"] {
        assert!(!shown.contains(secret), "{secret} in {shown}");
    }
}

#[test]
fn a_value_and_a_file_for_one_secret_or_an_unreadable_file_are_refused() {
    let password = TempFile::new("sasl", "from-file");
    let mut a = sasl_ssl();
    a.sasl_password = Some(Secret::new("from-env"));
    a.security.sasl_password_file = Some(password.0.clone());
    let err = a.resolve(&ConfigFile::default()).unwrap_err().to_string();
    assert!(err.contains("KAFKA_SASL_PASSWORD_FILE"), "{err}");
    assert!(
        !err.contains("from-env") && !err.contains("from-file"),
        "{err}"
    );
    a.sasl_password = None;
    a.security.sasl_password_file = Some("/nonexistent/password".into());
    let err = a.resolve(&ConfigFile::default()).unwrap_err().to_string();
    assert!(err.contains("/nonexistent/password"), "{err}");
    let empty = TempFile::new("empty", "\n");
    a.security.sasl_password_file = Some(empty.0.clone());
    let err = a.resolve(&ConfigFile::default()).unwrap_err().to_string();
    assert!(err.contains("is empty"), "{err}");
}

#[test]
fn the_flag_layer_beats_the_config_file_for_secrets() {
    let from_flag = TempFile::new("flag", "flag-pass");
    let file = ConfigFile::parse(
        "sasl_password_file = \"/nonexistent/ignored\"\nschema_registry_token = \"file-token\"\n\
         schema_registry_url = \"https://r\"\nssl_ca_location = \"/file/ca.crt\"\n",
    )
    .unwrap();
    let mut a = sasl_ssl();
    a.security.sasl_password_file = Some(from_flag.0.clone());
    let c = a.resolve(&file).unwrap();
    assert_eq!(c.properties.get("sasl.password"), Some("flag-pass"));
    assert_eq!(c.properties.get("ssl.ca.location"), Some("/file/ca.crt"));
    let r = c.registry(Registration::AutoRegister).unwrap();
    assert_eq!(r.bearer_token.as_deref(), Some("file-token"));
}

#[test]
fn sasl_plain_or_scram_without_credentials_is_a_configuration_error() {
    let mut a = sasl_ssl();
    let err = a.resolve(&ConfigFile::default()).unwrap_err().to_string();
    assert!(err.contains("KAFKA_SASL_PASSWORD"), "{err}");
    assert!(!err.contains("KAFKA_SASL_USERNAME"), "{err}");
    a.sasl_username = None;
    a.security.sasl_mechanism = Some("PLAIN".into());
    let err = a.resolve(&ConfigFile::default()).unwrap_err().to_string();
    assert!(err.contains("KAFKA_SASL_USERNAME"), "{err}");
    // Not SASL, or a mechanism without a password (OAUTHBEARER, GSSAPI): no check.
    a.security.security_protocol = Some("SSL".into());
    assert!(a.resolve(&ConfigFile::default()).is_ok());
    a.security.security_protocol = Some("sasl_ssl".into());
    a.security.sasl_mechanism = Some("OAUTHBEARER".into());
    assert!(a.resolve(&ConfigFile::default()).is_ok());
}

#[test]
fn registry_basic_auth_and_bearer_token_are_exclusive() {
    let mut a = args();
    a.bootstrap_servers = Some("b".into());
    a.schema_registry_username = Some("u".into());
    a.schema_registry_password = Some(Secret::new("p"));
    a.security.schema_registry_token = Some(Secret::new("t"));
    let err = a.resolve(&ConfigFile::default()).unwrap_err().to_string();
    assert!(err.contains("choose one"), "{err}");
    let password = TempFile::new("registry", "pass-from-file\n");
    a.security.schema_registry_token = None;
    a.schema_registry_password = None;
    a.security.schema_registry_password_file = Some(password.0.clone());
    a.schema_registry_url = Some("https://r".into());
    let r = a
        .resolve(&ConfigFile::default())
        .unwrap()
        .registry(Registration::AutoRegister)
        .unwrap();
    assert_eq!(r.basic_auth, Some(("u".into(), "pass-from-file".into())));
}
