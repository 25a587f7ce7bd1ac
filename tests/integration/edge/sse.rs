//! A minimal Server-Sent Events reader for the tests (reqwest chunks → events), plus the
//! running worker + `serve` pair the live-event tests talk to.

use std::time::Duration;

use serde_json::Value;

use crate::http::support::{fresh_topics, wait_ok, Service};

/// How long a test waits for an expected event before failing.
pub const EVENT_WAIT: Duration = Duration::from_secs(60);

/// One SSE event (comments are counted, not returned).
#[derive(Debug, Clone)]
pub struct SseEvent {
    pub event: String,
    pub id: Option<String>,
    pub data: String,
}

impl SseEvent {
    /// The data as JSON (every event of the stream carries JSON).
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.data).unwrap_or_else(|e| panic!("{e}: {self:?}"))
    }

    /// `(partition, offset)` of an event of the topic.
    pub fn position(&self) -> (i64, i64) {
        let v = self.json();
        (
            v["partition"].as_i64().expect("partition"),
            v["offset"].as_i64().expect("offset"),
        )
    }
}

/// An open `/events/stream` response.
pub struct SseStream {
    response: reqwest::Response,
    buffer: String,
    pub heartbeats: usize,
    /// The `id` of the last event received.
    pub last_id: Option<String>,
}

impl SseStream {
    /// Opens `url` (with `Last-Event-ID` when given); asserts a 200 event stream.
    pub async fn open(client: &reqwest::Client, url: &str, last_event_id: Option<&str>) -> Self {
        let mut request = client.get(url).header("accept", "text/event-stream");
        if let Some(id) = last_event_id {
            request = request.header("last-event-id", id);
        }
        let response = request.send().await.expect("GET /events/stream");
        let status = response.status();
        let content_type = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        assert_eq!(status.as_u16(), 200, "{url}: {:?}", response.text().await);
        assert!(
            content_type.starts_with("text/event-stream"),
            "{content_type}"
        );
        SseStream {
            response,
            buffer: String::new(),
            heartbeats: 0,
            last_id: None,
        }
    }

    /// The next event (any type); `None` when the server ended the stream. Fails the test if
    /// nothing arrives within [`EVENT_WAIT`].
    pub async fn next(&mut self) -> Option<SseEvent> {
        let deadline = tokio::time::Instant::now() + EVENT_WAIT;
        loop {
            while let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                if let Some(event) = self.parse(&block) {
                    return Some(event);
                }
            }
            let chunk = tokio::time::timeout_at(deadline, self.response.chunk())
                .await
                .expect("no event within the wait (heartbeats only)")
                .expect("reading the stream")?;
            self.buffer.push_str(&String::from_utf8_lossy(&chunk));
        }
    }

    /// The next event of the topic (skipping the `position` event).
    pub async fn next_message(&mut self) -> SseEvent {
        loop {
            let event = self.next().await.expect("the stream ended");
            if event.event == "message" {
                return event;
            }
        }
    }

    /// `n` events of the topic.
    pub async fn messages(&mut self, n: usize) -> Vec<SseEvent> {
        let mut out = Vec::with_capacity(n);
        while out.len() < n {
            out.push(self.next_message().await);
        }
        out
    }

    /// Reads until a heartbeat comment arrives.
    pub async fn wait_heartbeat(&mut self) {
        let before = self.heartbeats;
        while self.heartbeats == before {
            if self.buffer.is_empty() || !self.buffer.contains("\n\n") {
                let chunk = tokio::time::timeout(EVENT_WAIT, self.response.chunk())
                    .await
                    .expect("no heartbeat within the wait")
                    .expect("reading the stream")
                    .expect("the stream ended");
                self.buffer.push_str(&String::from_utf8_lossy(&chunk));
            }
            while let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                let _ = self.parse(&block);
            }
        }
    }

    fn parse(&mut self, block: &str) -> Option<SseEvent> {
        let mut event = SseEvent {
            event: "message".into(),
            id: None,
            data: String::new(),
        };
        let mut fields = false;
        for line in block.lines().filter(|l| !l.is_empty()) {
            if line.starts_with(':') {
                self.heartbeats += 1;
                continue;
            }
            let (name, value) = line.split_once(':').unwrap_or((line, ""));
            let value = value.strip_prefix(' ').unwrap_or(value);
            fields = true;
            match name {
                "event" => event.event = value.into(),
                "id" => event.id = Some(value.into()),
                "data" => {
                    if !event.data.is_empty() {
                        event.data.push('\n');
                    }
                    event.data.push_str(value);
                }
                _ => {}
            }
        }
        if !fields {
            return None;
        }
        if event.id.is_some() {
            self.last_id.clone_from(&event.id);
        }
        Some(event)
    }
}

/// A worker and a `serve` on fresh topics, both ready.
pub struct Pair {
    pub prefix: String,
    pub url: String,
    pub _worker: Service,
    pub serve: Service,
    pub client: reqwest::Client,
}

impl Pair {
    pub async fn start(test: &str, partitions: i32, serve_env: &[(&str, &str)]) -> Self {
        let prefix = fresh_topics(test, partitions).await;
        let group = format!("{prefix}group");
        let txn = format!("{prefix}w0");
        let mut worker = Service::start(
            "run",
            &["run", "--topic-prefix", &prefix, "--group-id", &group],
            &[("TRANSACTIONAL_ID", &txn)],
        )
        .await;
        let mut serve =
            Service::start("serve", &["serve", "--topic-prefix", &prefix], serve_env).await;
        let run_url = worker.base_url().await;
        let url = serve.base_url().await;
        let client = reqwest::Client::new();
        wait_ok(&client, &format!("{run_url}/readyz"), EVENT_WAIT).await;
        wait_ok(&client, &format!("{url}/readyz"), EVENT_WAIT).await;
        Pair {
            prefix,
            url,
            _worker: worker,
            serve,
            client,
        }
    }

    /// Posts a command; asserts 202.
    pub async fn command(&self, kind: &str, body: Value) {
        let response = self
            .client
            .post(format!("{}/commands/{kind}", self.url))
            .json(&body)
            .send()
            .await
            .expect("POST command");
        let status = response.status().as_u16();
        assert_eq!(status, 202, "{kind} {body}: {:?}", response.text().await);
    }

    /// A stream of `/events/stream<query>`.
    pub async fn stream(&self, query: &str, last_event_id: Option<&str>) -> SseStream {
        SseStream::open(
            &self.client,
            &format!("{}/events/stream{query}", self.url),
            last_event_id,
        )
        .await
    }

    pub async fn metrics(&self) -> String {
        self.client
            .get(format!("{}/metrics", self.url))
            .send()
            .await
            .expect("GET /metrics")
            .text()
            .await
            .expect("metrics body")
    }
}
