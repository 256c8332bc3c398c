//! The load test's parts against real servers on loopback: a `nats-server -js`
//! started on a free port (also one requiring a user and password), small
//! fake gateways speaking the control-room websocket protocol (one refusing
//! handshakes without the right bearer token), and a fake identity service.

use std::collections::HashMap;
use std::net::TcpListener as StdListener;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use axum::extract::Form;
use axum::response::IntoResponse;
use axum::routing::post;
use axum::{Json, Router};
use futures::{SinkExt, StreamExt};
use pf_loadtest::auth::{self, NatsCredentials, Secret, TokenError};
use pf_loadtest::beds::BedCycle;
use pf_loadtest::clients::{self, ClientPlan, unix_now_ms};
use pf_loadtest::publisher::{self, PublishPlan, PublisherError};
use serde_json::json;
use tokio::net::TcpListener;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::http::StatusCode;

/// A `nats-server -js` with its own store directory, killed on drop.
struct Nats {
    child: Child,
    url: String,
    _store: tempfile::TempDir,
}

impl Drop for Nats {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    StdListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

async fn start_nats() -> Option<Nats> {
    start_nats_with(&[]).await
}

async fn start_nats_with(extra: &[&str]) -> Option<Nats> {
    let store = tempfile::tempdir().expect("temp dir");
    let port = free_port();
    let child = Command::new("nats-server")
        .args(["-js", "-a", "127.0.0.1", "-p", &port.to_string(), "-sd"])
        .arg(store.path())
        .args(extra)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn();
    let Ok(child) = child else {
        eprintln!("nats-server not installed: skipping");
        return None;
    };
    let url = format!("nats://127.0.0.1:{port}");
    let nats = Nats {
        child,
        url,
        _store: store,
    };
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return Some(nats);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("nats-server did not start");
}

#[tokio::test]
async fn publishing_needs_the_stream_then_every_event_is_acked() {
    let Some(nats) = start_nats().await else {
        return;
    };

    let missing = publisher::connect(&nats.url, 64).await;
    assert!(
        matches!(missing, Err(PublisherError::StreamMissing { .. })),
        "{missing:?}"
    );

    let client = async_nats::connect(&nats.url).await.expect("connect");
    let js = async_nats::jetstream::new(client);
    js.create_stream(async_nats::jetstream::stream::Config {
        name: publisher::STREAM.into(),
        subjects: vec!["pf.beds.>".into()],
        ..Default::default()
    })
    .await
    .expect("create stream");

    let publishing = publisher::connect(&nats.url, 64)
        .await
        .expect("stream exists");
    // The report says what the figures were measured with.
    let settings = publisher::stream_settings(&publishing)
        .await
        .expect("settings");
    assert_eq!((settings.replicas, settings.storage.as_str()), (1, "file"));
    assert!(!settings.nats_server.is_empty(), "{settings:?}");
    let plan = PublishPlan {
        rate: 400,
        duration: Duration::from_secs(1),
        in_flight: 64,
    };
    let stats = publisher::run(&publishing, plan, BedCycle::new("LOADTEST", "RTEST", 20)).await;
    // The plan stops at its duration: a busy machine sends fewer than 400,
    // but every event it sent is acknowledged and stored once.
    assert!((1..=400).contains(&stats.sent), "{stats:?}");
    assert_eq!(
        (stats.acked, stats.duplicates, stats.failed),
        (stats.sent, 0, 0),
        "{stats:?}"
    );

    // Events go round 20 beds from bed 1: its last event has version
    // ceil(sent / 20), gap-free.
    let mut stream = js.get_stream(publisher::STREAM).await.expect("stream");
    let info = stream.info().await.expect("info");
    assert_eq!(info.state.messages, stats.sent);
    let last = stream
        .get_last_raw_message_by_subject("pf.beds.LOADTEST.RTEST.B0001")
        .await
        .expect("last message");
    let envelope = pf_proto::v1::EventEnvelope::decode_checked(&last.payload).expect("valid event");
    assert_eq!(envelope.entity_version, stats.sent.div_ceil(20));
    assert_eq!(envelope.entity_id, "bed/LOADTEST/RTEST/B0001");
}

#[tokio::test]
async fn englands_bed_and_care_home_events_go_to_their_streams() {
    let Some(nats) = start_nats().await else {
        return;
    };
    let client = async_nats::connect(&nats.url).await.expect("connect");
    let js = async_nats::jetstream::new(client);
    for (name, subject) in [
        (publisher::STREAM, "pf.beds.>"),
        ("PF_CARE_HOMES", "pf.care-homes.>"),
    ] {
        js.create_stream(async_nats::jetstream::stream::Config {
            name: name.into(),
            subjects: vec![subject.into()],
            ..Default::default()
        })
        .await
        .expect("create stream");
    }
    let publishing = publisher::connect(&nats.url, 64)
        .await
        .expect("stream exists");
    let england = pf_loadtest::england::England::generate(pf_loadtest::england::DEFAULT_SEED);
    let events = pf_loadtest::england::EnglandEvents::new(&england, 10);
    let plan = PublishPlan {
        rate: 400,
        duration: Duration::from_secs(1),
        in_flight: 64,
    };
    let stats = publisher::run(&publishing, plan, events).await;
    assert!((10..=400).contains(&stats.sent), "{stats:?}");
    assert_eq!((stats.acked, stats.failed), (stats.sent, 0), "{stats:?}");

    // One event in ten is a care home's, the rest open the first site's beds.
    let mut homes = js.get_stream("PF_CARE_HOMES").await.expect("stream");
    assert_eq!(
        homes.info().await.expect("info").state.messages,
        stats.sent / 10
    );
    let mut beds = js.get_stream(publisher::STREAM).await.expect("stream");
    assert_eq!(
        beds.info().await.expect("info").state.messages,
        stats.sent - stats.sent / 10
    );
    let (_, site) = england.sites().next().expect("a site");
    let first = beds.get_raw_message(1).await.expect("the first bed event");
    assert!(
        first
            .subject
            .as_str()
            .starts_with(&format!("pf.beds.{}.W1.", site.code)),
        "{}",
        first.subject
    );
}

/// A fake gateway: on each connection, a snapshot at version 1, then deltas
/// 2..=11 for the load-test site, with one version (7) skipped.
async fn fake_gateway() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let Ok(mut ws) = tokio_tungstenite::accept_async(stream).await else {
                    return;
                };
                let snapshot =
                    r#"{"type":"snapshot","version":1,"as_of":"x","system":{},"sites":[]}"#;
                if ws.send(Message::text(snapshot)).await.is_err() {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
                for version in (2..=11).filter(|v| *v != 7) {
                    let delta = format!(
                        r#"{{"type":"delta","from_version":{},"version":{version},"as_of":"x","occurred_at_ms":{},"sites":[{{"code":"LOADTEST"}}],"system":{{}}}}"#,
                        version - 1,
                        unix_now_ms() - 5
                    );
                    if ws.send(Message::text(delta)).await.is_err() {
                        return;
                    }
                }
                while let Some(Ok(message)) = ws.next().await {
                    if message.is_close() {
                        break;
                    }
                }
            });
        }
    });
    format!("ws://{addr}")
}

#[tokio::test]
async fn clients_time_deltas_and_count_gaps() {
    let gateway_url = fake_gateway().await;
    let (running, ready) = clients::spawn(ClientPlan {
        gateway_url,
        clients: 3,
        connect_deadline: Instant::now() + Duration::from_secs(5),
        run_for: Duration::from_millis(800),
        token: None,
        timed_site: Some(pf_loadtest::SITE.to_owned()),
    });
    assert_eq!(ready.await, 3);
    let results = running.join().await;
    assert_eq!(results.len(), 3);
    for result in &results {
        assert!(result.connected && result.error.is_none(), "{result:?}");
        assert_eq!(result.loadtest_deltas, 9);
        assert_eq!((result.versions.gaps, result.versions.missing), (1, 1));
        assert_eq!(result.versions.resyncs, 0);
        assert!(result.latencies.max() >= 5 && result.latencies.max() < 1_000);
    }
}

#[tokio::test]
async fn clients_that_cannot_connect_are_reported() {
    let (running, ready) = clients::spawn(ClientPlan {
        gateway_url: format!("ws://127.0.0.1:{}", free_port()),
        clients: 2,
        connect_deadline: Instant::now() + Duration::from_secs(2),
        run_for: Duration::from_millis(100),
        token: None,
        timed_site: Some(pf_loadtest::SITE.to_owned()),
    });
    assert_eq!(ready.await, 0);
    let results = running.join().await;
    assert!(results.iter().all(|r| !r.connected && r.error.is_some()));
}

#[tokio::test]
async fn the_publisher_signs_in_as_its_nats_user() {
    let Some(nats) = start_nats_with(&["--user", "loadtest", "--pass", "pw-9d2e"]).await else {
        return;
    };
    let anonymous = publisher::connect(&nats.url, 64).await;
    assert!(
        matches!(anonymous, Err(PublisherError::Connect { .. })),
        "{anonymous:?}"
    );
    let wrong = NatsCredentials {
        user: "loadtest".into(),
        password: Secret::new("nope"),
    };
    let refused = publisher::connect_with(&nats.url, 64, Some(&wrong)).await;
    assert!(
        matches!(refused, Err(PublisherError::Connect { .. })),
        "{refused:?}"
    );
    let right = NatsCredentials {
        user: "loadtest".into(),
        password: Secret::new("pw-9d2e"),
    };
    // Signed in: the server answers, and says the stream is missing.
    let signed_in = publisher::connect_with(&nats.url, 64, Some(&right)).await;
    assert!(
        matches!(signed_in, Err(PublisherError::StreamMissing { .. })),
        "{signed_in:?}"
    );
}

/// A fake gateway that refuses handshakes without `Authorization: Bearer good-token`,
/// then sends one snapshot.
async fn guarded_gateway() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                // The callback's signature is tungstenite's, large error and all.
                #[allow(clippy::result_large_err)]
                let check = |request: &Request, response: Response| {
                    let auth = request
                        .headers()
                        .get("authorization")
                        .and_then(|v| v.to_str().ok());
                    if auth == Some("Bearer good-token") {
                        Ok(response)
                    } else {
                        let mut refusal = ErrorResponse::new(Some("sign in".to_owned()));
                        *refusal.status_mut() = StatusCode::UNAUTHORIZED;
                        Err(refusal)
                    }
                };
                let Ok(mut ws) = tokio_tungstenite::accept_hdr_async(stream, check).await else {
                    return;
                };
                let snapshot =
                    r#"{"type":"snapshot","version":1,"as_of":"x","system":{},"sites":[]}"#;
                let _ = ws.send(Message::text(snapshot)).await;
                while let Some(Ok(message)) = ws.next().await {
                    if message.is_close() {
                        break;
                    }
                }
            });
        }
    });
    format!("ws://{addr}")
}

async fn connect_clients(gateway_url: String, token: Option<Secret>) -> Vec<clients::ClientResult> {
    let (running, ready) = clients::spawn(ClientPlan {
        gateway_url,
        clients: 2,
        connect_deadline: Instant::now() + Duration::from_secs(3),
        run_for: Duration::from_millis(200),
        token,
        timed_site: Some(pf_loadtest::SITE.to_owned()),
    });
    ready.await;
    running.join().await
}

#[tokio::test]
async fn clients_send_the_bearer_token() {
    let gateway_url = guarded_gateway().await;
    let signed = connect_clients(gateway_url.clone(), Some(Secret::new("good-token"))).await;
    assert!(
        signed
            .iter()
            .all(|r| r.connected && r.versions.snapshots == 1),
        "{signed:?}"
    );
    let unsigned = connect_clients(gateway_url.clone(), None).await;
    assert!(
        unsigned
            .iter()
            .all(|r| !r.connected && r.error.as_deref().is_some_and(|e| e.contains("401"))),
        "{unsigned:?}"
    );
    let wrong = connect_clients(gateway_url, Some(Secret::new("bad-token"))).await;
    assert!(wrong.iter().all(|r| !r.connected), "{wrong:?}");
}

/// A fake identity service: `POST /oauth/token` issues `good-token` to
/// client `loadtest` with secret `s3cret`, and refuses anyone else.
async fn fake_identity() -> String {
    async fn token(Form(form): Form<HashMap<String, String>>) -> axum::response::Response {
        let field = |name: &str| form.get(name).map(String::as_str);
        if field("grant_type") == Some("client_credentials")
            && field("client_id") == Some("loadtest")
            && field("client_secret") == Some("s3cret")
        {
            Json(json!({"access_token": "good-token", "token_type": "Bearer", "expires_in": 300}))
                .into_response()
        } else {
            (
                StatusCode::UNAUTHORIZED,
                Json(json!({"error": "invalid_client", "error_description": "unknown client"})),
            )
                .into_response()
        }
    }
    let app = Router::new().route("/oauth/token", post(token));
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    format!("http://{addr}")
}

#[tokio::test]
async fn client_credentials_fetch_a_token_the_gateway_accepts() {
    let identity = fake_identity().await;
    let token = auth::fetch_token(&identity, "loadtest", &Secret::new("s3cret"))
        .await
        .expect("token issued");
    assert_eq!(token.expose(), "good-token");
    let clients = connect_clients(guarded_gateway().await, Some(token)).await;
    assert!(clients.iter().all(|r| r.connected), "{clients:?}");

    let refused = auth::fetch_token(&identity, "loadtest", &Secret::new("guess-41"))
        .await
        .expect_err("wrong secret");
    let message = refused.to_string();
    assert!(
        matches!(refused, TokenError::Refused { status: 401, .. }),
        "{refused:?}"
    );
    assert!(
        message.contains("invalid_client") && !message.contains("guess-41"),
        "{message}"
    );

    let unreachable = auth::fetch_token(
        &format!("http://127.0.0.1:{}", free_port()),
        "loadtest",
        &Secret::new("s3cret"),
    )
    .await;
    assert!(
        matches!(unreachable, Err(TokenError::Unreachable { .. })),
        "{unreachable:?}"
    );
}

/// A gateway that restarts: it serves a snapshot and then closes every
/// connection and stops listening for `down`; once back on the same port it
/// answers a resuming client (`?since=1`) with delta 2 and keeps it open.
// (The handshake callback's error type is tungstenite's own response.)
#[allow(clippy::result_large_err)]
async fn restarting_gateway(down: Duration) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        // First life: one connection per client, closed after the snapshot.
        let first_life = tokio::time::sleep(Duration::from_millis(300));
        tokio::pin!(first_life);
        let mut open = Vec::new();
        loop {
            tokio::select! {
                _ = &mut first_life => break,
                accepted = listener.accept() => {
                    let Ok((stream, _)) = accepted else { break };
                    let Ok(mut ws) = tokio_tungstenite::accept_async(stream).await else { continue };
                    let snapshot = r#"{"type":"snapshot","version":1,"as_of":"x","system":{},"sites":[]}"#;
                    let _ = ws.send(Message::text(snapshot)).await;
                    open.push(ws);
                }
            }
        }
        // Gone: the connections drop and nothing listens.
        drop(open);
        drop(listener);
        tokio::time::sleep(down).await;
        let Ok(listener) = TcpListener::bind(addr).await else {
            return;
        };
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut since = None;
                let callback =
                    |request: &tokio_tungstenite::tungstenite::handshake::server::Request,
                     response| {
                        since = request.uri().query().map(str::to_owned);
                        Ok(response)
                    };
                let Ok(mut ws) = tokio_tungstenite::accept_hdr_async(stream, callback).await else {
                    return;
                };
                if since.as_deref() != Some("since=1") {
                    return;
                }
                let delta = format!(
                    r#"{{"type":"delta","from_version":1,"version":2,"as_of":"x","occurred_at_ms":{},"sites":[{{"code":"LOADTEST"}}],"system":{{}}}}"#,
                    unix_now_ms() - 5
                );
                let _ = ws.send(Message::text(delta)).await;
                while let Some(Ok(message)) = ws.next().await {
                    if message.is_close() {
                        break;
                    }
                }
            });
        }
    });
    format!("ws://{addr}")
}

#[tokio::test]
async fn clients_come_back_after_a_gateway_restart_and_resume_where_they_were() {
    // Down for 1.5 s: several refused attempts before the gateway is back.
    let gateway_url = restarting_gateway(Duration::from_millis(1500)).await;
    let (running, ready) = clients::spawn(ClientPlan {
        gateway_url,
        clients: 5,
        connect_deadline: Instant::now() + Duration::from_millis(250),
        run_for: Duration::from_secs(6),
        token: None,
        timed_site: Some(pf_loadtest::SITE.to_owned()),
    });
    assert_eq!(ready.await, 5);
    let results = running.join().await;
    for result in &results {
        assert!(result.error.is_none(), "{result:?}");
        assert!(result.reconnects >= 1, "{result:?}");
        assert_eq!(
            result.loadtest_deltas, 1,
            "resumed with ?since= and got the next delta: {result:?}"
        );
        assert_eq!(
            (result.versions.gaps, result.versions.resyncs),
            (0, 0),
            "{result:?}"
        );
    }
}
