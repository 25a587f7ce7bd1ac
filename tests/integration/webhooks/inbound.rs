//! Inbound webhooks: `POST /webhooks/{source}` on `serve`, processed by the real worker. A
//! signed `order.placed` becomes `Allocate` commands; a redelivery of the same webhook is
//! accepted again but changes nothing; bad signatures and stale timestamps get 401 and are
//! counted.

use std::time::Duration;

use allocation_worker::adapters::contracts::WireMessage;
use allocation_worker::adapters::webhooks::WebhookSecret;
use allocation_worker::runtime::config::Topics;
use serde_json::{json, Value};

use super::{codec, config_file, SECRET};
use crate::harness::{read_all, unique, Isolation};
use crate::http::support::{fresh_topics, sample, wait_ok, Service};

async fn post_webhook(
    client: &reqwest::Client,
    url: &str,
    secret: &str,
    id: &str,
    timestamp: i64,
    body: &Value,
) -> (u16, Value) {
    let body = body.to_string();
    let signature = WebhookSecret::parse(secret)
        .unwrap()
        .sign(id, timestamp, body.as_bytes());
    let response = client
        .post(url)
        .header("content-type", "application/json")
        .header("webhook-id", id)
        .header("webhook-timestamp", timestamp.to_string())
        .header("webhook-signature", signature)
        .body(body)
        .send()
        .await
        .expect("POST /webhooks");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

fn order(orderid: &str, qty: i64) -> Value {
    json!({"type": "order.placed", "timestamp": "2031-01-01T00:00:00Z",
           "data": {"order_id": orderid, "lines": [{"sku": "LAMP", "quantity": qty}]}})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn signed_webhooks_become_commands_once_and_forgeries_are_refused_and_counted() {
    let prefix = fresh_topics("hooks-in", 2).await;
    let config = config_file(
        "hooks-in",
        &format!(
            "topic_prefix = \"{prefix}\"\n[[webhooks.sources]]\nname = \"shop\"\nsecret = \"{SECRET}\"\n"
        ),
    );
    let config = config.display().to_string();
    let group = unique("hooks-in-group");
    let mut worker = Service::start(
        "run-hooks-in",
        &["run", "--config", &config, "--group-id", &group],
        &[("TRANSACTIONAL_ID", &format!("{prefix}w0"))],
    )
    .await;
    let mut serve = Service::start("serve-hooks-in", &["serve", "--config", &config], &[]).await;
    let run_url = worker.base_url().await;
    let serve_url = serve.base_url().await;
    let client = reqwest::Client::new();
    wait_ok(
        &client,
        &format!("{run_url}/readyz"),
        Duration::from_secs(45),
    )
    .await;
    wait_ok(
        &client,
        &format!("{serve_url}/readyz"),
        Duration::from_secs(45),
    )
    .await;

    let created = client
        .post(format!("{serve_url}/commands/create-batch"))
        .body(r#"{"reference":"b1","sku":"LAMP","qty":10}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(created.status().as_u16(), 202);

    let hook = format!("{serve_url}/webhooks/shop");
    let now = chrono::Utc::now().timestamp();
    let (status, first) = post_webhook(&client, &hook, SECRET, "evt_1", now, &order("o1", 2)).await;
    assert_eq!(status, 202, "{first}");
    let command_id = first["command_ids"][0]
        .as_str()
        .expect("command id")
        .to_owned();
    let view: Value = client
        .get(format!(
            "{serve_url}/allocations/o1?wait_for={command_id}&timeout_ms=30000"
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(view["reflected"], true, "{view}\n{}", worker.log());
    assert_eq!(
        view["allocations"],
        json!([{"sku": "LAMP", "batchref": "b1"}])
    );

    // The sender retries the same webhook (same id, new timestamp and signature): accepted,
    // same command ids, and the worker applies it once.
    let (status, again) =
        post_webhook(&client, &hook, SECRET, "evt_1", now + 1, &order("o1", 2)).await;
    assert_eq!(status, 202, "{again}");
    assert_eq!(again["command_ids"], first["command_ids"]);
    // A later webhook on the same sku (same partition) shows the redelivery was processed.
    let (status, later) = post_webhook(&client, &hook, SECRET, "evt_2", now, &order("o2", 1)).await;
    assert_eq!(status, 202, "{later}");
    let later_id = later["command_ids"][0].as_str().unwrap().to_owned();
    let view: Value = client
        .get(format!(
            "{serve_url}/allocations/o2?wait_for={later_id}&timeout_ms=30000"
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(view["reflected"], true, "{view}");
    let codec = codec().await;
    let topics = Topics::with_prefix(&prefix);
    let mut allocated_o1 = 0;
    for record in read_all(&topics.events, Isolation::ReadCommitted).await {
        let decoded = codec
            .decode(record.payload.as_deref())
            .await
            .expect("event");
        if let WireMessage::Allocated(a) = decoded.message {
            if a.orderid == "o1" {
                allocated_o1 += 1;
            }
        }
    }
    assert_eq!(allocated_o1, 1, "the redelivered webhook was applied twice");

    // Forgeries: a wrong key, a stale timestamp, a tampered body; an unknown source.
    let wrong = WebhookSecret::from_key(b"not the shop's key".to_vec()).to_whsec();
    let (status, _) = post_webhook(&client, &hook, &wrong, "evt_3", now, &order("o3", 1)).await;
    assert_eq!(status, 401);
    let (status, _) =
        post_webhook(&client, &hook, SECRET, "evt_4", now - 3600, &order("o4", 1)).await;
    assert_eq!(status, 401);
    let tampered = client
        .post(&hook)
        .header("webhook-id", "evt_1")
        .header("webhook-timestamp", now.to_string())
        .header(
            "webhook-signature",
            WebhookSecret::parse(SECRET).unwrap().sign(
                "evt_1",
                now,
                order("o1", 2).to_string().as_bytes(),
            ),
        )
        .body(order("o1", 9).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(tampered.status().as_u16(), 401);
    let (status, _) = post_webhook(
        &client,
        &format!("{serve_url}/webhooks/elsewhere"),
        SECRET,
        "evt_5",
        now,
        &order("o5", 1),
    )
    .await;
    assert_eq!(status, 404);
    let (status, body) = post_webhook(
        &client,
        &hook,
        SECRET,
        "evt_6",
        now,
        &json!({"type": "invoice.paid", "data": {}}),
    )
    .await;
    assert_eq!(status, 400, "{body}");

    let metrics = client
        .get(format!("{serve_url}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let series = |outcome: &str| {
        sample(
            &metrics,
            &format!(
                r#"allocation_worker_webhooks_received_total{{source="shop",outcome="{outcome}"}}"#
            ),
        )
    };
    assert_eq!(series("unauthorized"), Some(3.0), "{metrics}");
    assert_eq!(series("accepted"), Some(3.0), "{metrics}");
    assert_eq!(series("invalid"), Some(1.0), "{metrics}");
    assert!(!metrics.contains("MfKQ"), "a secret reached the metrics");
    assert!(!serve.log().contains("MfKQ"), "a secret reached the log");
    serve.terminate(Duration::from_secs(15)).await;
    worker.terminate(Duration::from_secs(30)).await;
}
