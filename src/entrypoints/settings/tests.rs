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
