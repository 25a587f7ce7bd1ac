//! `allocation-worker topics`: create (or only verify) every topic of the contract with its
//! configuration — partition count, compaction for the changelog and the view — and refuse a
//! changelog that is not co-partitioned with the command topic.
//!
//! Exit codes: 0 when every topic exists as configured; 1 when Kafka refused or a topic
//! differs; 2 on invalid configuration.

use rdkafka::admin::AdminClient;
use rdkafka::client::DefaultClientContext;

use crate::entrypoints::settings::{client_error, split_property, ConnectionArgs, SettingsError};
use crate::runtime::config::KafkaProperties;
use crate::runtime::scope::{ClientKind, ForClient};
use crate::runtime::topics::{ensure, plan, Mode};

/// Arguments of `allocation-worker topics`.
#[derive(Debug, clap::Args)]
pub struct TopicsArgs {
    #[command(flatten)]
    pub connection: ConnectionArgs,
    /// Partitions of each topic created (the changelog gets the command topic's count).
    #[arg(long, default_value_t = 8)]
    pub partitions: i32,
    /// Replication factor of each topic created; -1 takes the broker's default.
    #[arg(long, default_value_t = -1)]
    pub replication_factor: i32,
    /// Only verify; create nothing.
    #[arg(long)]
    pub verify_only: bool,
}

/// Why `topics` failed.
#[derive(Debug, thiserror::Error)]
pub enum TopicsCommandError {
    #[error("invalid configuration: {0}")]
    Settings(#[from] SettingsError),
    #[error("invalid configuration: {0}")]
    Config(#[from] crate::runtime::config::ConfigError),
    #[error(transparent)]
    Topics(#[from] crate::runtime::topics::TopicsError),
    #[error("cannot start the async runtime: {0}")]
    Runtime(#[from] std::io::Error),
}

impl TopicsCommandError {
    /// The process exit code for this error.
    pub fn exit_code(&self) -> u8 {
        match self {
            Self::Settings(_) | Self::Config(_) => 2,
            Self::Topics(_) | Self::Runtime(_) => 1,
        }
    }
}

/// Parses `key=value` pass-through properties.
pub fn parse_properties(raw: &[String]) -> Result<KafkaProperties, TopicsCommandError> {
    let mut properties = KafkaProperties::new();
    for item in raw {
        let (k, v) = split_property(item)?;
        properties.set(&k, &v)?;
    }
    Ok(properties)
}

/// Runs the subcommand, printing one line per topic.
pub fn run(args: &TopicsArgs, out: &mut impl std::io::Write) -> Result<(), TopicsCommandError> {
    let file = args.connection.file()?;
    let connection = args.connection.resolve(&file)?;
    if args.partitions < 1 {
        return Err(SettingsError::Invalid {
            what: "--partitions",
            message: "must be at least 1".into(),
        }
        .into());
    }
    // Refused credentials or certificates: one line, exit 2. An unreachable cluster is left
    // to the admin requests below (their timeout and error).
    connection.check_connection()?;
    let admin: AdminClient<DefaultClientContext> = connection
        .client_config()
        .for_client(ClientKind::Producer)
        .create()
        .map_err(|e| client_error(&e))?;
    let topics = connection.topics.clone();
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
