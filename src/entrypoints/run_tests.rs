//! Unit tests of `run`'s configuration layering.

use super::*;
use clap::Parser;

#[derive(Debug, Parser)]
struct Cli {
    #[command(flatten)]
    run: RunArgs,
}

fn parse(args: &[&str]) -> RunArgs {
    let mut all = vec![
        "x",
        "--bootstrap-servers",
        "b:9092",
        "--schema-registry-url",
        "http://r",
    ];
    all.extend_from_slice(args);
    Cli::parse_from(all).run
}

#[test]
fn exactly_once_needs_a_transactional_id() {
    let err = parse(&[]).resolve().expect_err("no transactional id");
    assert_eq!(err.exit_code(), 2);
    assert!(parse(&["--transactional-id", "pod-0"]).resolve().is_ok());
    assert!(parse(&["--guarantee", "at-least-once"]).resolve().is_ok());
}

#[test]
fn flags_reach_the_settings() {
    let s = parse(&[
        "--transactional-id",
        "pod-1",
        "--topic-prefix",
        "dev.",
        "--commit-interval-ms",
        "10",
        "--max-batch",
        "7",
        "-X",
        "security.protocol=SSL",
    ])
    .resolve()
    .unwrap()
    .settings;
    assert_eq!(s.transactional_id, "pod-1");
    assert_eq!(s.topics.commands, "dev.allocation.commands");
    assert_eq!(s.commit_interval, Duration::from_millis(10));
    assert_eq!(s.max_batch_records, 7);
    assert_eq!(s.consumer_config().get("security.protocol"), Some("SSL"));
}

#[test]
fn invalid_registration_mode_is_a_config_error() {
    let mut args = parse(&["--transactional-id", "p"]);
    args.schema_registration = Some("sometimes".into());
    assert_eq!(args.resolve().unwrap_err().exit_code(), 2);
}

#[test]
fn the_config_file_sits_between_defaults_and_flags() {
    let file = ConfigFile::parse(
        "transactional_id = \"file-0\"\nmax_batch = 9\ncommit_interval_ms = 50\n\
         guarantee = \"at-least-once\"\nhttp_addr = \"127.0.0.1:9\"\n",
    )
    .unwrap();
    let c = parse(&["--max-batch", "3"]).resolve_with(&file).unwrap();
    assert_eq!(c.settings.transactional_id, "file-0");
    assert_eq!(c.settings.max_batch_records, 3);
    assert_eq!(c.settings.commit_interval, Duration::from_millis(50));
    assert_eq!(c.settings.guarantee, Guarantee::AtLeastOnce);
    assert_eq!(c.http_addr, "127.0.0.1:9");
    let c = parse(&["--transactional-id", "p"]).resolve().unwrap();
    assert_eq!(c.http_addr, "0.0.0.0:8080");
    assert_eq!(c.settings.session_timeout, Duration::from_secs(10));
    assert!(
        parse(&["--transactional-id", "p", "--http-addr", "nowhere"])
            .resolve()
            .is_err()
    );
    let bad = ConfigFile::parse("guarantee = \"maybe\"").unwrap();
    assert_eq!(parse(&[]).resolve_with(&bad).unwrap_err().exit_code(), 2);
}
