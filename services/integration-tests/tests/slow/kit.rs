//! What the fault tests share: a bed event that flips a bed between
//! occupied and available, waiting for a service to be ready, a
//! control-room token, and a client's place in the gateway's feed.

use std::time::{Duration, Instant};

use pf_proto::NewEvent;
use pf_proto::v1::event_envelope::Payload;
use pf_proto::v1::{Actor, BedRef, BedState, BedStateChanged, Source};
use serde_json::Value;

/// A general and acute bed of `site`/`ward` changing state, sent by
/// `service`: odd versions occupy it, even ones free it.
pub fn bed_flip(
    service: &str,
    site: &str,
    ward: &str,
    bed: &str,
    version: u64,
) -> pf_proto::v1::EventEnvelope {
    let (previous, state) = if version.is_multiple_of(2) {
        (BedState::Occupied, BedState::Available)
    } else {
        (BedState::Available, BedState::Occupied)
    };
    NewEvent {
        source: Source {
            organisation: site.into(),
            service: service.into(),
        },
        entity_id: format!("bed/{site}/{ward}/{bed}"),
        entity_version: version,
        occurred_at: None,
        actor: Actor::default(),
        payload: Payload::BedStateChanged(BedStateChanged {
            bed: Some(BedRef {
                site: site.into(),
                ward: ward.into(),
                bed: bed.into(),
            }),
            kind: pf_proto::v1::BedKind::GeneralAcute as i32,
            escalation: false,
            previous_state: previous as i32,
            state: state as i32,
            reason: service.replace('-', " "),
        }),
    }
    .seal(time::OffsetDateTime::now_utc())
}

/// Waits (up to a minute) until `{url}/readyz` answers 200.
pub async fn wait_ready(http: &reqwest::Client, url: &str, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(r) = http.get(format!("{url}/readyz")).send().await
            && r.status().is_success()
        {
            return;
        }
        assert!(Instant::now() < deadline, "{what} did not become ready");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A token of the demo `loadtest` client (a control-room reader), from the
/// identity service at `identity` run with the demo client secret `secret`.
pub async fn viewer_token(http: &reqwest::Client, identity: &str, secret: &str) -> String {
    let body = format!("grant_type=client_credentials&client_id=loadtest&client_secret={secret}");
    let response = http
        .post(format!("{identity}/oauth/token"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .expect("the identity service answers");
    let answer: Value = response.json().await.expect("a JSON token answer");
    answer["access_token"]
        .as_str()
        .unwrap_or_else(|| panic!("no access token in {answer}"))
        .to_owned()
}

/// A client's place in the feed, checked message by message: a delta must
/// start where the client is; a snapshot replaces what it holds (the page
/// does the same). Other messages (heartbeats) move nothing.
#[derive(Default)]
pub struct Follower {
    /// The version the client is at.
    pub version: u64,
    /// Deltas taken.
    pub deltas: u64,
    /// Snapshots taken.
    pub snapshots: u64,
    /// Whether a snapshot may be older than the client (after a Redis
    /// failover, the promoted replica may lack the last writes until the
    /// projection replays them).
    pub snapshots_may_go_back: bool,
}

impl Follower {
    /// Takes in one message from `sender` (named in a failure); panics on a
    /// gap or a step back.
    pub fn take(&mut self, message: &Value, sender: &str) {
        let version = || {
            message["version"]
                .as_u64()
                .unwrap_or_else(|| panic!("{sender} sent a message without a version: {message}"))
        };
        let version = if message["type"] == "delta" {
            let from = message["from_version"]
                .as_u64()
                .unwrap_or_else(|| panic!("{sender} sent a delta without from_version: {message}"));
            assert_eq!(
                from, self.version,
                "{sender} sent a delta from version {from} to a client at {}",
                self.version
            );
            self.deltas += 1;
            version()
        } else if message["type"] == "snapshot" {
            let version = version();
            assert!(
                self.snapshots_may_go_back || version >= self.version,
                "{sender} sent a snapshot at version {version}, older than the client's {}",
                self.version
            );
            self.snapshots += 1;
            version
        } else {
            return;
        };
        self.version = version;
    }
}
