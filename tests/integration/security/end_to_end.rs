//! The worker binary processes commands over each secure connection: SASL_SSL with
//! SCRAM-SHA-512, SASL_SSL with PLAIN, and mutual TLS; the registry over HTTPS with basic auth
//! or a bearer token. Every command's outcome is read back (read_committed) and checked
//! against a sequential replay, and no secret appears in the worker's output.

use allocation_worker::domain::Event;

use super::{assert_no_secret, Secure};
use crate::harness::worker::spawn_worker_at;
use crate::worker::support::cmd::{allocate, create_batch};
use crate::worker::support::PARTITIONS;
use crate::worker::{Setup, READY, SHUTDOWN};

/// Sends a small allocation story, waits until the worker (started with `env`, on
/// `bootstrap` and the HTTPS registry) committed it, and checks every outcome.
async fn processes_commands(test: &str, bootstrap: &str, env: Vec<(String, String)>) {
    let secure = Secure::from_env();
    let mut s = Setup::new(test).await;
    let mut worker = spawn_worker_at(&s.spec(0), bootstrap, &secure.registry_url, &env);
    worker.wait_ready(READY).await;
    let p = &mut s.producer;
    p.command(create_batch("b-now", "LAMP", 10, None)).await;
    let first = p.command(allocate("o1", "LAMP", 4)).await;
    let second = p.command(allocate("o2", "LAMP", 7)).await;
    p.flush().await;
    s.caught_up(&mut [&mut worker]).await;

    let observed = s.observed().await;
    let sent = s.producer.sent().to_vec();
    crate::worker::checker::assert_exactly_once(&sent, &observed, PARTITIONS);
    let caused = |id| observed.events_caused_by(id);
    assert!(
        matches!(caused(first)[..], [Event::Allocated(ref a)] if a.batchref.to_string() == "b-now"),
        "{:?}",
        caused(first)
    );
    assert!(
        matches!(caused(second)[..], [Event::OutOfStock(_)]),
        "{:?}",
        caused(second)
    );

    let (status, _) = worker.terminate(SHUTDOWN).await;
    assert!(status.success(), "{status}: {}", worker.log_tail(20));
    assert_no_secret(&worker.log(), &secure.secrets());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn worker_over_sasl_ssl_scram_sha_512_with_registry_basic_auth() {
    let secure = Secure::from_env();
    let mut env = secure.sasl_env("SCRAM-SHA-512");
    env.extend(secure.registry_basic_env());
    processes_commands("secure-scram", &secure.sasl_ssl_bootstrap, env).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn worker_over_sasl_ssl_plain_with_registry_bearer_token() {
    let secure = Secure::from_env();
    let mut env = secure.sasl_env("PLAIN");
    env.extend(secure.registry_token_env());
    processes_commands("secure-plain", &secure.sasl_ssl_bootstrap, env).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn worker_over_mutual_tls_with_registry_password_from_the_environment() {
    let secure = Secure::from_env();
    let mut env = secure.mtls_env();
    env.extend(super::env(&[
        ("SCHEMA_REGISTRY_CA_LOCATION", &secure.ca),
        ("SCHEMA_REGISTRY_USERNAME", &secure.registry_username),
        (
            "SCHEMA_REGISTRY_PASSWORD",
            &super::read(&secure.registry_password_file),
        ),
    ]));
    processes_commands("secure-mtls", &secure.ssl_bootstrap, env).await;
}
