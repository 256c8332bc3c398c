//! The ADT feed when NATS dies mid-stream: a message it cannot store gets
//! `AE` "not stored, send again" (never `AA`), and once nats-server is back
//! (restarted on its store) the engine's resend is stored exactly once; a
//! further resend gets the same ACK and stores nothing.
#![allow(clippy::unwrap_used)] // test code: fail loudly

use std::time::{Duration, Instant};

use pf_integration_tests::{Platform, TEST_CATALOGUE};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

const FEEDS: &str = r#"{ "feeds": [
  { "name": "uhl-epic", "sending_application": "EPIC", "sending_facility": "RWE", "organisation": "RWE",
    "locations": [ { "facility": "RWEAA", "ward": "WD15", "site": "RWEAA" } ] }
] }"#;

/// Sends one framed message and reads its ACK (generous: with NATS down
/// the feed answers once its own requests time out).
async fn exchange(address: &str, message: &str) -> String {
    let mut stream = TcpStream::connect(address).await.unwrap();
    let mut frame = vec![0x0b];
    frame.extend_from_slice(message.as_bytes());
    frame.extend_from_slice(&[0x1c, 0x0d]);
    stream.write_all(&frame).await.unwrap();
    let mut answer = Vec::new();
    let mut chunk = [0u8; 1024];
    while !answer.ends_with(&[0x1c, 0x0d]) {
        let n = tokio::time::timeout(Duration::from_secs(120), stream.read(&mut chunk))
            .await
            .expect("an ACK within two minutes")
            .unwrap();
        assert!(n > 0, "the feed closed the connection before answering");
        answer.extend_from_slice(&chunk[..n]);
    }
    String::from_utf8(answer[1..answer.len() - 2].to_vec()).unwrap()
}

fn msa(ack: &str) -> (String, String) {
    let line = ack
        .split('\r')
        .find(|l| l.starts_with("MSA|"))
        .unwrap_or_else(|| panic!("no MSA in {ack}"));
    let fields: Vec<&str> = line.split('|').collect();
    (
        fields.get(1).copied().unwrap_or("").to_owned(),
        fields.get(3).copied().unwrap_or("").to_owned(),
    )
}

fn epic(trigger: &str, id: &str, minutes: i64) -> String {
    let at = (time::OffsetDateTime::now_utc() + time::Duration::minutes(minutes + 1))
        .format(time::macros::format_description!(
            "[year][month][day][hour][minute][second]+0000"
        ))
        .unwrap();
    format!(
        "MSH|^~\\&|EPIC|RWE|PATIENTFLOW|PF|{at}||ADT^{trigger}|{id}|P|2.5.1\r\
         EVN|{trigger}|{at}\r\
         PID|1||E1^^^EPI^MR\r\
         PV1|1|I|WD15^BAY1^B01^RWEAA||||||||||||||||VF1\r"
    )
}

/// How many events the bed's subject holds.
async fn bed_events(platform: &Platform) -> usize {
    let js = platform.jetstream().await;
    let mut stream = js.get_stream("PF_BEDS").await.unwrap();
    let last = stream.info().await.unwrap().state.last_sequence;
    let mut count = 0;
    for sequence in 1..=last {
        if let Ok(message) = stream.get_raw_message(sequence).await
            && message.subject.as_str() == "pf.beds.RWEAA.WD15.B01"
        {
            count += 1;
        }
    }
    count
}

#[tokio::test]
async fn nats_killed_mid_stream_gets_send_again_and_the_resend_is_stored_once() {
    let _turn = crate::one_at_a_time().await;
    let mut platform = Platform::start().await;
    platform.open_bed("RWEAA/WD15/B01").await;
    let dir = tempfile::tempdir().unwrap();
    let feeds = dir.path().join("feeds.json");
    std::fs::write(&feeds, FEEDS).unwrap();
    let config = pf_adt_feed::AdtConfig::local(&platform.nats.url(), &platform.redis.url(), feeds);
    let http = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let mllp = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let http_url = format!("http://{}", http.local_addr().unwrap());
    let address = mllp.local_addr().unwrap().to_string();
    let shutdown = CancellationToken::new();
    let _stop = shutdown.clone().drop_guard();
    tokio::spawn(pf_adt_feed::run(
        http,
        mllp,
        config,
        pf_hospital_model::Catalogue::from_json(TEST_CATALOGUE).unwrap(),
        shutdown.clone(),
    ));
    let deadline = Instant::now() + Duration::from_secs(90);
    while !platform
        .http
        .get(format!("{http_url}/readyz"))
        .send()
        .await
        .is_ok_and(|r| r.status().is_success())
    {
        assert!(Instant::now() < deadline, "adt-feed did not become ready");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let (code, _) = msa(&exchange(&address, &epic("A01", "F1", 0)).await);
    assert_eq!(code, "AA");
    let before = bed_events(&platform).await;

    // NATS dies mid-stream: the discharge cannot be stored.
    platform.nats.stop();
    let (code, text) = msa(&exchange(&address, &epic("A03", "F2", 10)).await);
    assert_eq!(code, "AE", "{text}");
    assert!(text.starts_with("not stored, send again"), "{text}");

    // Back on its store; the engine sends the same message again until it
    // is taken (the feed reconnects by itself).
    platform.nats.restart();
    let deadline = Instant::now() + Duration::from_secs(120);
    let taken = loop {
        let ack = exchange(&address, &epic("A03", "F2", 10)).await;
        let (code, text) = msa(&ack);
        if code == "AA" {
            break ack;
        }
        assert!(text.starts_with("not stored, send again"), "{text}");
        assert!(
            Instant::now() < deadline,
            "the feed did not recover after nats-server restarted"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    assert_eq!(bed_events(&platform).await, before + 1, "stored once");
    let mut live = platform.live_state("pf:").await;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let digest = live.digest().await.unwrap_or_default();
        let state = digest
            .iter()
            .find(|(k, _)| k.as_str() == "bed:RWEAA:WD15:B01")
            .map(|(_, v)| v.clone());
        if state
            .as_deref()
            .is_some_and(|v| v.contains("awaiting_clean"))
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the bed was not vacated: {state:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // A later resend: the same ACK, nothing stored.
    let again = exchange(&address, &epic("A03", "F2", 10)).await;
    assert_eq!(msa(&again), msa(&taken));
    assert_eq!(
        bed_events(&platform).await,
        before + 1,
        "a resend stores nothing"
    );
}
