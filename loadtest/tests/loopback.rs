//! The load test's parts against real servers on loopback: a `nats-server -js`
//! started on a free port, and a small fake gateway speaking the control-room
//! websocket protocol.

use std::net::TcpListener as StdListener;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use pf_loadtest::beds::BedCycle;
use pf_loadtest::clients::{self, ClientPlan, unix_now_ms};
use pf_loadtest::publisher::{self, PublishPlan, PublisherError};
use tokio::net::TcpListener;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;

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
    let store = tempfile::tempdir().expect("temp dir");
    let port = free_port();
    let child = Command::new("nats-server")
        .args(["-js", "-a", "127.0.0.1", "-p", &port.to_string(), "-sd"])
        .arg(store.path())
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
    let plan = PublishPlan {
        rate: 400,
        duration: Duration::from_secs(1),
        in_flight: 64,
    };
    let stats = publisher::run(&publishing, plan, BedCycle::new("LOADTEST", "RTEST", 20)).await;
    assert_eq!(stats.sent, 400);
    assert_eq!(
        (stats.acked, stats.duplicates, stats.failed),
        (400, 0, 0),
        "{stats:?}"
    );

    // 400 events over 20 beds: the last event of bed 1 has version 20.
    let mut stream = js.get_stream(publisher::STREAM).await.expect("stream");
    let info = stream.info().await.expect("info");
    assert_eq!(info.state.messages, 400);
    let last = stream
        .get_last_raw_message_by_subject("pf.beds.LOADTEST.RTEST.B0001")
        .await
        .expect("last message");
    let envelope = pf_proto::v1::EventEnvelope::decode_checked(&last.payload).expect("valid event");
    assert_eq!(envelope.entity_version, 20);
    assert_eq!(envelope.entity_id, "bed/LOADTEST/RTEST/B0001");
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
    });
    assert_eq!(ready.await, 0);
    let results = running.join().await;
    assert!(results.iter().all(|r| !r.connected && r.error.is_some()));
}
