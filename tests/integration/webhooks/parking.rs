//! A subscriber that keeps failing is parked (position kept in Kafka, gauge, log line) and
//! `webhooks replay` resumes it from the parked position in the running process.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use allocation_worker::runtime::config::Topics;

use super::{
    allocated, codec, config_file, produce, receiver, sequences, start_hooks, wait_distinct, SECRET,
};
use crate::harness::{infra, read_all, transactional_producer, unique, Isolation, WAIT};
use crate::http::support::{fresh_topics, sample, Service};
use std::sync::atomic::Ordering::SeqCst;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_subscriber_that_keeps_failing_is_parked_and_replay_resumes_it_from_there() {
    let prefix = fresh_topics("hooks-park", 2).await;
    let topics = Topics::with_prefix(&prefix);
    let codec = codec().await;
    codec.prepare(&topics).await.expect("schemas");
    let flaky = receiver::start(SECRET, 0).await;
    flaky
        .state
        .fail_all
        .store(true, std::sync::atomic::Ordering::SeqCst);
    let config = config_file(
        "hooks-park",
        &format!(
            r#"topic_prefix = "{prefix}"
            [webhooks]
            max_attempts = 3
            backoff_initial_ms = 10
            backoff_max_ms = 50
            [[webhooks.subscriptions]]
            name = "flaky"
            url = "{}"
            secret = "{SECRET}"
            [[webhooks.subscriptions]]
            name = "gone"
            url = "http://127.0.0.1:9/hook?token=SEKRIT"
            secret = "{SECRET}"
            "#,
            flaky.url
        ),
    );
    let producer = Arc::new(transactional_producer(&unique("hooks-park-producer")).await);
    let events: Vec<_> = (1..=5)
        .flat_map(|seq| [("LAMP", seq), ("CHAIR", seq)])
        .map(|(sku, seq)| (sku.to_owned(), allocated(sku, seq)))
        .collect();
    produce(&producer, &codec, &topics, events, true).await;

    let group = unique("hooks-park-group");
    let mut hooks = start_hooks("webhooks-park", &config, &group).await;
    let metrics_url = format!("{}/metrics", hooks.base_url().await);
    wait_parked(&metrics_url, "flaky", 1.0, &hooks).await;
    assert_eq!(flaky.state.failed.load(SeqCst), 3);
    assert!(hooks.log().contains("subscriber parked"), "{}", hooks.log());
    // A subscriber nobody answers is parked too; its URL (with a token) is never logged.
    wait_parked(&metrics_url, "gone", 1.0, &hooks).await;
    assert!(
        hooks.log().contains("Connection refused"),
        "{}",
        hooks.log()
    );
    assert!(!hooks.log().contains("SEKRIT"), "{}", hooks.log());
    // The receiver recovers, but a parked subscriber stays parked — across a restart too —
    // until it is replayed.
    flaky.state.fail_all.store(false, SeqCst);
    hooks.terminate(Duration::from_secs(30)).await;
    let mut hooks = start_hooks("webhooks-park-2", &config, &group).await;
    let metrics_url = format!("{}/metrics", hooks.base_url().await);
    wait_parked(&metrics_url, "flaky", 1.0, &hooks).await;
    assert!(flaky.state.deliveries().is_empty());
    assert_eq!(flaky.state.failed.load(SeqCst), 3);

    let report = replay(&config, &group, &[]).await;
    assert_eq!(report["was_parked"], true, "{report}");
    assert_eq!(report["parked"]["attempts"], 3, "{report}");
    assert_eq!(report["parked"]["offset"], 0, "{report}");
    let partition = report["parked"]["partition"].as_i64().expect("partition");

    // The running process resumes from the parked position: everything, in order, no gap.
    wait_distinct("flaky after replay", || flaky.state.deliveries(), 10).await;
    let expected: BTreeMap<String, Vec<i64>> = ["CHAIR", "LAMP"]
        .iter()
        .map(|s| ((*s).to_owned(), (1..=5).collect()))
        .collect();
    let delivered = flaky.state.deliveries();
    assert_eq!(sequences(&delivered, |d| &d.body["data"]), expected);
    wait_parked(&metrics_url, "flaky", 0.0, &hooks).await;
    // Replaying a subscriber that is not parked changes nothing and says so.
    let report = replay(&config, &group, &[]).await;
    assert_eq!(report["was_parked"], false, "{report}");

    // --offset moves the group back (the process must be stopped): that partition's events
    // come again, with the same webhook ids, in order.
    hooks.terminate(Duration::from_secs(30)).await;
    let report = replay(&config, &group, &[&format!("{partition}:0")]).await;
    assert_eq!(report["resumes_from"][partition.to_string()], 0, "{report}");
    let on_partition = read_all(&topics.events, Isolation::ReadCommitted)
        .await
        .iter()
        .filter(|r| i64::from(r.partition) == partition)
        .count();
    let mut hooks = start_hooks("webhooks-park-3", &config, &group).await;
    let deadline = Instant::now() + WAIT;
    while flaky.state.deliveries().len() < delivered.len() + on_partition {
        assert!(
            Instant::now() < deadline,
            "no redelivery after --offset:\n{}",
            hooks.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let again = &flaky.state.deliveries()[delivered.len()..];
    assert_eq!(again.len(), on_partition);
    let first: std::collections::HashSet<_> = delivered.iter().map(|d| &d.webhook_id).collect();
    assert!(again.iter().all(|d| first.contains(&d.webhook_id)));
    for (_, seqs) in sequences(again, |d| &d.body["data"]) {
        assert_eq!(seqs, (1..=5).collect::<Vec<_>>());
    }
    hooks.terminate(Duration::from_secs(30)).await;
}

/// Waits until the parked gauge of `subscriber` shows `value`.
async fn wait_parked(metrics_url: &str, subscriber: &str, value: f64, hooks: &Service) {
    let series = format!(r#"allocation_worker_webhook_parked{{subscriber="{subscriber}"}}"#);
    let deadline = Instant::now() + WAIT;
    loop {
        let metrics = reqwest::get(metrics_url)
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        if sample(&metrics, &series) == Some(value) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "parked gauge never {value}:\n{metrics}\n{}",
            hooks.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Runs `webhooks replay --subscriber flaky` (plus `--offset`s); returns its JSON line.
async fn replay(config: &std::path::Path, group: &str, offsets: &[&str]) -> serde_json::Value {
    let infra = infra().await;
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_allocation-worker"));
    command
        .args([
            "webhooks",
            "replay",
            "--subscriber",
            "flaky",
            "--group-id",
            group,
        ])
        .arg("--config")
        .arg(config)
        .env("KAFKA_BOOTSTRAP_SERVERS", &infra.bootstrap)
        .env("SCHEMA_REGISTRY_URL", &infra.registry_url);
    for o in offsets {
        command.args(["--offset", o]);
    }
    let output = command.output().expect("replay");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "replay failed: {stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_str(stdout.trim()).expect("replay prints one JSON line")
}

#[tokio::test]
async fn webhook_configuration_mistakes_exit_2_on_one_line_without_the_secret() {
    let infra = infra().await;
    let bad_secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw%%";
    let cases: Vec<(Vec<&str>, String)> = vec![
        (
            vec!["webhooks", "run"],
            format!("[[webhooks.subscriptions]]\nname = \"a\"\nurl = \"http://127.0.0.1:9/\"\nsecret = \"{bad_secret}\"\n"),
        ),
        (vec!["webhooks", "run"], String::new()),
        (
            vec!["serve"],
            format!("[[webhooks.sources]]\nname = \"shop\"\nsecret = \"{bad_secret}\"\n"),
        ),
        (
            vec!["webhooks", "replay", "--subscriber", "nope"],
            format!("[[webhooks.subscriptions]]\nname = \"a\"\nurl = \"http://127.0.0.1:9/\"\nsecret = \"{SECRET}\"\n"),
        ),
        (
            vec!["webhooks", "run"],
            format!("[[webhooks.subscriptions]]\nname = \"a\"\nurl = \"http://127.0.0.1:9/\"\nsecret = \"{SECRET}\"\nevent_types = [\"Allocate\"]\n"),
        ),
    ];
    for (args, text) in cases {
        let config = config_file("hooks-config", &text);
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_allocation-worker"))
            .args(&args)
            .arg("--config")
            .arg(&config)
            .env("KAFKA_BOOTSTRAP_SERVERS", &infra.bootstrap)
            .env("SCHEMA_REGISTRY_URL", &infra.registry_url)
            .env("HTTP_ADDR", "127.0.0.1:0")
            .output()
            .expect("binary runs");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        assert_eq!(stderr.trim().lines().count(), 1, "{args:?}: {stderr}");
        assert!(stderr.contains("invalid configuration"), "{stderr}");
        assert!(!stderr.contains("MfKQ"), "a secret in the error: {stderr}");
    }
}
