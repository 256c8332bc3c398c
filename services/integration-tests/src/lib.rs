//! Test support for the platform tests: [`Platform::start`] runs the real
//! hospital-beds, projection and gateway in this process, on free ports,
//! against a real `nats-server -js` and `redis-server`, with a small site
//! catalogue of its own. [`oidc_provider`] starts a real OpenID provider
//! and the identity service signing staff in with it.
#![forbid(unsafe_code)]
#![allow(clippy::unwrap_used, clippy::missing_panics_doc)] // test code: fail loudly

pub mod binaries;
pub mod oidc_provider;
pub mod redis_users;
pub mod rendered_access;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use futures::{SinkExt as _, StreamExt as _};
use pf_access::{LocalIssuer, LocalIssuerConfig, Mode, Principal};
use pf_hospital_model::Catalogue;
use pf_live_state::{Keys, LiveState};
use pf_sign_in::{SignInSettings, SignInStore};
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

/// The daily discharge plan the tests use (the catalogue's two sites).
pub const TEST_DISCHARGE_PLAN: &str = r#"{
  "sites": {
    "RWEAA": { "0": 10, "1": 6, "2": 2, "3": 2 },
    "RWEAK": { "0": 4, "1": 2, "2": 1, "3": 1 }
  }
}"#;

/// The care-home register the tests use: three synthetic homes.
pub const TEST_REGISTER: &str = r#"{
  "homes": [
    { "cqc_location_id": "1-000000001", "name": "Alder House (demo)", "address": "1 Test Road, Leicester",
      "postcode": "LE2 1AA", "latitude": 52.61, "longitude": -1.11, "locality": "leicester_city",
      "registered_beds": 30, "categories": ["residential", "residential_dementia"],
      "phone": "01164960001" },
    { "cqc_location_id": "1-000000002", "name": "Birch Lodge (demo)", "address": "2 Test Lane, Loughborough",
      "postcode": "LE11 2BB", "latitude": 52.77, "longitude": -1.21, "locality": "leicestershire",
      "registered_beds": 40, "categories": ["nursing", "nursing_dementia"] },
    { "cqc_location_id": "1-000000003", "name": "Cedar Court (demo)", "address": "3 Test Street, Oakham",
      "postcode": "LE15 3CC", "latitude": 52.67, "longitude": -0.73, "locality": "rutland",
      "registered_beds": 12, "categories": ["residential"] }
  ]
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
    /// `http://127.0.0.1:{port}` of the care-homes service.
    pub care_homes_url: String,
    /// `http://127.0.0.1:{port}` of the discharges service.
    pub discharges_url: String,
    /// `http://127.0.0.1:{port}` of the tasks service.
    pub tasks_url: String,
    /// `http://127.0.0.1:{port}` of the urgent-care service.
    pub urgent_care_url: String,
    /// The discharges service's clock (move it to expire holds).
    pub clock: pf_care_home_log::ManualClock,
    /// `http://127.0.0.1:{port}` of the projection's operational endpoints.
    pub projection_url: String,
    /// HTTP client.
    pub http: reqwest::Client,
    /// The change version once the care-home register was projected at
    /// start: [`wait_for_version`](Self::wait_for_version) counts from it.
    pub base_version: u64,
    /// The identity provider the services trust in these tests.
    pub issuer: LocalIssuer,
    /// A token of the demo `simulator` machine identity (bed publisher for
    /// UHL and LPT); [`post`](Self::post) sends it.
    pub publisher_token: String,
    /// A token of the demo control-room viewer.
    pub viewer_token: String,
    shutdown: CancellationToken,
}

/// The demo principal with this id.
pub fn demo(id: &str) -> Principal {
    pf_access::demo_principals()
        .into_iter()
        .find(|p| p.id == id)
        .unwrap_or_else(|| panic!("no demo principal {id}"))
}

async fn listener() -> (TcpListener, String) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    (listener, url)
}

/// Creates the platform's streams on the NATS server at `url`, as
/// `pf-streams` does at install (services only wait for them).
pub async fn create_streams(url: &str) {
    let client = async_nats::connect(url).await.unwrap();
    let jetstream = async_nats::jetstream::new(client);
    // The production bound: test servers lift JetStream's reservation
    // against the free disk (`pf_test_support::jetstream_block`).
    pf_streams::ensure(&jetstream, &pf_streams::StreamsConfig::default())
        .await
        .unwrap();
}

/// The repository's `dashboards/` folder.
pub fn dashboards_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../dashboards")
}

impl Platform {
    /// Starts servers and services and waits until every service is ready.
    pub async fn start() -> Self {
        Self::start_with(TEST_CATALOGUE, TEST_DISCHARGE_PLAN).await
    }

    /// Starts the platform on another site catalogue and discharge plan.
    pub async fn start_with(catalogue: &str, discharge_plan: &str) -> Self {
        Self::start_on(
            Catalogue::from_json(catalogue).unwrap(),
            discharge_plan,
            pf_care_homes::RegisterSource::Json(TEST_REGISTER.to_owned()),
            pf_region::RegionFiles::BuiltIn,
        )
        .await
    }

    /// Starts the platform on a whole region data set (its `region.json`,
    /// `sites.json`, `care-homes.json` and `expected-discharges.json`), as
    /// the services do when `PF_REGION_DIR` names it.
    pub async fn start_in_region(files: pf_region::RegionFiles) -> Self {
        let region = files.region().unwrap();
        let catalogue = Catalogue::load(&files, &region).unwrap();
        let plan = files
            .read(pf_region::DataFile::ExpectedDischarges)
            .unwrap()
            .text
            .into_owned();
        Self::start_on(
            catalogue,
            &plan,
            pf_care_homes::RegisterSource::Region,
            files,
        )
        .await
    }

    async fn start_on(
        catalogue: Catalogue,
        discharge_plan: &str,
        register: pf_care_homes::RegisterSource,
        region_files: pf_region::RegionFiles,
    ) -> Self {
        let region = region_files.region().unwrap();
        let nats = NatsServer::start();
        create_streams(&nats.url()).await;
        let redis = RedisServer::start();
        let shutdown = CancellationToken::new();
        let issuer = LocalIssuer::new(Mode::Development, LocalIssuerConfig::default()).unwrap();
        let sign_in = SignInSettings::local(issuer.issuer_config(), &redis.url());

        let (beds_listener, beds_url) = listener().await;
        let beds_config =
            pf_hospital_beds::BedsConfig::local(&nats.url(), &redis.url(), issuer.issuer_config());
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

        let (care_homes_listener, care_homes_url) = listener().await;
        let mut care_homes_config = pf_care_homes::CareHomesConfig::local(
            &nats.url(),
            &redis.url(),
            sign_in.clone(),
            dashboards_dir(),
        );
        care_homes_config.register = register;
        care_homes_config.region_files = region_files.clone();
        care_homes_config.region = region.clone();
        care_homes_config.public_url = care_homes_url.clone();
        tokio::spawn(pf_care_homes::run(
            care_homes_listener,
            care_homes_config,
            shutdown.clone(),
        ));

        let (discharges_listener, discharges_url) = listener().await;
        let clock = pf_care_home_log::ManualClock::new(time::OffsetDateTime::now_utc());
        let mut discharges_config =
            pf_discharges::DischargesConfig::local(&nats.url(), &redis.url(), sign_in.clone());
        discharges_config.region_files = region_files.clone();
        discharges_config.region = region.clone();
        tokio::spawn(pf_discharges::run_with_clock(
            discharges_listener,
            discharges_config,
            catalogue.clone(),
            std::sync::Arc::new(clock.clone()),
            shutdown.clone(),
        ));

        let (tasks_listener, tasks_url) = listener().await;
        tokio::spawn(pf_tasks::run(
            tasks_listener,
            pf_tasks::TasksConfig::local(&nats.url(), &redis.url(), sign_in.clone()),
            shutdown.clone(),
        ));

        let (urgent_care_listener, urgent_care_url) = listener().await;
        tokio::spawn(pf_urgent_care::run(
            urgent_care_listener,
            pf_urgent_care::UrgentCareConfig::local(
                &nats.url(),
                &redis.url(),
                issuer.issuer_config(),
            ),
            catalogue.clone(),
            shutdown.clone(),
        ));

        let (gateway_listener, gateway_url) = listener().await;
        let mut gateway_config =
            pf_gateway::GatewayConfig::local(&redis.url(), &nats.url(), dashboards_dir(), sign_in);
        // Short, so that tests see access re-checked on a live connection.
        gateway_config.heartbeat = Duration::from_secs(1);
        gateway_config.discharge_plan = discharge_plan.to_owned();
        gateway_config.region_files = region_files;
        gateway_config.region = region;
        tokio::spawn(pf_gateway::run(
            gateway_listener,
            gateway_config,
            catalogue,
            shutdown.clone(),
        ));

        let mut platform = Self {
            nats,
            redis,
            beds_url,
            gateway_url,
            care_homes_url,
            discharges_url,
            tasks_url,
            urgent_care_url,
            clock,
            projection_url,
            http: reqwest::Client::new(),
            base_version: 0,
            publisher_token: issuer
                .issue(&demo("simulator"), Duration::from_secs(3600))
                .unwrap(),
            viewer_token: issuer
                .issue(&demo("demo-control-room"), Duration::from_secs(3600))
                .unwrap(),
            issuer,
            shutdown,
        };
        for url in [
            &platform.beds_url,
            &platform.projection_url,
            &platform.gateway_url,
            &platform.care_homes_url,
            &platform.discharges_url,
            &platform.tasks_url,
            &platform.urgent_care_url,
        ] {
            platform.wait_ready(url).await;
        }
        platform.wait_until_projected().await;
        platform.base_version = platform.live_state("pf:").await.version().await.unwrap();
        platform
    }

    async fn wait_ready(&self, url: &str) {
        // Generous: on a busy 2-core machine several platforms start at once.
        let deadline = Instant::now() + Duration::from_secs(90);
        loop {
            if let Ok(response) = self.http.get(format!("{url}/readyz")).send().await
                && response.status().is_success()
            {
                return;
            }
            if Instant::now() >= deadline {
                let answer = match self.http.get(format!("{url}/readyz")).send().await {
                    Ok(response) => response.text().await.unwrap_or_default(),
                    Err(err) => err.to_string(),
                };
                panic!("{url} did not become ready: {answer}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// POSTs JSON to hospital-beds as the bed publisher; returns the status and the JSON answer.
    pub async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        self.post_as(Some(&self.publisher_token), path, body).await
    }

    /// POSTs JSON to hospital-beds with a given bearer token (or none).
    pub async fn post_as(&self, token: Option<&str>, path: &str, body: Value) -> (u16, Value) {
        let mut request = self.http.post(format!("{}{path}", self.beds_url));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.json(&body).send().await.unwrap();
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

    /// The sign-in store the services use.
    pub async fn sign_in_store(&self) -> SignInStore {
        SignInStore::connect(
            &self.redis.url(),
            "pf-auth:",
            pf_sign_in::SessionPolicy::default(),
        )
        .await
        .unwrap()
    }

    /// A token for a principal from the trusted issuer.
    pub fn token_for(&self, principal: &Principal) -> String {
        self.issuer
            .issue(principal, Duration::from_secs(3600))
            .unwrap()
    }

    /// A JetStream context on the platform's NATS.
    pub async fn jetstream(&self) -> async_nats::jetstream::Context {
        async_nats::jetstream::new(async_nats::connect(self.nats.url()).await.unwrap())
    }

    /// Waits until the live state's change version reaches
    /// [`base_version`](Self::base_version) + `changes`.
    pub async fn wait_for_version(&self, changes: u64) {
        let version = self.base_version + changes;
        let mut live = self.live_state("pf:").await;
        let deadline = Instant::now() + Duration::from_secs(60);
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

    /// Waits until the projection's consumers have nothing pending.
    pub async fn wait_until_projected(&self) {
        for (stream, consumer) in [
            (pf_event_log::streams::BEDS.name, "projection"),
            (
                pf_event_log::streams::CARE_HOMES.name,
                "projection-PF_CARE_HOMES",
            ),
            (
                pf_event_log::streams::DISCHARGES.name,
                "projection-PF_DISCHARGES",
            ),
        ] {
            self.wait_until_consumed(stream, consumer, Duration::from_secs(60))
                .await;
        }
    }

    /// Waits at most `within` until `consumer` has applied everything in
    /// `stream`.
    pub async fn wait_until_consumed(&self, stream: &str, consumer: &str, within: Duration) {
        let js = self.jetstream().await;
        let mut stream = js.get_stream(stream).await.unwrap();
        let deadline = Instant::now() + within;
        loop {
            let mut consumer: async_nats::jetstream::consumer::PullConsumer =
                stream.get_consumer(consumer).await.unwrap();
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

    /// The gateway's OPEL board (`GET /api/v1/opel`) as the control room reads it.
    pub async fn opel_board(&self) -> Value {
        self.http
            .get(format!("{}/api/v1/opel", self.gateway_url))
            .bearer_auth(&self.viewer_token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
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
    /// Connects as the demo control-room viewer, optionally resuming after `since`.
    pub async fn connect(platform: &Platform, since: Option<u64>) -> Self {
        Self::try_connect(&platform.gateway_url, Some(&platform.viewer_token), since)
            .await
            .unwrap()
    }

    /// Connects with a bearer token (or none); the refusal's HTTP status otherwise.
    pub async fn try_connect(
        gateway_url: &str,
        token: Option<&str>,
        since: Option<u64>,
    ) -> Result<Self, u16> {
        use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;
        let mut url = format!("{}/ws/control-room", gateway_url.replacen("http", "ws", 1));
        if let Some(since) = since {
            url.push_str(&format!("?since={since}"));
        }
        let mut request = url.into_client_request().unwrap();
        if let Some(token) = token {
            request
                .headers_mut()
                .insert("authorization", format!("Bearer {token}").parse().unwrap());
        }
        match tokio_tungstenite::connect_async(request).await {
            Ok((socket, _)) => Ok(Self { socket }),
            Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
                Err(response.status().as_u16())
            }
            Err(other) => panic!("websocket connection failed: {other}"),
        }
    }

    /// The next snapshot or delta (heartbeats and the unversioned `opel`
    /// and `trends` messages skipped), within 10 s.
    pub async fn next(&mut self) -> Value {
        self.next_of(&["snapshot", "delta"]).await
    }

    /// The next message whose `type` is one of `kinds`, within 10 s.
    pub async fn next_of(&mut self, kinds: &[&str]) -> Value {
        loop {
            let message = tokio::time::timeout(Duration::from_secs(10), self.socket.next())
                .await
                .expect("no message from the gateway within 10 s")
                .expect("the gateway closed the connection")
                .unwrap();
            if let Message::Text(text) = message {
                let value: Value = serde_json::from_str(&text).unwrap();
                if kinds.iter().any(|kind| value["type"] == *kind) {
                    return value;
                }
            }
        }
    }

    /// The next snapshot or delta (other messages skipped), within 10 s, or the
    /// close code (if any) when the gateway closed the connection instead.
    pub async fn next_or_closed(&mut self) -> Result<Value, Option<u16>> {
        loop {
            let message = tokio::time::timeout(Duration::from_secs(10), self.socket.next())
                .await
                .expect("no message from the gateway within 10 s");
            match message {
                Some(Ok(Message::Text(text))) => {
                    let value: Value = serde_json::from_str(&text).unwrap();
                    if value["type"] == "snapshot" || value["type"] == "delta" {
                        return Ok(value);
                    }
                }
                Some(Ok(Message::Close(frame))) => return Err(frame.map(|f| u16::from(f.code))),
                Some(Ok(_)) => continue,
                Some(Err(_)) | None => return Err(None),
            }
        }
    }

    /// Waits (up to 10 s) for the gateway to close the connection; its close code.
    pub async fn closed(&mut self) -> Option<u16> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let message = tokio::time::timeout_at(deadline, self.socket.next())
                .await
                .expect("the gateway did not close the connection within 10 s");
            match message {
                Some(Ok(Message::Close(frame))) => return frame.map(|f| u16::from(f.code)),
                Some(Ok(_)) => continue,
                Some(Err(_)) | None => return None,
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
