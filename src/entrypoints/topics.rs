//! `allocation-worker topics`: create (or only verify) every topic of the contract with its
//! configuration — partition count, compaction for the changelog and the view — and refuse a
//! changelog that is not co-partitioned with the command topic.

use rdkafka::admin::AdminClient;
use rdkafka::client::DefaultClientContext;

use crate::runtime::config::{KafkaProperties, Topics};
use crate::runtime::topics::{ensure, plan, Mode};

/// Arguments of `allocation-worker topics`.
#[derive(Debug, clap::Args)]
pub struct TopicsArgs {
    /// Kafka bootstrap servers.
    #[arg(long, env = "KAFKA_BOOTSTRAP_SERVERS")]
    pub bootstrap_servers: String,
    /// Prefix of every topic name (e.g. `staging.`), as configured for the worker.
    #[arg(long, env = "TOPIC_PREFIX", default_value = "")]
    pub topic_prefix: String,
    /// Partitions of each topic created (the changelog gets the command topic's count).
    #[arg(long, default_value_t = 8)]
    pub partitions: i32,
    /// Replication factor of each topic created; -1 takes the broker's default.
    #[arg(long, default_value_t = -1)]
    pub replication_factor: i32,
    /// Only verify; create nothing.
    #[arg(long)]
    pub verify_only: bool,
    /// A librdkafka property passed through, `key=value` (repeatable), e.g.
    /// `-X security.protocol=SASL_SSL`.
    #[arg(short = 'X', value_name = "KEY=VALUE")]
    pub property: Vec<String>,
}

/// Why `topics` failed.
#[derive(Debug, thiserror::Error)]
pub enum TopicsCommandError {
    #[error("invalid property `{0}`: expected key=value")]
    Property(String),
    #[error(transparent)]
    Config(#[from] crate::runtime::config::ConfigError),
    #[error("cannot create the Kafka admin client: {0}")]
    Client(#[from] rdkafka::error::KafkaError),
    #[error(transparent)]
    Topics(#[from] crate::runtime::topics::TopicsError),
    #[error("cannot start the async runtime: {0}")]
    Runtime(#[from] std::io::Error),
}

/// Parses `key=value` pass-through properties.
pub fn parse_properties(raw: &[String]) -> Result<KafkaProperties, TopicsCommandError> {
    let mut properties = KafkaProperties::new();
    for item in raw {
        let (k, v) = item
            .split_once('=')
            .filter(|(k, _)| !k.trim().is_empty())
            .ok_or_else(|| TopicsCommandError::Property(item.clone()))?;
        properties.set(k.trim(), v)?;
    }
    Ok(properties)
}

/// Runs the subcommand, printing one line per topic.
pub fn run(args: &TopicsArgs, out: &mut impl std::io::Write) -> Result<(), TopicsCommandError> {
    let properties = parse_properties(&args.property)?;
    let mut config = rdkafka::ClientConfig::new();
    config.set("bootstrap.servers", &args.bootstrap_servers);
    for (k, v) in properties.iter() {
        config.set(k, v);
    }
    let admin: AdminClient<DefaultClientContext> = config.create()?;
    let topics = Topics::with_prefix(&args.topic_prefix);
    let specs = plan(&topics, args.partitions);
    let mode = if args.verify_only {
        Mode::VerifyOnly
    } else {
        Mode::Create
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let report = runtime.block_on(ensure(
        &admin,
        &topics,
        &specs,
        args.replication_factor,
        mode,
    ))?;
    for name in &report.created {
        let _ = writeln!(out, "created  {name}");
    }
    for name in &report.verified {
        let _ = writeln!(out, "verified {name}");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn properties_parse_and_owned_ones_are_refused() {
        let ok = parse_properties(&["security.protocol=SSL".into()]).unwrap();
        assert_eq!(
            ok.iter().collect::<Vec<_>>(),
            [("security.protocol", "SSL")]
        );
        assert!(parse_properties(&["novalue".into()]).is_err());
        assert!(parse_properties(&["=x".into()]).is_err());
        assert!(parse_properties(&["isolation.level=read_uncommitted".into()]).is_err());
    }
}
