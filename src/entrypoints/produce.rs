//! `allocation-worker produce`: send commands to the command topic — one from flags, or many
//! from JSON lines (the contract's JSON form, e.g.
//! `{"type":"allocation.commands.Allocate","orderid":"o1","sku":"LAMP","qty":2}`).
//!
//! Every command is validated before it is sent (an invalid one is refused with its line
//! number, nothing of the file is sent), encoded as Avro through the registry, keyed by sku,
//! given fresh envelope headers, and produced with an idempotent producer using the Java
//! client's partitioner. The command ids are printed, one per line, in input order.
//!
//! Exit codes: 0 when every command was acknowledged; 1 when sending failed; 2 on invalid
//! configuration or input.

use std::io::BufRead;
use std::time::Duration;

use chrono::Utc;
use rdkafka::producer::{FutureProducer, FutureRecord};
use serde_json::json;

use crate::adapters::codec::{Codec, Registration};
use crate::adapters::contracts::{domain::to_command, WireMessage};
use crate::adapters::envelope::MessageMeta;
use crate::domain::Command;
use crate::entrypoints::settings::{client_error, ConnectionArgs};
use crate::runtime::scope::{ClientKind, ForClient};

/// Arguments of `allocation-worker produce`.
#[derive(Debug, clap::Args)]
pub struct ProduceArgs {
    #[command(flatten)]
    pub connection: ConnectionArgs,
    /// Read commands as JSON lines from this file (`-` for standard input).
    #[arg(long, conflicts_with = "json")]
    pub file: Option<String>,
    /// One command in its JSON form (repeatable).
    #[arg(long)]
    pub json: Vec<String>,
    #[command(subcommand)]
    pub command: Option<CommandArgs>,
}

/// One command from flags.
#[derive(Debug, clap::Subcommand)]
pub enum CommandArgs {
    /// Register a batch of stock.
    CreateBatch {
        #[arg(long)]
        reference: String,
        #[arg(long)]
        sku: String,
        #[arg(long)]
        qty: i64,
        /// Expected arrival (YYYY-MM-DD); omit for stock in the warehouse.
        #[arg(long)]
        eta: Option<String>,
    },
    /// Allocate an order line.
    Allocate {
        #[arg(long)]
        orderid: String,
        #[arg(long)]
        sku: String,
        #[arg(long)]
        qty: i64,
    },
    /// Change a batch's purchased quantity.
    ChangeBatchQuantity {
        #[arg(long)]
        reference: String,
        #[arg(long)]
        sku: String,
        #[arg(long)]
        qty: i64,
    },
    /// Release an order's line.
    Deallocate {
        #[arg(long)]
        orderid: String,
        #[arg(long)]
        sku: String,
    },
}

impl CommandArgs {
    fn to_json(&self) -> serde_json::Value {
        match self {
            CommandArgs::CreateBatch {
                reference,
                sku,
                qty,
                eta,
            } => json!({
                "type": "allocation.commands.CreateBatch",
                "reference": reference, "sku": sku, "qty": qty, "eta": eta }),
            CommandArgs::Allocate { orderid, sku, qty } => json!({
                "type": "allocation.commands.Allocate", "orderid": orderid, "sku": sku, "qty": qty }),
            CommandArgs::ChangeBatchQuantity {
                reference,
                sku,
                qty,
            } => json!({
                "type": "allocation.commands.ChangeBatchQuantity",
                "reference": reference, "sku": sku, "qty": qty }),
            CommandArgs::Deallocate { orderid, sku } => json!({
                "type": "allocation.commands.Deallocate", "orderid": orderid, "sku": sku }),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ProduceError {
    #[error("invalid input: {0}")]
    Input(String),
    #[error("invalid configuration: {0}")]
    Config(#[from] crate::entrypoints::settings::SettingsError),
    #[error("{0}")]
    Failed(String),
}

impl ProduceError {
    pub fn exit_code(&self) -> u8 {
        match self {
            ProduceError::Input(_) | ProduceError::Config(_) => 2,
            ProduceError::Failed(_) => 1,
        }
    }
}

/// Parses and validates one command in its JSON form.
pub fn parse_command(text: &str) -> Result<Command, String> {
    let message = WireMessage::from_json(text).map_err(|e| e.to_string())?;
    let record = message.record_type().full_name();
    match to_command(message) {
        Ok(Some(command)) => Ok(command),
        Ok(None) => Err(format!("{record} is not a command")),
        Err(e) => Err(e.to_string()),
    }
}

fn read_commands(args: &ProduceArgs) -> Result<Vec<Command>, ProduceError> {
    let mut lines: Vec<(String, String)> = Vec::new();
    if let Some(command) = &args.command {
        lines.push(("flags".into(), command.to_json().to_string()));
    }
    for (i, text) in args.json.iter().enumerate() {
        lines.push((format!("--json #{}", i + 1), text.clone()));
    }
    if let Some(path) = &args.file {
        let reader: Box<dyn BufRead> = if path == "-" {
            Box::new(std::io::stdin().lock())
        } else {
            let file = std::fs::File::open(path)
                .map_err(|e| ProduceError::Input(format!("{path}: {e}")))?;
            Box::new(std::io::BufReader::new(file))
        };
        for (n, line) in reader.lines().enumerate() {
            let line = line.map_err(|e| ProduceError::Input(format!("{path}: {e}")))?;
            if !line.trim().is_empty() {
                lines.push((format!("{path}:{}", n + 1), line));
            }
        }
    }
    if lines.is_empty() {
        return Err(ProduceError::Input(
            "nothing to send: give a command subcommand, --json or --file".into(),
        ));
    }
    lines
        .iter()
        .map(|(at, text)| {
            parse_command(text).map_err(|e| ProduceError::Input(format!("{at}: {e}")))
        })
        .collect()
}

/// Sends the commands and prints their ids.
pub fn run(args: &ProduceArgs, out: &mut impl std::io::Write) -> Result<(), ProduceError> {
    let file = args.connection.file()?;
    let connection = args.connection.resolve(&file)?;
    let registry = connection.registry(Registration::AutoRegister)?;
    let commands = read_commands(args)?;
    connection.check_connection()?;
    let mut config = connection.client_config();
    config
        .set("enable.idempotence", "true")
        .set("partitioner", "murmur2_random");
    let producer: FutureProducer = config
        .for_client(ClientKind::Producer)
        .create()
        .map_err(|e| client_error(&e))?;
    let topics = connection.topics.clone();
    let codec = Codec::new(&registry).map_err(|e| ProduceError::Failed(e.to_string()))?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| ProduceError::Failed(e.to_string()))?;
    rt.block_on(async {
        for command in &commands {
            let meta = MessageMeta::root(command.type_name(), Utc::now());
            let record = codec
                .encode_command(&topics, command, &meta)
                .await
                .map_err(|e| ProduceError::Failed(e.to_string()))?;
            let payload = record.payload.unwrap_or_default();
            let future = producer.send(
                FutureRecord::to(&record.topic)
                    .key(&record.key)
                    .payload(&payload)
                    .headers(record.headers.to_rdkafka()),
                Duration::from_secs(30),
            );
            future.await.map_err(|(e, _)| {
                ProduceError::Failed(format!("sending {}: {e}", meta.message_id))
            })?;
            let _ = writeln!(out, "{}", meta.message_id);
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_commands_are_validated() {
        assert!(parse_command(
            r#"{"type":"allocation.commands.Allocate","orderid":"o1","sku":"LAMP","qty":2}"#
        )
        .is_ok());
        let zero = parse_command(
            r#"{"type":"allocation.commands.Allocate","orderid":"o1","sku":"LAMP","qty":0}"#,
        );
        assert!(zero.is_err(), "{zero:?}");
        let event =
            parse_command(r#"{"type":"allocation.events.OutOfStock","sku":"LAMP","orderid":"o1"}"#);
        assert!(event.unwrap_err().contains("not a command"));
    }

    #[test]
    fn flag_commands_map_to_the_contract() {
        let args = CommandArgs::CreateBatch {
            reference: "b1".into(),
            sku: "LAMP".into(),
            qty: 10,
            eta: Some("2026-12-24".into()),
        };
        assert!(parse_command(&args.to_json().to_string()).is_ok());
    }
}
