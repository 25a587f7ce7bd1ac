//! `serve` and `run` as the operator sees them: the built binary as child processes against the
//! real broker and registry — command intake over HTTP, the read model, health, readiness,
//! metrics — plus the configuration contract of every verb (exit code 2, one line) and the
//! promise that secrets never reach the logs.

pub(crate) mod support;

use std::time::Duration;

use serde_json::{json, Value};

use self::support::{fresh_topics, sample, wait_ok, Service};

const READY: Duration = Duration::from_secs(45);

/// A bad configuration: arguments, environment, and what the error line must mention.
type Case<'a> = (Vec<&'a str>, Vec<(&'a str, &'a str)>, &'a str);

async fn post(client: &reqwest::Client, url: &str, body: &str) -> (u16, String, Value) {
    let response = client
        .post(url)
        .header("content-type", "application/json")
        .body(body.to_owned())
        .send()
        .await
        .expect("POST");
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let body = response.json().await.unwrap_or(Value::Null);
    (status, content_type, body)
}

async fn get_json(client: &reqwest::Client, url: &str) -> (u16, Value) {
    let response = client.get(url).send().await.expect("GET");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn text(client: &reqwest::Client, url: &str) -> String {
    client
        .get(url)
        .send()
        .await
        .expect("GET")
        .text()
        .await
        .expect("body")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commands_over_http_reach_the_read_model_and_metrics_move() {
    let prefix = fresh_topics("http-e2e", 2).await;
    let group = format!("{prefix}group");
    let mut worker = Service::start(
        "run",
        &["run", "--topic-prefix", &prefix, "--group-id", &group],
        &[
            ("TRANSACTIONAL_ID", &format!("{prefix}w0")),
            ("LAG_INTERVAL_MS", "500"),
        ],
    )
    .await;
    let mut serve = Service::start("serve", &["serve", "--topic-prefix", &prefix], &[]).await;
    let run_url = worker.base_url().await;
    let serve_url = serve.base_url().await;
    let client = reqwest::Client::new();

    // Readiness flips only once the assigned partitions are restored.
    let seen = wait_ok(&client, &format!("{run_url}/readyz"), READY).await;
    assert!(
        seen.contains(&503),
        "run /readyz never said 503 first: {seen:?}"
    );
    assert!(worker.log().contains("worker ready"), "{}", worker.log());
    let (_, ready) = get_json(&client, &format!("{run_url}/readyz")).await;
    assert_eq!(ready["ready"], true);
    wait_ok(&client, &format!("{serve_url}/readyz"), READY).await;
    assert_eq!(
        get_json(&client, &format!("{serve_url}/healthz")).await.0,
        200
    );
    assert_eq!(
        get_json(&client, &format!("{run_url}/healthz")).await.0,
        200
    );
    let before = text(&client, &format!("{run_url}/metrics")).await;
    let allocate_series =
        "allocation_worker_records_processed_total{message_type=\"allocation.commands.Allocate\"}";
    assert_eq!(sample(&before, allocate_series), None, "{before}");
    assert!(
        sample(&before, "allocation_worker_restore_duration_seconds_count").unwrap_or(0.0) >= 1.0
    );
    assert!(sample(&before, "allocation_worker_rebalances_total").unwrap_or(0.0) >= 1.0);
    assert_eq!(sample(&before, "allocation_worker_ready"), Some(1.0));

    // Intake: 202 with the command id.
    let commands = format!("{serve_url}/commands");
    let (status, _, created) = post(
        &client,
        &format!("{commands}/create-batch"),
        r#"{"reference":"b1","sku":"LAMP","qty":20}"#,
    )
    .await;
    assert_eq!(status, 202, "{created}");
    let (status, _, allocated) = post(
        &client,
        &format!("{commands}/allocate"),
        r#"{"type":"allocation.commands.Allocate","orderid":"o1","sku":"LAMP","qty":2}"#,
    )
    .await;
    assert_eq!(status, 202, "{allocated}");
    let id = allocated["command_id"]
        .as_str()
        .expect("command_id")
        .to_owned();

    // Query: wait until the view reflects the allocation.
    let (status, view) = get_json(
        &client,
        &format!("{serve_url}/allocations/o1?wait_for={id}&timeout_ms=20000"),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(view["reflected"], true, "{view}");
    assert_eq!(
        view["allocations"],
        json!([{"sku": "LAMP", "batchref": "b1"}])
    );
    assert!(
        !view["view_position"]
            .as_object()
            .expect("positions")
            .is_empty(),
        "{view}"
    );
    let (_, unknown) = get_json(&client, &format!("{serve_url}/allocations/nobody")).await;
    assert_eq!(unknown["allocations"], json!([]));

    // Bad input: RFC 9457 problems.
    for (path, body) in [
        ("allocate", r#"{"orderid":"o1","sku":"LAMP","qty":0}"#),
        ("allocate", r#"{"orderid":"o1","sku":"LAMP"}"#),
        ("allocate", "not json"),
        ("allocate", r#"[1,2]"#),
        (
            "allocate",
            r#"{"type":"allocation.commands.Deallocate","orderid":"o1","sku":"LAMP"}"#,
        ),
        ("create-batch", r#"{"reference":" b","sku":"LAMP","qty":1}"#),
    ] {
        let (status, content_type, problem) =
            post(&client, &format!("{commands}/{path}"), body).await;
        assert_eq!(status, 400, "{path} {body}: {problem}");
        assert_eq!(content_type, "application/problem+json");
        assert_eq!(problem["status"], 400);
        assert!(
            problem["detail"].as_str().is_some_and(|d| !d.is_empty()),
            "{problem}"
        );
    }
    assert_eq!(
        post(&client, &format!("{commands}/launch"), "{}").await.0,
        404
    );
    let (status, _) = get_json(
        &client,
        &format!("{serve_url}/allocations/o1?wait_for=soon"),
    )
    .await;
    assert_eq!(status, 400);

    // Deallocate: the row disappears.
    let (status, _, deallocated) = post(
        &client,
        &format!("{commands}/deallocate"),
        r#"{"orderid":"o1","sku":"LAMP"}"#,
    )
    .await;
    assert_eq!(status, 202);
    let id = deallocated["command_id"].as_str().expect("command_id");
    let (_, view) = get_json(
        &client,
        &format!("{serve_url}/allocations/o1?wait_for={id}&timeout_ms=20000"),
    )
    .await;
    assert_eq!(view["reflected"], true, "{view}");
    assert_eq!(view["allocations"], json!([]));

    // Metrics moved.
    let after = text(&client, &format!("{run_url}/metrics")).await;
    assert_eq!(sample(&after, allocate_series), Some(1.0), "{after}");
    for series in [
        "allocation_worker_records_processed_total{message_type=\"allocation.commands.CreateBatch\"}",
        "allocation_worker_records_processed_total{message_type=\"allocation.commands.Deallocate\"}",
        "allocation_worker_batches_committed_total",
        "allocation_worker_transaction_commit_duration_seconds_count",
        "allocation_worker_batch_size_records_count",
    ] {
        assert!(sample(&after, series).unwrap_or(0.0) >= 1.0, "{series}:\n{after}");
    }
    let lag_series = format!(
        "allocation_worker_consumer_lag{{topic=\"{prefix}allocation.commands\",partition=\"0\"}}"
    );
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while sample(
        &text(&client, &format!("{run_url}/metrics")).await,
        &lag_series,
    )
    .is_none()
    {
        assert!(std::time::Instant::now() < deadline, "no {lag_series}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let served = text(&client, &format!("{serve_url}/metrics")).await;
    let accepted = "allocation_worker_http_commands_total{message_type=\"allocation.commands.Allocate\",outcome=\"accepted\"}";
    assert_eq!(sample(&served, accepted), Some(1.0), "{served}");
    let invalid = "allocation_worker_http_commands_total{message_type=\"allocation.commands.Allocate\",outcome=\"invalid\"}";
    assert!(sample(&served, invalid).unwrap_or(0.0) >= 4.0, "{served}");
    assert!(sample(&served, "allocation_worker_view_records_total").unwrap_or(0.0) >= 2.0);
    assert!(served.contains("# TYPE allocation_worker_view_lag gauge"));

    // A clean shutdown exits 0.
    assert!(serve
        .terminate(Duration::from_secs(20))
        .await
        .is_some_and(|s| s.success()));
    assert!(worker
        .terminate(Duration::from_secs(30))
        .await
        .is_some_and(|s| s.success()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_configuration_exits_2_with_one_line_for_every_verb() {
    let dir = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    let bad_file = dir.join("bad-config.toml");
    std::fs::write(&bad_file, "bootstrap_server = \"typo\"\n").expect("config file");
    let bad_file = bad_file.to_string_lossy().into_owned();
    let cases: Vec<Case> = vec![
        (vec!["run"], vec![], "TRANSACTIONAL_ID"),
        (
            vec!["run", "--transactional-id", "t"],
            vec![("COMMIT_INTERVAL_MS", "soon")],
            "commit-interval-ms",
        ),
        (
            vec!["run", "--transactional-id", "t"],
            vec![("KAFKA_PROPERTIES", "isolation.level=read_uncommitted")],
            "isolation.level",
        ),
        (
            vec!["serve"],
            vec![("HTTP_ADDR", "everywhere")],
            "HTTP_ADDR",
        ),
        (
            vec!["serve"],
            vec![("SCHEMA_REGISTRY_URL", "registry:8081")],
            "schema registry URL",
        ),
        (
            vec![
                "produce",
                "allocate",
                "--orderid",
                "o",
                "--sku",
                "s",
                "--qty",
                "1",
            ],
            vec![("KAFKA_PROPERTIES", "nokey")],
            "key=value",
        ),
        (
            vec!["produce", "--json", "{}"],
            vec![("KAFKA_BOOTSTRAP_SERVERS", "")],
            "KAFKA_BOOTSTRAP_SERVERS",
        ),
        (
            vec!["topics"],
            vec![("ALLOCATION_WORKER_CONFIG", &bad_file)],
            "bootstrap_server",
        ),
        (
            vec!["topics", "-X", "security.protocol=carrier-pigeon"],
            vec![],
            "security.protocol",
        ),
        (
            vec!["contract", "--config", "/nonexistent.toml"],
            vec![],
            "nonexistent.toml",
        ),
    ];
    let infra = crate::harness::infra().await;
    for (args, env, mention) in cases {
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_allocation-worker"))
            .args(&args)
            .env("KAFKA_BOOTSTRAP_SERVERS", &infra.bootstrap)
            .env("SCHEMA_REGISTRY_URL", &infra.registry_url)
            .env_remove("TRANSACTIONAL_ID")
            .env_remove("ALLOCATION_WORKER_CONFIG")
            .envs(env.iter().copied())
            .output()
            .expect("running the binary");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{args:?} {env:?}: {stderr}");
        assert_eq!(stderr.trim_end().lines().count(), 1, "{args:?}: {stderr}");
        assert!(
            stderr.contains("invalid configuration"),
            "{args:?}: {stderr}"
        );
        assert!(
            stderr.contains(mention),
            "{args:?} should mention {mention}: {stderr}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_never_reach_logs_help_or_errors_and_kafka_down_is_503() {
    let secrets = [
        ("KAFKA_SASL_USERNAME", "svc-user"),
        ("KAFKA_SASL_PASSWORD", "hunter2"),
        ("SCHEMA_REGISTRY_USERNAME", "registry-user"),
        ("SCHEMA_REGISTRY_PASSWORD", "hunter3"),
        (
            "KAFKA_PROPERTIES",
            "security.protocol=SASL_PLAINTEXT,sasl.mechanism=PLAIN,ssl.key.password=hunter4",
        ),
        ("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:1"),
    ];
    let leaked = |text: &str| {
        ["hunter2", "hunter3", "hunter4"]
            .iter()
            .any(|s| text.contains(s))
    };
    for verb in ["run", "serve", "produce", "topics"] {
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_allocation-worker"))
            .args([verb, "--help"])
            .envs(secrets)
            .output()
            .expect("help");
        let all = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        assert!(!leaked(&all), "{verb} --help shows a secret:\n{all}");
    }
    let prefix = fresh_topics("http-secrets", 1).await;
    let mut worker = Service::start(
        "run-secrets",
        &[
            "run",
            "--topic-prefix",
            &prefix,
            "--transactional-id",
            "x",
            "--shutdown-timeout-ms",
            "500",
        ],
        &secrets,
    )
    .await;
    let mut serve = Service::start(
        "serve-secrets",
        &["serve", "--topic-prefix", &prefix],
        &[secrets.as_slice(), &[("PRODUCE_TIMEOUT_MS", "1500")]].concat(),
    )
    .await;
    let client = reqwest::Client::new();
    let run_url = worker.base_url().await;
    let serve_url = serve.base_url().await;
    let (status, _, problem) = post(
        &client,
        &format!("{serve_url}/commands/allocate"),
        r#"{"orderid":"o1","sku":"LAMP","qty":1}"#,
    )
    .await;
    assert_eq!(status, 503, "{problem}");
    assert_eq!(
        get_json(&client, &format!("{serve_url}/readyz")).await.0,
        503
    );
    assert_eq!(get_json(&client, &format!("{run_url}/readyz")).await.0, 503);
    let metrics = text(&client, &format!("{run_url}/metrics")).await
        + &text(&client, &format!("{serve_url}/metrics")).await;
    assert!(!leaked(&metrics), "{metrics}");
    let _ = worker.terminate(Duration::from_secs(10)).await;
    let _ = serve.terminate(Duration::from_secs(10)).await;
    for service in [&worker, &serve] {
        let log = service.log();
        assert!(!log.is_empty());
        assert!(!leaked(&log), "{} logged a secret:\n{log}", service.name);
    }
}
