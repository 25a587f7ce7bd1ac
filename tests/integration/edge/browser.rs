//! The live page in a real headless Chromium: the worker and `serve` run as in production,
//! `tests/browser/live_page.cjs` (Node + playwright-core, the system `chromium` as
//! `executablePath`) uses the page's forms to create a batch and allocate an order line, and
//! waits until both events show in the page's feed and the allocation in its table. This test
//! then checks the same facts through the API and the committed topic.
//!
//! The tools come from `scripts/browser-tools install` (run by `scripts/test`; `.ci/run`
//! installs the system packages). Missing tools fail this test loudly, never skip it.

use std::path::PathBuf;
use std::process::Command;

use serde_json::Value;

use super::sse::Pair;
use crate::harness::{read_all, unique, Isolation};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `NODE`, `CHROMIUM`, `PLAYWRIGHT_CORE` as located by `scripts/browser-tools env`.
fn tools() -> Vec<(String, String)> {
    let out = Command::new(repo().join("scripts/browser-tools"))
        .arg("env")
        .output()
        .expect("running scripts/browser-tools env");
    assert!(
        out.status.success(),
        "the browser test needs node, chromium and playwright-core: run `scripts/browser-tools install` \
         (CI: .ci/run installs the system packages, scripts/test the rest)\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_command_sent_from_the_live_page_shows_in_its_feed_and_allocations() {
    let tools = tools();
    let node = tools
        .iter()
        .find(|(k, _)| k == "NODE")
        .map(|(_, v)| v.clone())
        .expect("NODE from scripts/browser-tools env");
    let pair = Pair::start("browser", 2, &[]).await;
    let id = unique("page");
    let (sku, batch, orderid) = (
        format!("SKU-{id}"),
        format!("batch-{id}"),
        format!("order-{id}"),
    );
    let mut command = Command::new(node);
    command
        .arg(repo().join("tests/browser/live_page.cjs"))
        .envs(tools.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .env("BASE_URL", &pair.url)
        .env("SKU", &sku)
        .env("BATCH", &batch)
        .env("ORDERID", &orderid);
    let out = tokio::task::spawn_blocking(move || command.output())
        .await
        .expect("node task")
        .expect("running node");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stdout.lines().any(|l| l == "live page: ok"),
        "the browser test failed ({}):\n{stdout}\n{stderr}\nserve log:\n{}",
        out.status,
        pair.serve.log()
    );
    eprintln!("{stdout}");

    // What the page showed is what the system holds.
    let answer: Value = pair
        .client
        .get(format!("{}/allocations/{orderid}", pair.url))
        .send()
        .await
        .expect("GET /allocations")
        .json()
        .await
        .expect("JSON");
    assert_eq!(
        answer["allocations"],
        serde_json::json!([{"sku": sku, "batchref": batch}]),
        "{answer}"
    );
    let events = read_all(
        &format!("{}allocation.events", pair.prefix),
        Isolation::ReadCommitted,
    )
    .await;
    let types: Vec<String> = events
        .iter()
        .filter_map(|r| r.headers.get("message-type"))
        .map(|v| String::from_utf8_lossy(v).into_owned())
        .collect();
    assert_eq!(
        types,
        [
            "allocation.events.BatchCreated",
            "allocation.events.Allocated"
        ],
        "committed events"
    );
}
