//! Refused connections fail fast: each of these starts the real binary against the secure
//! listeners with one thing wrong, and requires exit code 2 with exactly one line of output
//! (`allocation-worker: invalid configuration: …`) that names the failure and carries no
//! secret — no stream of retries, no hang. `RUST_LOG=info` is set, so a logged retry would
//! show as a second line.

use std::process::{Command, Stdio};

use super::{assert_no_secret, env, wait_exit, Secure};
use crate::harness::worker::{spawn_worker_at, Names, WorkerSpec};
use crate::harness::WAIT;

/// Runs `allocation-worker run` with `env` against `bootstrap` and `registry`; returns the
/// process's whole output after checking: exit code 2, one line, containing `expected`,
/// without any secret of the stack or any of `extra_secrets`.
async fn refused(
    test: &str,
    bootstrap: &str,
    registry: &str,
    env: Vec<(String, String)>,
    expected: &[&str],
    extra_secrets: &[String],
) -> String {
    let secure = Secure::from_env();
    let spec = WorkerSpec::new(&Names::new(test), 0);
    let mut env = env;
    env.push(("RUST_LOG".into(), "info".into()));
    let mut worker = spawn_worker_at(&spec, bootstrap, registry, &env);
    let status = wait_exit(&mut worker, WAIT).await;
    let output = worker.log();
    assert_eq!(status.code(), Some(2), "{status}; output:\n{output}");
    let lines: Vec<&str> = output.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "expected exactly one line:\n{output}");
    assert!(
        lines[0].starts_with("allocation-worker: invalid configuration: "),
        "{output}"
    );
    for word in expected {
        assert!(lines[0].contains(word), "{word:?} missing in:\n{output}");
    }
    let mut secrets = secure.secrets();
    secrets.extend_from_slice(extra_secrets);
    assert_no_secret(&output, &secrets);
    output
}

fn wrong_secret() -> String {
    format!("wrong-{}", uuid::Uuid::new_v4().simple())
}

fn without(mut env: Vec<(String, String)>, key: &str) -> Vec<(String, String)> {
    env.retain(|(k, _)| k != key);
    env
}

fn with(mut env: Vec<(String, String)>, key: &str, value: &str) -> Vec<(String, String)> {
    env.retain(|(k, _)| k != key);
    env.push((key.into(), value.into()));
    env
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_sasl_password_ends_the_worker_at_once_with_one_line() {
    let s = Secure::from_env();
    let wrong = wrong_secret();
    let env = with(
        without(s.sasl_env("SCRAM-SHA-512"), "KAFKA_SASL_PASSWORD_FILE"),
        "KAFKA_SASL_PASSWORD",
        &wrong,
    );
    let mut env = env;
    env.extend(s.registry_basic_env());
    refused(
        "refused-password",
        &s.sasl_ssl_bootstrap,
        &s.registry_url,
        env,
        &["Kafka authentication failed", "SCRAM-SHA-512"],
        &[wrong],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_untrusted_broker_certificate_ends_the_worker_at_once_with_one_line() {
    let s = Secure::from_env();
    let mut env = with(
        s.sasl_env("SCRAM-SHA-512"),
        "KAFKA_SSL_CA_LOCATION",
        &s.untrusted_ca,
    );
    env.extend(s.registry_basic_env());
    refused(
        "refused-ca",
        &s.sasl_ssl_bootstrap,
        &s.registry_url,
        env,
        &[
            "TLS connection to Kafka failed",
            "certificate verify failed",
        ],
        &[],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_sasl_password_is_a_configuration_error() {
    let s = Secure::from_env();
    let mut env = without(s.sasl_env("PLAIN"), "KAFKA_SASL_PASSWORD_FILE");
    env.extend(s.registry_basic_env());
    refused(
        "refused-missing",
        &s.sasl_ssl_bootstrap,
        &s.registry_url,
        env,
        &["KAFKA_SASL_PASSWORD"],
        &[],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_client_certificate_on_the_mtls_listener_ends_the_worker_with_one_line() {
    let s = Secure::from_env();
    let env = env(&[
        ("KAFKA_SECURITY_PROTOCOL", "SSL"),
        ("KAFKA_SSL_CA_LOCATION", &s.ca),
    ]);
    refused(
        "refused-no-client-cert",
        &s.ssl_bootstrap,
        &s.registry_url,
        env,
        &["TLS connection to Kafka failed"],
        &[],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_registry_credentials_end_the_worker_with_one_line() {
    let s = Secure::from_env();
    let wrong = wrong_secret();
    let mut env = s.sasl_env("SCRAM-SHA-512");
    env.extend(without(
        s.registry_basic_env(),
        "SCHEMA_REGISTRY_PASSWORD_FILE",
    ));
    env.push(("SCHEMA_REGISTRY_PASSWORD".into(), wrong.clone()));
    refused(
        "refused-registry",
        &s.sasl_ssl_bootstrap,
        &s.registry_url,
        env,
        &["schema registry refused our credentials", "401"],
        &[wrong],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn produce_with_a_wrong_password_fails_with_one_line() {
    let s = Secure::from_env();
    let wrong = wrong_secret();
    let output = Command::new(env!("CARGO_BIN_EXE_allocation-worker"))
        .args([
            "produce",
            "--json",
            r#"{"type":"allocation.commands.Allocate","orderid":"o1","sku":"LAMP","qty":1}"#,
        ])
        .env("KAFKA_BOOTSTRAP_SERVERS", &s.sasl_ssl_bootstrap)
        .env("SCHEMA_REGISTRY_URL", &s.registry_url)
        .env("TOPIC_PREFIX", Names::new("refused-produce").prefix)
        .envs(with(
            without(s.sasl_env("SCRAM-SHA-512"), "KAFKA_SASL_PASSWORD_FILE"),
            "KAFKA_SASL_PASSWORD",
            &wrong,
        ))
        .envs(s.registry_token_env())
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .output()
        .expect("running allocation-worker produce");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(output.status.code(), Some(2), "{text}");
    assert_eq!(text.lines().count(), 1, "{text}");
    assert!(text.contains("Kafka authentication failed"), "{text}");
    let mut secrets = s.secrets();
    secrets.push(wrong);
    assert_no_secret(&text, &secrets);
}
