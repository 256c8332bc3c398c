//! Test support for the platform tests: [`Platform::start`] runs the real
//! hospital-beds, projection and gateway in this process, on free ports,
//! against a real `nats-server -js` and `redis-server`, with a small site
//! catalogue of its own.
#![forbid(unsafe_code)]
#![allow(clippy::unwrap_used, clippy::missing_panics_doc)] // test code: fail loudly

use std::path::PathBuf;
use std::time::{Duration, Instant};

use futures::{SinkExt as _, StreamExt as _};
use pf_hospital_model::Catalogue;
use pf_live_state::{Keys, LiveState};
use pf_test_support::{NatsServer, RedisServer};
use serde_json::Value;
use tokio::net::TcpListener;
use tokio_tungstenite::tungstenite::Message;
use tokio_util::sync::CancellationToken;

/// The catalogue the tests use: two real LLR sites with a few beds.
pub const TEST_CATALOGUE: &str = r#"{
  "region": "Test LLR",
  "trusts": [{
    "code": "RWE", "name": "University Hospitals of Leicester NHS Trust", "short_name": "UHL",
    "sites": [
      { "code": "RWEAA", "name": "Leicester Royal Infirmary", "kind": "acute", "locality": "Leicester City",
        "postcode": "LE1 5WW", "wards": [
          { "code": "WD15", "name": "Ward 15", "kind": "general_acute", "beds": 20, "escalation_beds": 4 }
      ] },
      { "code": "RWEAK", "name": "Glenfield Hospital", "kind": "acute", "locality": "Leicester City",
        "postcode": "LE3 9QP", "wards": [
          { "code": "CCU", "name": "Cardiac critical care", "kind": "adult_critical_care", "beds": 8 }
      ] }
    ]
  }]
}"#;

/// The whole platform, running until dropped.
pub struct Platform {
    /// The NATS server.
    pub nats: NatsServer,
    /// The Redis server.
    pub redis: RedisServer,
    /// `http://127.0.0.1:{port}` of hospital-beds.
    pub beds_url: String,
    /// `http://127.0.0.1:{port}` of the gateway.
    pub gateway_url: String,
    /// `http://127.0.0.1:{port}` of the projection's operational endpoints.
    pub projection_url: String,
    /// HTTP client.
    pub http: reqwest::Client,
    shutdown: CancellationToken,
}

async fn listener() -> (TcpListener, String) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    (listener, url)
}

/// The repository's `dashboards/` folder.
pub fn dashboards_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../dashboards")
}

impl Platform {
    /// Starts servers and services and waits until every service is ready.
    pub async fn start() -> Self {
        let nats = NatsServer::start();
        let redis = RedisServer::start();
        let shutdown = CancellationToken::new();
        let catalogue = Catalogue::from_json(TEST_CATALOGUE).unwrap();

        let (beds_listener, beds_url) = listener().await;
        let beds_config = pf_hospital_beds::BedsConfig::local(&nats.url());
        tokio::spawn(pf_hospital_beds::run(
            beds_listener,
            beds_config,
            catalogue.clone(),
            shutdown.clone(),
        ));

        let (projection_listener, projection_url) = listener().await;
        let projection_config = pf_projection::ProjectionConfig::local(&nats.url(), &redis.url());
        tokio::spawn(pf_projection::run(
            projection_listener,
            projection_config,
            false,
            shutdown.clone(),
        ));

        let (gateway_listener, gateway_url) = listener().await;
        let gateway_config = pf_gateway::GatewayConfig::local(&redis.url(), dashboards_dir());
        tokio::spawn(pf_gateway::run(
            gateway_listener,
            gateway_config,
            catalogue,
            shutdown.clone(),
        ));

        let platform = Self {
            nats,
            redis,
            beds_url,
            gateway_url,
            projection_url,
            http: reqwest::Client::new(),
            shutdown,
        };
        for url in [
            &platform.beds_url,
            &platform.projection_url,
            &platform.gateway_url,
        ] {
            platform.wait_ready(url).await;
        }
        platform
    }

    async fn wait_ready(&self, url: &str) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(response) = self.http.get(format!("{url}/readyz")).send().await
                && response.status().is_success()
            {
                return;
            }
            assert!(Instant::now() < deadline, "{url} did not become ready");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// POSTs JSON to hospital-beds; returns the status and the JSON answer.
    pub async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        let response = self
            .http
            .post(format!("{}{path}", self.beds_url))
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// Opens a bed (`SITE/WARD/BED`), asserting it was accepted.
    pub async fn open_bed(&self, bed: &str) {
        let (status, body) = self
            .post(&format!("/api/v1/beds/{bed}/open"), serde_json::json!({}))
            .await;
        assert_eq!(status, 201, "opening {bed}: {body}");
    }

    /// Moves a bed to a state, returning the status and answer.
    pub async fn set_state(&self, bed: &str, state: &str) -> (u16, Value) {
        self.post(
            &format!("/api/v1/beds/{bed}/state"),
            serde_json::json!({ "state": state, "reason": "test" }),
        )
        .await
    }

    /// A live-state handle on the platform's Redis, under `prefix`.
    pub async fn live_state(&self, prefix: &str) -> LiveState {
        LiveState::connect(
            &self.redis.url(),
            Keys::new(prefix),
            Duration::from_secs(10),
        )
        .await
        .unwrap()
    }

    /// A JetStream context on the platform's NATS.
    pub async fn jetstream(&self) -> async_nats::jetstream::Context {
        async_nats::jetstream::new(async_nats::connect(self.nats.url()).await.unwrap())
    }

    /// Waits until the live state's change version reaches `version`.
    pub async fn wait_for_version(&self, version: u64) {
        let mut live = self.live_state("pf:").await;
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let now = live.version().await.unwrap();
            if now >= version {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "live state stuck at version {now}, waiting for {version}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Waits until the projection's consumer has nothing pending.
    pub async fn wait_until_projected(&self) {
        let js = self.jetstream().await;
        let mut stream = js
            .get_stream(pf_event_log::streams::BEDS.name)
            .await
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let mut consumer: async_nats::jetstream::consumer::PullConsumer =
                stream.get_consumer("projection").await.unwrap();
            let info = consumer.info().await.unwrap();
            let last = stream.info().await.unwrap().state.last_sequence;
            if info.num_pending == 0
                && info.num_ack_pending == 0
                && info.ack_floor.stream_sequence >= last
            {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "projection did not catch up: {info:?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The text of a service's `/metrics`.
    pub async fn metrics(&self, base_url: &str) -> String {
        self.http
            .get(format!("{base_url}/metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }
}

impl Drop for Platform {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// A websocket client of `/ws/control-room`.
pub struct ControlRoomClient {
    socket: tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
}

impl ControlRoomClient {
    /// Connects, optionally resuming after `since`.
    pub async fn connect(gateway_url: &str, since: Option<u64>) -> Self {
        let mut url = format!("{}/ws/control-room", gateway_url.replacen("http", "ws", 1));
        if let Some(since) = since {
            url.push_str(&format!("?since={since}"));
        }
        let (socket, _) = tokio_tungstenite::connect_async(url).await.unwrap();
        Self { socket }
    }

    /// The next snapshot or delta (heartbeats skipped), within 10 s.
    pub async fn next(&mut self) -> Value {
        loop {
            let message = tokio::time::timeout(Duration::from_secs(10), self.socket.next())
                .await
                .expect("no message from the gateway within 10 s")
                .expect("the gateway closed the connection")
                .unwrap();
            if let Message::Text(text) = message {
                let value: Value = serde_json::from_str(&text).unwrap();
                if value["type"] != "heartbeat" {
                    return value;
                }
            }
        }
    }

    /// Closes the connection.
    pub async fn close(mut self) {
        let _ = self.socket.close(None).await;
        let _ = self.socket.flush().await;
    }
}

/// A site's view in a snapshot or delta message.
pub fn site<'a>(message: &'a Value, code: &str) -> Option<&'a Value> {
    message["sites"]
        .as_array()?
        .iter()
        .find(|s| s["code"] == code)
}
