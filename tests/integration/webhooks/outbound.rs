//! Outbound delivery to two real receivers (plain and CloudEvents): failures on purpose,
//! every committed event in order per sku with no gap, nothing of an aborted transaction, no
//! redelivery of acknowledged events across a restart of `webhooks run`.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use allocation_worker::adapters::contracts::{records, WireMessage};
use allocation_worker::runtime::config::Topics;

use super::{
    allocated, codec, config_file, produce, receiver, sequences, start_hooks, wait_distinct, SECRET,
};
use crate::harness::{transactional_producer, unique};
use crate::http::support::{fresh_topics, sample};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_committed_event_reaches_every_subscriber_in_order_across_failures_and_a_restart() {
    let prefix = fresh_topics("hooks-out", 3).await;
    let topics = Topics::with_prefix(&prefix);
    let codec = codec().await;
    codec.prepare(&topics).await.expect("schemas");
    let all = receiver::start(SECRET, 5).await;
    let ce = receiver::start(SECRET, 0).await;
    let config = config_file(
        "hooks-out",
        &format!(
            r#"topic_prefix = "{prefix}"
            [webhooks]
            max_attempts = 50
            backoff_initial_ms = 10
            backoff_max_ms = 100
            [[webhooks.subscriptions]]
            name = "all"
            url = "{}"
            secret = "{SECRET}"
            [[webhooks.subscriptions]]
            name = "allocated-ce"
            url = "{}"
            event_types = ["Allocated"]
            cloudevents = true
            secret = "{SECRET}"
            "#,
            all.url, ce.url
        ),
    );
    let producer = Arc::new(transactional_producer(&unique("hooks-out-producer")).await);
    let skus = ["LAMP", "CHAIR", "TABLE", "SOFA"];
    let batch = |from: i64, to: i64| -> Vec<(String, WireMessage)> {
        let mut events = Vec::new();
        for seq in from..=to {
            for sku in skus {
                events.push((sku.to_owned(), allocated(sku, seq)));
            }
        }
        events
    };
    produce(&producer, &codec, &topics, batch(1, 10), true).await;
    // Uncommitted data never leaves: an aborted transaction in the middle.
    let aborted = vec![("LAMP".to_owned(), allocated("ABORTED", 99))];
    produce(&producer, &codec, &topics, aborted, false).await;
    let out_of_stock: Vec<_> = skus
        .iter()
        .map(|s| {
            let m = WireMessage::from(records::OutOfStock {
                sku: (*s).into(),
                orderid: "none".into(),
            });
            ((*s).to_owned(), m)
        })
        .collect();
    produce(&producer, &codec, &topics, out_of_stock, true).await;

    let group = unique("hooks-out-group");
    let mut hooks = start_hooks("webhooks-1", &config, &group).await;
    wait_distinct("all (first run)", || all.state.deliveries(), 44).await;
    wait_distinct("allocated-ce (first run)", || ce.state.deliveries(), 40).await;
    let status = hooks.terminate(Duration::from_secs(30)).await;
    assert!(
        status.is_some_and(|s| s.success()),
        "webhooks run did not stop cleanly: {status:?}\n{}",
        hooks.log()
    );
    let before_all = all.state.deliveries().len();
    let before_ce = ce.state.deliveries().len();

    produce(&producer, &codec, &topics, batch(11, 20), true).await;
    let mut hooks = start_hooks("webhooks-2", &config, &group).await;
    wait_distinct("all (after restart)", || all.state.deliveries(), 84).await;
    wait_distinct("allocated-ce (after restart)", || ce.state.deliveries(), 80).await;
    let metrics_url = format!("{}/metrics", hooks.base_url().await);
    let metrics = reqwest::get(&metrics_url)
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    hooks.terminate(Duration::from_secs(30)).await;

    let all_deliveries = all.state.deliveries();
    let ce_deliveries = ce.state.deliveries();
    // Every request was correctly signed; the receiver failed exactly the ones it was told to.
    assert_eq!(
        all.state
            .bad_signatures
            .load(std::sync::atomic::Ordering::SeqCst),
        0
    );
    assert_eq!(
        ce.state
            .bad_signatures
            .load(std::sync::atomic::Ordering::SeqCst),
        0
    );
    assert_eq!(
        all.state.failed.load(std::sync::atomic::Ordering::SeqCst),
        5
    );
    // In order per sku, no gap, nothing from the aborted transaction.
    let expected: BTreeMap<String, Vec<i64>> = skus
        .iter()
        .map(|s| ((*s).to_owned(), (1..=20).collect()))
        .collect();
    assert_eq!(sequences(&all_deliveries, |d| &d.body["data"]), expected);
    assert_eq!(sequences(&ce_deliveries, |d| &d.body["data"]), expected);
    // The restart neither lost nor flooded: nothing acknowledged before it came again.
    let first_run: std::collections::HashSet<_> = all_deliveries[..before_all]
        .iter()
        .map(|d| &d.webhook_id)
        .collect();
    assert!(
        all_deliveries[before_all..]
            .iter()
            .all(|d| !first_run.contains(&d.webhook_id)),
        "events acknowledged before the restart were delivered again"
    );
    let first_run_ce: std::collections::HashSet<_> = ce_deliveries[..before_ce]
        .iter()
        .map(|d| &d.webhook_id)
        .collect();
    assert!(ce_deliveries[before_ce..]
        .iter()
        .all(|d| !first_run_ce.contains(&d.webhook_id)));
    // The plain form and the CloudEvents form.
    let oos = all_deliveries
        .iter()
        .filter(|d| d.body["type"] == "allocation.events.OutOfStock")
        .count();
    assert_eq!(oos, 4);
    for d in &all_deliveries {
        assert_eq!(d.content_type, "application/json");
        assert!(d.webhook_id.starts_with("msg_"), "{}", d.webhook_id);
        assert_eq!(d.body["type"], d.body["data"]["type"]);
    }
    for d in &ce_deliveries {
        assert_eq!(d.content_type, "application/cloudevents+json");
        assert_eq!(d.body["specversion"], "1.0");
        assert_eq!(d.body["id"], d.webhook_id.as_str());
        assert_eq!(d.body["type"], "allocation.events.Allocated");
        assert_eq!(d.body["subject"], d.body["data"]["sku"]);
    }
    // Metrics of the second run: 40 + 40 events delivered, nothing parked.
    assert_eq!(
        sample(
            &metrics,
            r#"allocation_worker_webhook_events_total{subscriber="all",outcome="delivered"}"#
        ),
        Some(40.0),
        "{metrics}"
    );
    assert_eq!(
        sample(
            &metrics,
            r#"allocation_worker_webhook_parked{subscriber="all"}"#
        ),
        Some(0.0),
        "{metrics}"
    );
}
