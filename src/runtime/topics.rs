//! Creating and verifying the worker's topics (`allocation-worker topics`).
//!
//! Invariants the worker relies on and this module enforces: the changelog has exactly as many
//! partitions as the command topic (state of command partition *p* lives in changelog
//! partition *p*), and the changelog and view topics are compacted.

use std::time::Duration;

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, ResourceSpecifier, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};

use super::config::Topics;

/// One topic the worker needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicSpec {
    pub name: String,
    pub partitions: i32,
    pub compacted: bool,
}

/// Every channel of the contract as a topic with `partitions` partitions.
pub fn plan(topics: &Topics, partitions: i32) -> Vec<TopicSpec> {
    topics
        .channels()
        .into_iter()
        .map(|channel| TopicSpec {
            name: channel.topic,
            partitions,
            compacted: channel.compacted,
        })
        .collect()
}

/// Create what is missing, or only verify.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Create,
    VerifyOnly,
}

/// What `ensure` found and did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Report {
    pub created: Vec<String>,
    pub verified: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum TopicsError {
    #[error("Kafka admin request failed: {0}")]
    Kafka(#[from] KafkaError),
    #[error("creating topic {topic} failed: {code}")]
    Create {
        topic: String,
        code: RDKafkaErrorCode,
    },
    #[error("topic {0} does not exist (run `allocation-worker topics` to create it)")]
    Missing(String),
    #[error("topic {topic} must be compacted (cleanup.policy=compact), found {found:?}")]
    NotCompacted { topic: String, found: String },
    #[error(
        "changelog {changelog} has {changelog_partitions} partitions but commands topic {commands} \
         has {commands_partitions}: they must be co-partitioned"
    )]
    NotCoPartitioned {
        commands: String,
        commands_partitions: i32,
        changelog: String,
        changelog_partitions: i32,
    },
}

const TIMEOUT: Duration = Duration::from_secs(30);

/// Creates (per `mode`) and verifies every topic of `specs`; fails on the first violation.
pub async fn ensure(
    admin: &AdminClient<DefaultClientContext>,
    topics: &Topics,
    specs: &[TopicSpec],
    replication: i32,
    mode: Mode,
) -> Result<Report, TopicsError> {
    let mut report = Report::default();
    let existing = partition_counts(admin, specs)?;
    let missing: Vec<&TopicSpec> = specs
        .iter()
        .filter(|s| !existing.iter().any(|(n, _)| n == &s.name))
        .collect();
    if !missing.is_empty() {
        if mode == Mode::VerifyOnly {
            return Err(TopicsError::Missing(missing[0].name.clone()));
        }
        let new_topics: Vec<NewTopic> = missing
            .iter()
            .map(|s| {
                let t = NewTopic::new(&s.name, s.partitions, TopicReplication::Fixed(replication));
                if s.compacted {
                    t.set("cleanup.policy", "compact")
                } else {
                    t
                }
            })
            .collect();
        let opts = AdminOptions::new().operation_timeout(Some(TIMEOUT));
        for result in admin.create_topics(&new_topics, &opts).await? {
            match result {
                Ok(name) => report.created.push(name),
                Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
                Err((topic, code)) => return Err(TopicsError::Create { topic, code }),
            }
        }
    }

    let counts = wait_for_metadata(admin, specs).await?;
    let count = |name: &str| counts.iter().find(|(n, _)| n == name).map(|(_, c)| *c);
    let commands_partitions =
        count(&topics.commands).ok_or_else(|| TopicsError::Missing(topics.commands.clone()))?;
    let changelog_partitions =
        count(&topics.changelog).ok_or_else(|| TopicsError::Missing(topics.changelog.clone()))?;
    if commands_partitions != changelog_partitions {
        return Err(TopicsError::NotCoPartitioned {
            commands: topics.commands.clone(),
            commands_partitions,
            changelog: topics.changelog.clone(),
            changelog_partitions,
        });
    }
    for spec in specs.iter().filter(|s| s.compacted) {
        let policy = cleanup_policy(admin, &spec.name).await?;
        if !policy.split(',').any(|p| p.trim() == "compact") {
            return Err(TopicsError::NotCompacted {
                topic: spec.name.clone(),
                found: policy,
            });
        }
    }
    for spec in specs {
        if !report.created.contains(&spec.name) {
            report.verified.push(spec.name.clone());
        }
    }
    Ok(report)
}

/// Partition counts of those `specs` that exist (metadata request; blocks up to `TIMEOUT`).
fn partition_counts(
    admin: &AdminClient<DefaultClientContext>,
    specs: &[TopicSpec],
) -> Result<Vec<(String, i32)>, TopicsError> {
    let metadata = admin.inner().fetch_metadata(None, TIMEOUT)?;
    Ok(metadata
        .topics()
        .iter()
        .filter(|t| t.error().is_none() && specs.iter().any(|s| s.name == t.name()))
        .map(|t| (t.name().to_owned(), t.partitions().len() as i32))
        .collect())
}

/// Newly created topics take a moment to appear in every broker's metadata: wait for them.
async fn wait_for_metadata(
    admin: &AdminClient<DefaultClientContext>,
    specs: &[TopicSpec],
) -> Result<Vec<(String, i32)>, TopicsError> {
    let deadline = tokio::time::Instant::now() + TIMEOUT;
    loop {
        let counts = partition_counts(admin, specs)?;
        if counts.len() == specs.len() || tokio::time::Instant::now() >= deadline {
            return Ok(counts);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn cleanup_policy(
    admin: &AdminClient<DefaultClientContext>,
    topic: &str,
) -> Result<String, TopicsError> {
    let opts = AdminOptions::new().request_timeout(Some(TIMEOUT));
    let results = admin
        .describe_configs([&ResourceSpecifier::Topic(topic)], &opts)
        .await?;
    for result in results {
        let resource = result.map_err(KafkaError::AdminOp)?;
        if let Some(entry) = resource.get("cleanup.policy") {
            return Ok(entry.value.clone().unwrap_or_default());
        }
    }
    Ok(String::new())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changelog_and_view_are_compacted_and_copartitioned() {
        let specs = plan(&Topics::default(), 8);
        let compacted: Vec<&str> = specs
            .iter()
            .filter(|s| s.compacted)
            .map(|s| s.name.as_str())
            .collect();
        assert_eq!(compacted, ["allocation.changelog", "allocation.view"]);
        assert!(specs.iter().all(|s| s.partitions == 8));
        assert_eq!(specs.len(), 7);
    }
}
