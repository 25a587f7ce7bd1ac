//! `topics` against the real broker: creates every topic with its configuration, is idempotent,
//! and refuses a changelog that is not co-partitioned with the command topic.

use allocation_worker::runtime::config::Topics;
use allocation_worker::runtime::topics::{ensure, plan, Mode, TopicsError};
use rdkafka::admin::AdminClient;
use rdkafka::client::DefaultClientContext;

use crate::harness::{create_topic, kafka::client_config, unique};

async fn admin() -> AdminClient<DefaultClientContext> {
    client_config().await.create().expect("admin client")
}

#[tokio::test]
async fn creates_then_verifies_every_topic() {
    let topics = Topics::with_prefix(&format!("{}.", unique("t")));
    let specs = plan(&topics, 3);
    let admin = admin().await;

    let missing = ensure(&admin, &topics, &specs, 1, Mode::VerifyOnly).await;
    assert!(
        matches!(missing, Err(TopicsError::Missing(_))),
        "{missing:?}"
    );

    let first = ensure(&admin, &topics, &specs, 1, Mode::Create)
        .await
        .expect("create");
    assert_eq!(first.created.len(), specs.len(), "{first:?}");

    let second = ensure(&admin, &topics, &specs, 1, Mode::VerifyOnly)
        .await
        .expect("verify");
    assert!(second.created.is_empty());
    assert_eq!(second.verified.len(), specs.len());
}

#[tokio::test]
async fn refuses_a_changelog_with_another_partition_count() {
    let topics = Topics::with_prefix(&format!("{}.", unique("t")));
    create_topic(&topics.changelog, 2, &[("cleanup.policy", "compact")]).await;
    let specs = plan(&topics, 4);
    let result = ensure(&admin().await, &topics, &specs, 1, Mode::Create).await;
    assert!(
        matches!(
            result,
            Err(TopicsError::NotCoPartitioned {
                commands_partitions: 4,
                changelog_partitions: 2,
                ..
            })
        ),
        "{result:?}"
    );
}

#[tokio::test]
async fn refuses_a_changelog_that_is_not_compacted() {
    let topics = Topics::with_prefix(&format!("{}.", unique("t")));
    create_topic(&topics.changelog, 2, &[("cleanup.policy", "delete")]).await;
    let specs = plan(&topics, 2);
    let result = ensure(&admin().await, &topics, &specs, 1, Mode::Create).await;
    assert!(
        matches!(result, Err(TopicsError::NotCompacted { .. })),
        "{result:?}"
    );
}

#[tokio::test]
async fn run_refuses_a_changelog_that_is_not_copartitioned() {
    let prefix = format!("{}.", unique("t"));
    let topics = Topics::with_prefix(&prefix);
    create_topic(&topics.changelog, 3, &[("cleanup.policy", "compact")]).await;
    for spec in plan(&topics, 2)
        .iter()
        .filter(|s| s.name != topics.changelog)
    {
        create_topic(&spec.name, spec.partitions, &[]).await;
    }
    let infra = crate::harness::infra().await;
    let bootstrap = infra.bootstrap.clone();
    let registry = infra.registry_url.clone();
    let output = tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_allocation-worker"))
            .args([
                "run",
                "--bootstrap-servers",
                &bootstrap,
                "--schema-registry-url",
                &registry,
            ])
            .args([
                "--topic-prefix",
                &prefix,
                "--transactional-id",
                "copartition-check",
            ])
            .env("HTTP_ADDR", "127.0.0.1:0")
            .output()
            .expect("run the worker binary")
    })
    .await
    .expect("worker task");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("co-partitioned"), "{stderr}");
}
