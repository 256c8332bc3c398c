//! The ADT feed end to end: HL7 v2 messages in the styles of three PAS/EPR
//! vendors (synthetic patients, test-range NHS numbers) over a real MLLP
//! connection to the feed service, through JetStream and the projection to
//! the live bed state in Redis.
#![allow(clippy::unwrap_used)] // test code: fail loudly

use std::path::PathBuf;
use std::time::Duration;

use pf_integration_tests::{Platform, TEST_CATALOGUE};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

/// Three feeds of one trust: Epic (ward^room^bed^facility), Cerner (ward in
/// PV1-3.9) and System C CareFlow (local ward and bed codes).
const FEEDS: &str = r#"{ "feeds": [
  { "name": "uhl-epic", "sending_application": "EPIC", "sending_facility": "RWE", "organisation": "RWE",
    "locations": [ { "facility": "RWEAA", "ward": "WD15", "site": "RWEAA" },
                   { "facility": "RWEAA", "ward": "ED*", "site": "RWEAA" },
                   { "facility": "RWEAK", "ward": "CCU", "site": "RWEAK" } ],
    "ed_attendances": true },
  { "name": "uhl-cerner", "sending_application": "CERNER", "sending_facility": "RWE-LRI", "organisation": "RWE",
    "locations": [ { "ward": "WD15", "site": "RWEAA" } ] },
  { "name": "uhl-careflow", "sending_application": "CAREFLOW", "sending_facility": "RWE-GH", "organisation": "RWE",
    "locations": [ { "ward": "GH-CC*", "site": "RWEAK", "catalogue_ward": "CCU", "bed_prefix": "B0" } ] }
] }"#;

struct Feed {
    platform: Platform,
    mllp: String,
    http: String,
    _dir: tempfile::TempDir,
    shutdown: CancellationToken,
}

impl Drop for Feed {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

async fn start(configure: impl FnOnce(&mut pf_adt_feed::AdtConfig)) -> Feed {
    start_with(|_, config| configure(config)).await
}

/// Starts the platform and the feed, configured knowing the platform.
async fn start_with(configure: impl FnOnce(&Platform, &mut pf_adt_feed::AdtConfig)) -> Feed {
    let platform = Platform::start().await;
    for bed in ["B01", "B02", "B03", "B04"] {
        platform.open_bed(&format!("RWEAA/WD15/{bed}")).await;
    }
    platform.open_bed("RWEAK/CCU/B03").await;
    let dir = tempfile::tempdir().unwrap();
    let feeds: PathBuf = dir.path().join("feeds.json");
    std::fs::write(&feeds, FEEDS).unwrap();
    let mut config =
        pf_adt_feed::AdtConfig::local(&platform.nats.url(), &platform.redis.url(), feeds);
    configure(&platform, &mut config);
    let http = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let mllp = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let http_url = format!("http://{}", http.local_addr().unwrap());
    let mllp_addr = mllp.local_addr().unwrap().to_string();
    let shutdown = CancellationToken::new();
    let catalogue = pf_hospital_model::Catalogue::from_json(TEST_CATALOGUE).unwrap();
    tokio::spawn(pf_adt_feed::run(
        http,
        mllp,
        config,
        catalogue,
        shutdown.clone(),
    ));
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(response) = platform.http.get(format!("{http_url}/readyz")).send().await
            && response.status().is_success()
        {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "adt-feed did not become ready"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Feed {
        platform,
        mllp: mllp_addr,
        http: http_url,
        _dir: dir,
        shutdown,
    }
}

/// An MLLP client connection.
struct Engine(TcpStream);

impl Engine {
    async fn connect(feed: &Feed) -> Self {
        Engine(TcpStream::connect(&feed.mllp).await.unwrap())
    }

    /// Sends one message and reads its ACK.
    async fn send(&mut self, message: &str) -> String {
        let mut frame = vec![0x0b];
        frame.extend_from_slice(message.as_bytes());
        frame.extend_from_slice(&[0x1c, 0x0d]);
        self.0.write_all(&frame).await.unwrap();
        let mut answer = Vec::new();
        let mut byte = [0u8; 1];
        while !answer.ends_with(&[0x1c, 0x0d]) {
            let n = tokio::time::timeout(Duration::from_secs(30), self.0.read(&mut byte))
                .await
                .unwrap()
                .unwrap();
            assert_eq!(n, 1, "the connection closed before the ACK");
            answer.push(byte[0]);
        }
        assert_eq!(answer[0], 0x0b);
        String::from_utf8(answer[1..answer.len() - 2].to_vec()).unwrap()
    }

    /// Whether the server closed the connection (reads EOF or an error within 10 s).
    /// (Whatever it sent before closing, such as a TLS alert, is skipped;
    /// never an ACK.)
    async fn closed(&mut self) -> bool {
        let mut buffer = [0u8; 256];
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            match tokio::time::timeout_at(deadline, self.0.read(&mut buffer)).await {
                Ok(Ok(0)) | Ok(Err(_)) => return true,
                Ok(Ok(n)) => assert!(
                    !buffer[..n].contains(&0x0b),
                    "an MLLP answer instead of a close"
                ),
                Err(_) => return false,
            }
        }
    }
}

fn msa(ack: &str) -> (&str, &str, &str) {
    let line = ack
        .split('\r')
        .find(|l| l.starts_with("MSA|"))
        .unwrap_or_else(|| panic!("no MSA in {ack}"));
    let mut fields = line.split('|').skip(1);
    (
        fields.next().unwrap_or(""),
        fields.next().unwrap_or(""),
        fields.next().unwrap_or(""),
    )
}

/// An Epic-style message (2.5.1, `\r`, ward^room^bed^facility, Z-segment).
fn epic(trigger: &str, id: &str, visit: &str, at: &str, bed: &str, prior: &str) -> String {
    let prior = if prior.is_empty() {
        String::new()
    } else {
        format!("WD15^BAY1^{prior}^RWEAA")
    };
    format!(
        "MSH|^~\\&|EPIC|RWE|PATIENTFLOW|PF|{at}||ADT^{trigger}^ADT_A01|{id}|P|2.5.1\r\
         EVN|{trigger}|{at}|||EPICUSER^Jones^Lucy|{at}\r\
         PID|1||E1001^^^EPI^MR~9990000018^^^NHS^NH||O\\S\\Brien^Zoë||19500101|F\r\
         PV1|1|I|WD15^BAY1^{bed}^RWEAA^^^^^Ward 15|||{prior}|||||||||||||{visit}\r\
         ZPV|local|stuff\r"
    )
}

/// A Cerner-style message (2.3, `\n`, ward in PV1-3.9, NHS number type HN).
fn cerner(trigger: &str, id: &str, visit: &str, at: &str, bed: &str) -> String {
    format!(
        "MSH|^~\\&|CERNER|RWE-LRI|PF|PF|{at}||ADT^{trigger}|{id}|P|2.3\n\
         EVN|{trigger}|{at}\n\
         PID|1||MRN555^^^RWE^MR~9990000026^^^NHS^HN||SMITH^JOHN\n\
         PV1|1|I|^^{bed}^RWEAA^^^^^WD15||||||||||||||||{visit}\n\
         AL1|1||PENICILLIN\n"
    )
}

/// A CareFlow-style message (2.4, `\r\n`, local codes, discharge destination).
fn careflow(trigger: &str, id: &str, visit: &str, at: &str, bed: &str) -> String {
    format!(
        "MSH|^~\\&|CAREFLOW|RWE-GH|PF|PF|{at}||ADT^{trigger}|{id}|P|2.4\r\n\
         EVN|{trigger}|{at}\r\n\
         PID|1||1234^^^RWE^PI~9990000034^^^NHS^NH\r\n\
         PV1|1|I|GH-CCU^^{bed}^^^^^^^^RWE||||||||||||||||{visit}|||||||||||||||||01|54\r\n"
    )
}

/// An HL7 timestamp `minutes` after now (plus one, so after the beds were
/// opened), with an explicit offset.
fn t(minutes: i64) -> String {
    let at = time::OffsetDateTime::now_utc() + time::Duration::minutes(minutes + 1);
    at.format(time::macros::format_description!(
        "[year][month][day][hour][minute][second]+0000"
    ))
    .unwrap()
}

async fn beds(platform: &Platform) -> std::collections::BTreeMap<String, String> {
    platform.wait_until_projected().await;
    let mut live = platform.live_state("pf:").await;
    let digest = live.digest().await.unwrap();
    digest
        .iter()
        .filter(|(k, _)| k.starts_with("bed:"))
        .map(|(k, v)| {
            let state = v
                .split([' ', ',', ';'])
                .find_map(|p| p.strip_prefix("state="))
                .unwrap_or("")
                .to_owned();
            (k.clone(), state)
        })
        .collect()
}

async fn state(platform: &Platform, bed: &str) -> String {
    beds(platform)
        .await
        .get(&format!("bed:{bed}"))
        .cloned()
        .unwrap_or_default()
}

async fn beds_stream_last(platform: &Platform) -> u64 {
    let js = platform.jetstream().await;
    js.get_stream("PF_BEDS")
        .await
        .unwrap()
        .info()
        .await
        .unwrap()
        .state
        .last_sequence
}

#[tokio::test]
async fn three_vendors_messages_move_the_live_beds_and_cancellations_reverse_them() {
    let feed = start(|_| {}).await;
    let p = &feed.platform;
    let mut engine = Engine::connect(&feed).await;

    // Epic: admit, transfer, cancel the transfer, discharge, cancel the discharge.
    let ack = engine
        .send(&epic("A01", "EP1", "V1", &t(0), "B01", ""))
        .await;
    assert_eq!(msa(&ack), ("AA", "EP1", "stored: 1 bed change"), "{ack}");
    assert_eq!(state(p, "RWEAA:WD15:B01").await, "occupied");
    let ack = engine
        .send(&epic("A02", "EP2", "V1", &t(60), "B02", "B01"))
        .await;
    assert_eq!(msa(&ack).0, "AA", "{ack}");
    assert_eq!(state(p, "RWEAA:WD15:B01").await, "awaiting_clean");
    assert_eq!(state(p, "RWEAA:WD15:B02").await, "occupied");
    let ack = engine
        .send(&epic("A12", "EP3", "V1", &t(70), "B01", ""))
        .await;
    assert_eq!(msa(&ack).0, "AA", "{ack}");
    assert_eq!(state(p, "RWEAA:WD15:B01").await, "occupied");
    assert_eq!(state(p, "RWEAA:WD15:B02").await, "awaiting_clean");
    let ack = engine
        .send(&epic("A03", "EP4", "V1", &t(180), "B01", ""))
        .await;
    assert_eq!(msa(&ack).0, "AA", "{ack}");
    assert_eq!(state(p, "RWEAA:WD15:B01").await, "awaiting_clean");
    let ack = engine
        .send(&epic("A13", "EP5", "V1", &t(190), "", ""))
        .await;
    assert_eq!(msa(&ack).0, "AA", "{ack}");
    assert_eq!(state(p, "RWEAA:WD15:B01").await, "occupied");

    // Cerner on another connection: admit, then cancel the admission.
    let mut cerner_engine = Engine::connect(&feed).await;
    let first = cerner_engine
        .send(&cerner("A01", "CER-1", "V2", &t(30), "B03"))
        .await;
    assert_eq!(msa(&first).0, "AA", "{first}");
    assert_eq!(state(p, "RWEAA:WD15:B03").await, "occupied");
    let ack = cerner_engine
        .send(&cerner("A11", "CER-2", "V2", &t(40), ""))
        .await;
    assert_eq!(msa(&ack).0, "AA", "{ack}");
    assert_eq!(state(p, "RWEAA:WD15:B03").await, "awaiting_clean");

    // The admission sent again (an engine resending after a lost ACK): the
    // same ACK, and nothing changes (the cancelled admission stays cancelled).
    let stored = beds_stream_last(p).await;
    let again = cerner_engine
        .send(&cerner("A01", "CER-1", "V2", &t(30), "B03"))
        .await;
    assert_eq!(again, first);
    assert_eq!(beds_stream_last(p).await, stored);
    assert_eq!(state(p, "RWEAA:WD15:B03").await, "awaiting_clean");

    // CareFlow: local ward and bed codes mapped to Glenfield CCU bed B03.
    let ack = engine
        .send(&careflow("A01", "CF-1", "V3", &t(120), "3"))
        .await;
    assert_eq!(msa(&ack).0, "AA", "{ack}");
    assert_eq!(state(p, "RWEAK:CCU:B03").await, "occupied");
    let ack = engine
        .send(&careflow("A03", "CF-2", "V3", &t(240), "3"))
        .await;
    assert_eq!(msa(&ack).0, "AA", "{ack}");
    assert_eq!(state(p, "RWEAK:CCU:B03").await, "awaiting_clean");

    // No NHS number in the metrics.
    let metrics = p.metrics(&feed.http).await;
    assert!(
        metrics.contains("pf_adt_messages_total{code=\"AA\",feed=\"uhl-epic\",trigger=\"A01\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("pf_adt_resends_total{feed=\"uhl-cerner\"} 1"),
        "{metrics}"
    );
    for number in ["9990000018", "9990000026", "9990000034"] {
        assert!(!metrics.contains(number));
    }
}

#[tokio::test]
async fn unknown_locations_and_senders_are_refused_with_the_reason_and_dead_lettered() {
    let feed = start(|_| {}).await;
    let p = &feed.platform;
    let mut engine = Engine::connect(&feed).await;
    let stored = beds_stream_last(p).await;

    let unknown_ward = epic("A01", "EP9", "V9", &t(0), "B01", "")
        .replace("WD15^BAY1^B01^RWEAA", "WD99^BAY1^B01^RWEAA");
    let ack = engine.send(&unknown_ward).await;
    let (code, id, text) = msa(&ack);
    assert_eq!((code, id), ("AE", "EP9"), "{ack}");
    assert_eq!(
        text,
        "location ward `WD99`, room `BAY1`, bed `B01`, facility `RWEAA` is not in feed uhl-epic's location mapping"
    );
    assert!(
        ack.contains("\rERR|||204^Unknown key identifier^HL70357|E||||"),
        "{ack}"
    );

    // A mapped ward whose bed is not in the catalogue.
    let ack = engine
        .send(&epic("A01", "EP10", "V10", &t(0), "B77", ""))
        .await;
    assert_eq!(
        msa(&ack).2,
        "bed RWEAA/WD15/B77 is not in the site catalogue; check the feed's location mapping",
        "{ack}"
    );
    // A bed in the catalogue that is not open.
    let ack = engine
        .send(&epic("A01", "EP11", "V11", &t(0), "B09", ""))
        .await;
    assert_eq!(
        msa(&ack).2,
        "bed RWEAA/WD15/B09 is not open in Patient Flow; open it or correct the location",
        "{ack}"
    );
    // An unknown sender.
    let ack = engine
        .send(&epic("A01", "EP12", "V12", &t(0), "B01", "").replace("|EPIC|RWE|", "|EPIC|RXX|"))
        .await;
    assert_eq!(
        msa(&ack),
        (
            "AR",
            "EP12",
            "no feed is configured for sending application `EPIC` and facility `RXX`"
        ),
        "{ack}"
    );
    // Not ADT.
    let ack = engine
        .send("MSH|^~\\&|EPIC|RWE|PF|PF|20260115||ORU^R01|EP13|P|2.5\rPID|1\r")
        .await;
    assert_eq!(msa(&ack).0, "AR", "{ack}");

    // Nothing stored; each refusal parked with its reason.
    assert_eq!(beds_stream_last(p).await, stored);
    let js = p.jetstream().await;
    let dead = js.get_stream("PF_DEAD_LETTERS").await.unwrap();
    let parked = dead
        .get_last_raw_message_by_subject("pf.deadletter.adt")
        .await
        .unwrap();
    assert!(
        parked
            .payload
            .starts_with(b"MSH|^~\\&|EPIC|RWE|PF|PF|20260115||ORU^R01")
    );
    let mut dead = dead;
    assert_eq!(dead.info().await.unwrap().state.messages, 5);
    let metrics = p.metrics(&feed.http).await;
    assert!(
        metrics.contains("pf_adt_refused_total{feed=\"uhl-epic\",reason=\"unknown_location\"} 2"),
        "{metrics}"
    );

    // Once the bed is opened, the same message (same control id) is taken.
    p.open_bed("RWEAA/WD15/B09").await;
    let ack = engine
        .send(&epic("A01", "EP11", "V11", &t(0), "B09", ""))
        .await;
    assert_eq!(msa(&ack).0, "AA", "{ack}");
    assert_eq!(state(p, "RWEAA:WD15:B09").await, "occupied");
}

#[tokio::test]
async fn hostile_connections_are_closed_with_nothing_stored_and_others_unaffected() {
    let feed = start(|config| {
        config.max_message_bytes = 64 * 1024;
        config.idle_timeout = Duration::from_secs(2);
    })
    .await;
    let p = &feed.platform;
    let mut good = Engine::connect(&feed).await;
    let ack = good.send(&epic("A01", "G1", "V1", &t(0), "B01", "")).await;
    assert_eq!(msa(&ack).0, "AA", "{ack}");
    let stored = beds_stream_last(p).await;
    // The good feed keeps sending (updates that change nothing) all along.
    let stop = CancellationToken::new();
    let busy = {
        let stop = stop.clone();
        tokio::spawn(async move {
            let mut sent = 0;
            while !stop.is_cancelled() {
                sent += 1;
                let ack = good
                    .send(&epic("A08", &format!("U{sent}"), "V1", &t(5), "B01", ""))
                    .await;
                assert_eq!(msa(&ack).0, "AA", "{ack}");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            (good, sent)
        })
    };

    // Binary garbage.
    let mut garbage = Engine::connect(&feed).await;
    garbage
        .0
        .write_all(&[0xde, 0xad, 0xbe, 0xef, 0x00, 0xff])
        .await
        .unwrap();
    assert!(garbage.closed().await, "garbage closes the connection");

    // A 10 MB message, and a frame that never ends: closed at the limit.
    let mut huge = Engine::connect(&feed).await;
    let mut frame = vec![0x0b];
    frame.extend(epic("A01", "H1", "V5", &t(0), "B02", "").into_bytes());
    frame.resize(10 * 1024 * 1024, b'X');
    frame.extend_from_slice(&[0x1c, 0x0d]);
    let _ = huge.0.write_all(&frame).await; // the server closes part-way
    assert!(
        huge.closed().await,
        "an oversize message closes the connection"
    );

    // A truncated frame: the sender goes away mid-message.
    let mut truncated = Engine::connect(&feed).await;
    truncated
        .0
        .write_all(b"\x0bMSH|^~\\&|EPIC|RWE|PF|PF|202601150900||ADT^A01|T1|P|2.5\rPID|1")
        .await
        .unwrap();
    truncated.0.shutdown().await.unwrap();
    assert!(truncated.closed().await);

    // A connection that sends nothing is closed after the idle timeout.
    let mut silent = Engine::connect(&feed).await;
    assert!(silent.closed().await, "a silent connection is closed");

    // Meanwhile the good connection was answered all along, and nothing was stored.
    stop.cancel();
    let (mut good, sent) = busy.await.unwrap();
    assert!(sent > 3, "{sent}");
    assert_eq!(beds_stream_last(p).await, stored);
    let ack = good.send(&epic("A03", "G2", "V1", &t(60), "B01", "")).await;
    assert_eq!(msa(&ack).0, "AA", "{ack}");
    assert_eq!(state(p, "RWEAA:WD15:B01").await, "awaiting_clean");
    assert_eq!(state(p, "RWEAA:WD15:B02").await, "available");
    let metrics = p.metrics(&feed.http).await;
    for reason in ["outside_frame", "too_long", "truncated", "idle"] {
        assert!(
            metrics.contains(&format!(
                "pf_adt_connections_refused_total{{reason=\"{reason}\"}} 1"
            )),
            "{reason}: {metrics}"
        );
    }
}

#[tokio::test]
async fn staff_and_the_feed_at_the_same_bed_the_feed_owns_occupancy_staff_the_rest() {
    let feed = start(|_| {}).await;
    let p = &feed.platform;
    let mut engine = Engine::connect(&feed).await;

    // Staff closed B04; a patient is admitted into it: occupancy wins, and
    // the bed's event says the closure was lifted by the hospital system.
    let (status, body) = p.set_state("RWEAA/WD15/B04", "closed").await;
    assert_eq!(status, 200, "{body}");
    let ack = engine
        .send(&epic("A01", "C1", "V4", &t(0), "B04", ""))
        .await;
    assert_eq!(msa(&ack), ("AA", "C1", "stored: 2 bed changes"), "{ack}");
    assert_eq!(state(p, "RWEAA:WD15:B04").await, "occupied");
    let js = p.jetstream().await;
    let stream = js.get_stream("PF_BEDS").await.unwrap();
    let mut reasons = Vec::new();
    let last = stream
        .get_last_raw_message_by_subject("pf.beds.RWEAA.WD15.B04")
        .await
        .unwrap()
        .sequence;
    for sequence in last - 1..=last {
        let message = stream.get_raw_message(sequence).await.unwrap();
        let event = pf_proto::v1::EventEnvelope::decode_checked(&message.payload).unwrap();
        let actor = event.actor.clone().unwrap();
        assert_eq!(actor.id, "adt-feed:uhl-epic");
        assert_eq!(event.source.clone().unwrap().service, "adt-feed");
        if let Some(pf_proto::v1::event_envelope::Payload::BedStateChanged(change)) = event.payload
        {
            reasons.push(change.reason);
        }
    }
    assert!(reasons[0].contains("closure is lifted"), "{reasons:?}");

    // The patient leaves; staff clean the bed; the discharge is then sent
    // again under a new control id (an engine replaying its queue): a
    // discharge never undoes staff's cleaning, and nothing is stored.
    let ack = engine
        .send(&epic("A03", "C2", "V4", &t(10), "B04", ""))
        .await;
    assert_eq!(msa(&ack).0, "AA", "{ack}");
    let (status, body) = p.set_state("RWEAA/WD15/B04", "available").await;
    assert_eq!(status, 200, "{body}");
    let stored = beds_stream_last(p).await;
    let ack = engine
        .send(&epic("A03", "C3", "V4", &t(10), "B04", ""))
        .await;
    assert_eq!(msa(&ack).0, "AA", "{ack}");
    assert_eq!(beds_stream_last(p).await, stored);
    assert_eq!(state(p, "RWEAA:WD15:B04").await, "available");

    // At once: staff mark B03 clean while the feed admits a patient into it
    // (it was awaiting cleaning). Whichever lands first, the bed ends up
    // occupied, the feed is answered AA and staff get a clear answer.
    for round in 0..5 {
        let id = format!("R{round}");
        let visit = format!("RV{round}");
        let ack = engine
            .send(&epic(
                "A01",
                &format!("{id}a"),
                &visit,
                &t(20 + round * 10),
                "B03",
                "",
            ))
            .await;
        assert_eq!(msa(&ack).0, "AA", "{ack}");
        let ack = engine
            .send(&epic(
                "A03",
                &format!("{id}d"),
                &visit,
                &t(21 + round * 10),
                "B03",
                "",
            ))
            .await;
        assert_eq!(msa(&ack).0, "AA", "{ack}");
        assert_eq!(state(p, "RWEAA:WD15:B03").await, "awaiting_clean");
        let admit = epic(
            "A01",
            &format!("{id}n"),
            &format!("{visit}n"),
            &t(22 + round * 10),
            "B03",
            "",
        );
        let (staff, feed_ack) = tokio::join!(
            p.set_state("RWEAA/WD15/B03", "available"),
            engine.send(&admit)
        );
        assert_eq!(msa(&feed_ack).0, "AA", "{feed_ack}");
        assert!(staff.0 == 200 || staff.0 == 409, "{staff:?}");
        assert_eq!(
            state(p, "RWEAA:WD15:B03").await,
            "occupied",
            "round {round}"
        );
        let ack = engine
            .send(&epic(
                "A03",
                &format!("{id}x"),
                &format!("{visit}n"),
                &t(23 + round * 10),
                "B03",
                "",
            ))
            .await;
        assert_eq!(msa(&ack).0, "AA", "{ack}");
        let (status, body) = p.set_state("RWEAA/WD15/B03", "available").await;
        assert_eq!(status, 200, "{body}");
    }
}

#[tokio::test]
async fn the_mllp_port_speaks_tls_when_given_a_certificate() {
    use rustls_pki_types::pem::PemObject as _;
    let certs = tempfile::tempdir().unwrap();
    let (cert, key) = (certs.path().join("cert.pem"), certs.path().join("key.pem"));
    let made = std::process::Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "1",
        ])
        .args([
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=DNS:localhost",
            "-addext",
            "basicConstraints=critical,CA:FALSE",
        ])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .unwrap();
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    let feed = start(|config| config.tls = Some((cert.clone(), key.clone()))).await;

    let mut roots = tokio_rustls::rustls::RootCertStore::empty();
    for certificate in rustls_pki_types::CertificateDer::pem_file_iter(&cert).unwrap() {
        roots.add(certificate.unwrap()).unwrap();
    }
    let provider = std::sync::Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
    let config = tokio_rustls::rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(std::sync::Arc::new(config));
    let tcp = TcpStream::connect(&feed.mllp).await.unwrap();
    let name = rustls_pki_types::ServerName::try_from("localhost").unwrap();
    let mut tls = connector.connect(name, tcp).await.unwrap();
    let message = epic("A01", "TLS1", "V1", &t(0), "B01", "");
    let mut frame = vec![0x0b];
    frame.extend_from_slice(message.as_bytes());
    frame.extend_from_slice(&[0x1c, 0x0d]);
    tls.write_all(&frame).await.unwrap();
    let mut answer = Vec::new();
    let mut chunk = [0u8; 512];
    while !answer.ends_with(&[0x1c, 0x0d]) {
        let n = tokio::time::timeout(Duration::from_secs(30), tls.read(&mut chunk))
            .await
            .unwrap()
            .unwrap();
        assert!(n > 0, "closed before the ACK");
        answer.extend_from_slice(&chunk[..n]);
    }
    let ack = String::from_utf8_lossy(&answer[1..answer.len() - 2]).into_owned();
    assert_eq!(msa(&ack).0, "AA", "{ack}");
    assert_eq!(state(&feed.platform, "RWEAA:WD15:B01").await, "occupied");

    // Plain MLLP on the TLS port is not a handshake: closed, nothing stored.
    let stored = beds_stream_last(&feed.platform).await;
    let mut plain = Engine::connect(&feed).await;
    plain.0.write_all(&frame).await.unwrap();
    assert!(plain.closed().await);
    assert_eq!(beds_stream_last(&feed.platform).await, stored);
}

#[tokio::test]
async fn the_simulator_in_adt_mode_admits_and_discharges_through_the_feed() {
    use pf_hospital_model::{BedAddress, BedState};
    let feed = start(|_| {}).await;
    let p = &feed.platform;
    let client = pf_simulator::client::BedsClient::new(&p.beds_url, Duration::from_secs(10))
        .unwrap()
        .with_adt(pf_simulator::adt::AdtSender::new(
            &feed.mllp,
            Duration::from_secs(10),
        ));
    // Several beds, so that both of the Royal Infirmary's styles are sent.
    for bed in ["B01", "B02", "B03"] {
        let address = BedAddress::parse("RWEAA", "WD15", bed).unwrap();
        client
            .change_state(
                &address,
                Some(BedState::Available),
                BedState::Occupied,
                "admitted",
            )
            .await
            .unwrap();
        assert_eq!(state(p, &format!("RWEAA:WD15:{bed}")).await, "occupied");
    }
    for bed in ["B01", "B02", "B03"] {
        let address = BedAddress::parse("RWEAA", "WD15", bed).unwrap();
        client
            .change_state(
                &address,
                Some(BedState::Occupied),
                BedState::AwaitingClean,
                "discharged",
            )
            .await
            .unwrap();
        assert_eq!(
            state(p, &format!("RWEAA:WD15:{bed}")).await,
            "awaiting_clean"
        );
    }
    let metrics = p.metrics(&feed.http).await;
    assert!(metrics.contains("feed=\"uhl-cerner\""), "{metrics}");
    assert!(metrics.contains("feed=\"uhl-epic\""), "{metrics}");
    // The feed's events name it as the actor: the simulator never touched the API.
    let js = p.jetstream().await;
    let stream = js.get_stream("PF_BEDS").await.unwrap();
    let last = stream
        .get_last_raw_message_by_subject("pf.beds.RWEAA.WD15.B02")
        .await
        .unwrap();
    let event = pf_proto::v1::EventEnvelope::decode_checked(&last.payload).unwrap();
    assert_eq!(event.source.unwrap().service, "adt-feed");
}

#[tokio::test]
async fn the_simulators_awkward_messages_are_taken_and_leave_the_bed_as_planned() {
    use pf_hospital_model::{BedAddress, BedState};
    let feed = start(|_| {}).await;
    let p = &feed.platform;
    let client = pf_simulator::client::BedsClient::new(&p.beds_url, Duration::from_secs(10))
        .unwrap()
        .with_adt(pf_simulator::adt::AdtSender::new(
            &feed.mllp,
            Duration::from_secs(10),
        ));
    let address = BedAddress::parse("RWEAA", "WD15", "B04").unwrap();
    // Admissions and discharges of one bed, cleaned by staff in between:
    // some come with a cancellation, a leave of absence or a cancelled
    // discharge sent again, and the bed still ends as each step says.
    for _ in 0..6 {
        client
            .change_state(
                &address,
                Some(BedState::Available),
                BedState::Occupied,
                "admitted",
            )
            .await
            .unwrap();
        assert_eq!(state(p, "RWEAA:WD15:B04").await, "occupied");
        client
            .change_state(
                &address,
                Some(BedState::Occupied),
                BedState::AwaitingClean,
                "discharged",
            )
            .await
            .unwrap();
        assert_eq!(state(p, "RWEAA:WD15:B04").await, "awaiting_clean");
        let (status, body) = p.set_state("RWEAA/WD15/B04", "available").await;
        assert_eq!(status, 200, "{body}");
    }
    let metrics = p.metrics(&feed.http).await;
    for trigger in ["A01", "A03", "A11", "A13", "A21", "A22"] {
        assert!(
            metrics
                .lines()
                .any(|l| l.starts_with("pf_adt_messages_total")
                    && l.contains(&format!("trigger=\"{trigger}\""))
                    && l.contains("code=\"AA\"")),
            "{trigger}: {metrics}"
        );
    }
    assert!(!metrics.contains("code=\"AE\""), "{metrics}");
}

/// An Epic-style message for patient `nhs` with a discharge destination
/// code in PV1-37 (empty: none sent).
fn epic_for(trigger: &str, id: &str, visit: &str, at: &str, nhs: &str, dest: &str) -> String {
    let mut pv1 = vec![String::new(); 38];
    pv1[0] = "PV1".into();
    pv1[1] = "1".into();
    pv1[2] = "I".into();
    pv1[3] = "WD15^BAY1^B03^RWEAA".into();
    pv1[19] = visit.into();
    pv1[37] = dest.into();
    format!(
        "MSH|^~\\&|EPIC|RWE|PATIENTFLOW|PF|{at}||ADT^{trigger}^ADT_A03|{id}|P|2.5.1\r\
         EVN|{trigger}|{at}\r\
         PID|1||E2002^^^EPI^MR~{nhs}^^^NHS^NH||Test^Patient||19400101|M\r\
         {}\r",
        pv1.join("|")
    )
}

/// A patient on RWE's discharge list, put there by a coordinator.
async fn on_the_list(p: &Platform, nhs: &str) -> String {
    let coordinator = p.token_for(
        &pf_access::Principal::person(
            "co-rwe",
            "Coordinator",
            Some(pf_access::OrgId::parse("RWE").unwrap()),
        )
        .with_grant(
            pf_access::Grant::parse(pf_access::Role::DischargeCoordinator, &["RWE"]).unwrap(),
        ),
    );
    let response = p
        .http
        .post(format!("{}/api/v1/discharges", p.discharges_url))
        .bearer_auth(&coordinator)
        .json(&serde_json::json!({
            "nhs_number": nhs,
            "sex": "male",
            "site": "RWEAA",
            "ward": "WD15",
            "discharge_ready_date": "2026-11-27",
            "pathway": 1,
            "search_postcode": "LE2 7LX",
            "delay_reason": "awaiting_care_home_place",
            "needs": "Walks with a frame"
        }))
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(status, 201, "{body}");
    body["discharge_id"].as_str().unwrap().to_owned()
}

/// The discharge's record as stored in the event log.
async fn discharge_record(p: &Platform, id: &str) -> pf_discharge_model::DischargeRecord {
    let keys = pf_patient_keys::PatientKeys::connect(
        &p.redis.url(),
        pf_patient_keys::DEFAULT_PREFIX,
        pf_patient_keys::MasterKey::development(),
        &prometheus::Registry::new(),
    )
    .await
    .unwrap();
    pf_discharges::discharge_log::DischargeLog::new(
        p.jetstream().await,
        keys,
        time::Duration::days(30),
    )
    .current(id)
    .await
    .unwrap()
    .unwrap()
    .record
}

/// RWE's bed-state feed as a machine identity: what the feed's token says.
fn feed_identity() -> pf_access::Principal {
    pf_access::Principal::machine(
        "adt-feed",
        "ADT feed",
        Some(pf_access::OrgId::parse("RWE").unwrap()),
    )
    .with_grant(pf_access::Grant::parse(pf_access::Role::BedPublisher, &["RWE"]).unwrap())
}

#[tokio::test]
async fn an_a03_records_the_discharge_on_the_list_and_an_a13_puts_the_patient_back() {
    let nhs = pf_discharge_model::NhsNumber::test_number(41)
        .as_str()
        .to_owned();
    let unknown = pf_discharge_model::NhsNumber::test_number(42)
        .as_str()
        .to_owned();
    let feed = start_with(|p, config| {
        config.discharges = Some(pf_adt_feed::discharges::DischargesLink {
            url: p.discharges_url.clone(),
            credentials: pf_adt_feed::discharges::Credentials::Token(p.token_for(&feed_identity())),
        });
    })
    .await;
    let p = &feed.platform;
    let id = on_the_list(p, &nhs).await;
    let other = on_the_list(p, pf_discharge_model::NhsNumber::test_number(43).as_str()).await;
    p.wait_until_projected().await;
    let mut engine = Engine::connect(&feed).await;

    let ack = engine
        .send(&epic_for("A01", "J1", "VJ1", &t(0), &nhs, ""))
        .await;
    assert_eq!(msa(&ack).0, "AA", "{ack}");
    // Discharged to an NHS-run care home (NHS discharge destination 54).
    let ack = engine
        .send(&epic_for("A03", "J2", "VJ1", &t(30), &nhs, "54"))
        .await;
    assert_eq!(msa(&ack), ("AA", "J2", "stored: 1 bed change"), "{ack}");
    assert_eq!(state(p, "RWEAA:WD15:B03").await, "awaiting_clean");
    let record = discharge_record(p, &id).await;
    assert_eq!(
        record.status,
        pf_discharge_model::DischargeStatus::Discharged
    );
    assert_eq!(
        record.destination,
        Some(pf_discharge_model::Destination::CareHome)
    );
    assert!(record.discharged_at.is_some());
    let metrics = p.metrics(&feed.http).await;
    assert!(
        metrics.contains("pf_adt_discharge_join_total{outcome=\"joined\"} 1"),
        "{metrics}"
    );
    // Another patient on the list is untouched.
    assert!(discharge_record(p, &other).await.status.is_waiting());

    // A13: the discharge is cancelled and the patient waits again.
    p.wait_until_projected().await;
    let ack = engine
        .send(&epic_for("A13", "J3", "VJ1", &t(40), &nhs, ""))
        .await;
    assert_eq!(msa(&ack).0, "AA", "{ack}");
    assert_eq!(state(p, "RWEAA:WD15:B03").await, "occupied");
    let record = discharge_record(p, &id).await;
    assert!(record.status.is_waiting(), "{:?}", record.status);
    assert_eq!(record.destination, None);
    assert_eq!(record.discharged_at, None);

    // An A03 for a patient not on the list: the bed changes, the list does not.
    p.wait_until_projected().await;
    let ack = engine
        .send(&epic_for("A03", "J4", "VJ1", &t(50), &unknown, "19"))
        .await;
    assert_eq!(msa(&ack).0, "AA", "{ack}");
    assert_eq!(state(p, "RWEAA:WD15:B03").await, "awaiting_clean");
    assert!(discharge_record(p, &id).await.status.is_waiting());
    assert!(discharge_record(p, &other).await.status.is_waiting());
    let metrics = p.metrics(&feed.http).await;
    assert!(
        metrics.contains("pf_adt_discharge_join_total{outcome=\"not_on_list\"} 1"),
        "{metrics}"
    );

    // Both changes are in the audit trail, made by the feed's machine
    // identity, and no audit record carries the NHS number.
    let jetstream = p.jetstream().await;
    let mut stream = jetstream
        .get_stream(pf_audit::stream::STREAM)
        .await
        .unwrap();
    let info = stream.info().await.unwrap().clone();
    let mut records = Vec::new();
    for sequence in info.state.first_sequence.max(1)..=info.state.last_sequence {
        if let Ok(message) = stream.get_raw_message(sequence).await {
            records.push(String::from_utf8(message.payload.to_vec()).unwrap());
        }
    }
    let entity = format!("discharge/{id}");
    for action in [
        "discharge.pas_discharged",
        "discharge.pas_discharge_cancelled",
    ] {
        let record: serde_json::Value = records
            .iter()
            .map(|r| serde_json::from_str::<serde_json::Value>(r).unwrap())
            .find(|r| {
                r["action"] == action
                    && r["entity"] == entity
                    && r["outcome"]["result"] == "accepted"
            })
            .unwrap_or_else(|| panic!("{action} is not in the audit trail: {records:?}"));
        assert_eq!(record["actor"]["id"], "adt-feed", "{record}");
        assert_eq!(record["actor"]["kind"], "machine", "{record}");
    }
    for record in &records {
        assert!(
            !record.contains(&nhs) && !record.contains(&unknown),
            "{record}"
        );
    }
}

#[tokio::test]
async fn the_discharges_service_down_leaves_the_bed_change_standing() {
    let feed = start_with(|_, config| {
        config.discharges = Some(pf_adt_feed::discharges::DischargesLink {
            // Nothing listens here.
            url: "http://127.0.0.1:9".into(),
            credentials: pf_adt_feed::discharges::Credentials::Token("no-token".into()),
        });
    })
    .await;
    let p = &feed.platform;
    let nhs = pf_discharge_model::NhsNumber::test_number(44)
        .as_str()
        .to_owned();
    let mut engine = Engine::connect(&feed).await;
    let ack = engine
        .send(&epic_for("A01", "K1", "VK1", &t(0), &nhs, ""))
        .await;
    assert_eq!(msa(&ack).0, "AA", "{ack}");
    let ack = engine
        .send(&epic_for("A03", "K2", "VK1", &t(30), &nhs, "19"))
        .await;
    assert_eq!(msa(&ack), ("AA", "K2", "stored: 1 bed change"), "{ack}");
    assert_eq!(state(p, "RWEAA:WD15:B03").await, "awaiting_clean");
    let metrics = p.metrics(&feed.http).await;
    assert!(
        metrics.contains("pf_adt_discharge_join_total{outcome=\"unavailable\"} 1"),
        "{metrics}"
    );
}

/// The log lines written while a test runs on this thread.
#[derive(Clone, Default)]
struct CapturedLogs(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for CapturedLogs {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl CapturedLogs {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

/// The NHS number written the ways a log could carry it: its ten digits
/// together, spaced 3-3-4, or with dashes.
fn written_forms(nhs: &str) -> [String; 3] {
    let (a, rest) = nhs.split_at(3);
    let (b, c) = rest.split_at(3);
    [
        nhs.to_owned(),
        format!("{a} {b} {c}"),
        format!("{a}-{b}-{c}"),
    ]
}

// One thread: every task of the platform and the feed runs where the
// capturing subscriber is the default, and no other test's logs mix in.
#[tokio::test(flavor = "current_thread")]
async fn no_nhs_number_reaches_the_logs() {
    let logs = CapturedLogs::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(
            "debug,async_nats=info,hyper=info,hyper_util=info,h2=info,reqwest=info,rustls=info,tower=info",
        ))
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let listed = pf_discharge_model::NhsNumber::test_number(61)
        .as_str()
        .to_owned();
    let unlisted = pf_discharge_model::NhsNumber::test_number(62)
        .as_str()
        .to_owned();
    let feed = start_with(|p, config| {
        config.discharges = Some(pf_adt_feed::discharges::DischargesLink {
            url: p.discharges_url.clone(),
            credentials: pf_adt_feed::discharges::Credentials::Token(p.token_for(&feed_identity())),
        });
    })
    .await;
    let p = &feed.platform;
    on_the_list(p, &listed).await;
    p.wait_until_projected().await;
    let mut engine = Engine::connect(&feed).await;
    let mut sent = Vec::new();
    for (n, (trigger, nhs, dest)) in [
        ("A01", &listed, ""),
        ("A03", &listed, "19"),
        ("A13", &listed, ""),
        ("A01", &unlisted, ""),
        ("A03", &unlisted, "54"),
    ]
    .into_iter()
    .enumerate()
    {
        let ack = engine
            .send(&epic_for(
                trigger,
                &format!("L{n}"),
                "VL1",
                &t(n as i64 * 10),
                nhs,
                dest,
            ))
            .await;
        assert_eq!(msa(&ack).0, "AA", "{ack}");
        sent.push(ack);
    }
    // Refused messages carrying the number: an unknown location, a PID
    // that breaks the structure, a spaced number in a field of its own.
    let unknown_ward = epic_for("A01", "L10", "VL2", &t(60), &listed, "")
        .replace("WD15^BAY1^B03^RWEAA", "NOWARD^^B01^NOSITE");
    let ack = engine.send(&unknown_ward).await;
    assert_eq!(msa(&ack).0, "AE", "{ack}");
    let broken = format!(
        "MSH|^~\\&|EPIC|RWE|PF|PF|{}||ADT^A01|L11|P|2.5.1\r{}|PID|1\r",
        t(70),
        listed
    );
    let ack = engine.send(&broken).await;
    assert_ne!(msa(&ack).0, "AA", "{ack}");
    let spaced = epic_for("A08", "L12", "VL1", &t(80), &unlisted, "")
        .replace("Test^Patient", &written_forms(&listed)[1]);
    engine.send(&spaced).await;
    drop(engine);
    drop(feed);

    let text = logs.text();
    // The feed's own lines were captured (which of them can vary: tests
    // running beside this one in the process share tracing's callsite cache).
    assert!(
        text.contains("pf_adt_feed::ingest"),
        "the feed's logs were captured: {text}"
    );
    for nhs in [&listed, &unlisted] {
        for form in written_forms(nhs) {
            for (n, line) in text.lines().enumerate() {
                assert!(
                    !line.contains(&form),
                    "line {n} of the logs has an NHS number: {line}"
                );
            }
        }
    }
}

/// An Epic-style message of patient class `class` at `location`
/// (ward^room^bed^facility), for a patient with NHS number `nhs`.
fn epic_visit(
    trigger: &str,
    id: &str,
    visit: &str,
    at: &str,
    class: &str,
    location: &str,
    nhs: &str,
) -> String {
    format!(
        "MSH|^~\\&|EPIC|RWE|PATIENTFLOW|PF|{at}||ADT^{trigger}^ADT_A01|{id}|P|2.5.1\r\
         EVN|{trigger}|{at}|||EPICUSER^Jones^Lucy|{at}\r\
         PID|1||E3003^^^EPI^MR~{nhs}^^^NHS^NH||Quixote^Dulcinea||19610203|F\r\
         PV1|1|{class}|{location}||||||||||||||||{visit}\r"
    )
}

/// The feed with its ED events sent to the platform's urgent-care
/// service, signed in as RWE's feed.
async fn start_with_ed() -> Feed {
    start_with(|p, config| {
        config.urgent_care = Some(pf_adt_feed::urgent_care::UrgentCareLink {
            url: p.urgent_care_url.clone(),
            credentials: pf_adt_feed::discharges::Credentials::Token(p.token_for(&feed_identity())),
        });
    })
    .await
}

/// Patients in `site`'s ED as the wall counts them (the live state's
/// figures), once it reaches `expected` (what it is after 30 s otherwise).
async fn in_department(p: &Platform, site: &str, expected: i64) -> i64 {
    let mut live = p.live_state("pf:").await;
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let now = time::OffsetDateTime::now_utc();
        let read = live
            .urgent_care(pf_live_state::discharge_counts::uk_date(now))
            .await
            .unwrap();
        let now_ms = i64::try_from(now.unix_timestamp_nanos() / 1_000_000).unwrap();
        let figures = pf_live_state::urgent_care::figures(&read, now_ms);
        let count = figures.get(site).map_or(0, |f| f.in_department);
        if count == expected || std::time::Instant::now() > deadline {
            return count;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Every event of the urgent-care stream, as stored (bytes).
async fn urgent_care_events(p: &Platform) -> Vec<Vec<u8>> {
    let js = p.jetstream().await;
    let mut stream = js
        .get_stream(pf_event_log::streams::URGENT_CARE.name)
        .await
        .unwrap();
    let info = stream.info().await.unwrap().clone();
    let mut events = Vec::new();
    for sequence in info.state.first_sequence.max(1)..=info.state.last_sequence {
        if let Ok(message) = stream.get_raw_message(sequence).await {
            events.push(message.payload.to_vec());
        }
    }
    events
}

/// The event type of a stored urgent-care event and, for a departure, how
/// the patient left.
fn ed_event(bytes: &[u8]) -> (String, Option<pf_proto::v1::EdDeparture>) {
    use pf_proto::v1::event_envelope::Payload;
    let event = pf_proto::v1::EventEnvelope::decode_checked(bytes).unwrap();
    let departure = match &event.payload {
        Some(Payload::EdDeparted(d)) => d
            .attendance
            .as_ref()
            .and_then(|a| pf_proto::v1::EdDeparture::try_from(a.departure).ok()),
        _ => None,
    };
    (event.event_type, departure)
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w.eq_ignore_ascii_case(needle.as_bytes()))
}

#[tokio::test]
async fn an_ed_registration_and_discharge_move_the_walls_patients_in_department() {
    let feed = start_with_ed().await;
    let p = &feed.platform;
    let nhs = pf_discharge_model::NhsNumber::test_number(71)
        .as_str()
        .to_owned();
    let mut engine = Engine::connect(&feed).await;
    assert_eq!(in_department(p, "RWEAA", 0).await, 0);

    // A04 of an ED visit: the patient arrives in RWEAA's department (in a
    // cubicle, which the bed catalogue does not hold).
    let ack = engine
        .send(&epic_visit(
            "A04",
            "ED1",
            "VED1",
            &t(0),
            "E",
            "EDMAJ^^C12^RWEAA",
            &nhs,
        ))
        .await;
    assert_eq!(
        msa(&ack),
        (
            "AA",
            "ED1",
            "accepted: no bed changes (no bed changes for this event)"
        ),
        "{ack}"
    );
    assert_eq!(in_department(p, "RWEAA", 1).await, 1);

    // An inpatient's registration and discharge are no ED events.
    let ack = engine
        .send(&epic_visit(
            "A04",
            "ED2",
            "VIP1",
            &t(1),
            "I",
            "WD15^BAY1^^RWEAA",
            &nhs,
        ))
        .await;
    assert_eq!(msa(&ack).0, "AA", "{ack}");
    let ack = engine
        .send(&epic_visit(
            "A03",
            "ED3",
            "VIP1",
            &t(2),
            "I",
            "WD15^BAY1^^RWEAA",
            &nhs,
        ))
        .await;
    assert_eq!(msa(&ack).0, "AA", "{ack}");

    // A message for another trust's site is refused as any unmapped
    // location is, and records nothing.
    let ack = engine
        .send(&epic_visit(
            "A04",
            "ED4",
            "VED2",
            &t(2),
            "E",
            "EDMAJ^^^RT5LH",
            &nhs,
        ))
        .await;
    assert_eq!(msa(&ack).0, "AE", "{ack}");
    assert!(msa(&ack).2.contains("location mapping"), "{ack}");

    // Another feed of the trust, whose ED attendances come another way
    // (no `ed_attendances`): its class E visits change beds only.
    let ack = engine
        .send(&cerner("A04", "ED6", "VCE1", &t(2), "").replace("PV1|1|I|", "PV1|1|E|"))
        .await;
    assert_eq!(msa(&ack).0, "AA", "{ack}");

    // A03 of the ED visit: the patient leaves, discharged.
    let ack = engine
        .send(&epic_visit(
            "A03",
            "ED5",
            "VED1",
            &t(3),
            "E",
            "EDMAJ^^^RWEAA",
            &nhs,
        ))
        .await;
    assert_eq!(msa(&ack).0, "AA", "{ack}");
    assert_eq!(in_department(p, "RWEAA", 0).await, 0);

    let metrics = p.metrics(&feed.http).await;
    for line in [
        "pf_adt_ed_events_total{event=\"arrival\",outcome=\"recorded\"} 1",
        "pf_adt_ed_events_total{event=\"departure\",outcome=\"recorded\"} 1",
    ] {
        assert!(metrics.contains(line), "{line} in {metrics}");
    }
    // Two events, of one attendance: the arrival and the discharge.
    let events = urgent_care_events(p).await;
    assert_eq!(events.len(), 2, "the arrival and the departure only");
    assert_eq!(ed_event(&events[0]), ("ed.arrived".to_owned(), None));
    assert_eq!(
        ed_event(&events[1]),
        (
            "ed.departed".to_owned(),
            Some(pf_proto::v1::EdDeparture::Discharged)
        )
    );
}

#[tokio::test]
async fn an_ed_attendance_admitted_or_moved_to_another_site_leaves_the_department() {
    let feed = start_with_ed().await;
    let p = &feed.platform;
    let nhs = pf_discharge_model::NhsNumber::test_number(72)
        .as_str()
        .to_owned();
    let mut engine = Engine::connect(&feed).await;
    let ack = engine
        .send(&epic_visit(
            "A04",
            "AD1",
            "VAD1",
            &t(0),
            "E",
            "EDMAJ^^^RWEAA",
            &nhs,
        ))
        .await;
    assert_eq!(msa(&ack).0, "AA", "{ack}");
    assert_eq!(in_department(p, "RWEAA", 1).await, 1);
    // A06: the ED visit becomes an inpatient one in bed B02.
    let ack = engine
        .send(&epic_visit(
            "A06",
            "AD2",
            "VAD1",
            &t(2),
            "I",
            "WD15^BAY1^B02^RWEAA",
            &nhs,
        ))
        .await;
    assert_eq!(msa(&ack), ("AA", "AD2", "stored: 1 bed change"), "{ack}");
    assert_eq!(state(p, "RWEAA:WD15:B02").await, "occupied");
    assert_eq!(in_department(p, "RWEAA", 0).await, 0);

    // Another attendance, moved from the ED to another site's bed (A02).
    let ack = engine
        .send(&epic_visit(
            "A04",
            "AD3",
            "VAD2",
            &t(3),
            "E",
            "EDMAJ^^^RWEAA",
            &nhs,
        ))
        .await;
    assert_eq!(msa(&ack).0, "AA", "{ack}");
    assert_eq!(in_department(p, "RWEAA", 1).await, 1);
    let ack = engine
        .send(&epic_visit(
            "A02",
            "AD4",
            "VAD2",
            &t(4),
            "I",
            "CCU^^B03^RWEAK",
            &nhs,
        ))
        .await;
    assert_eq!(msa(&ack), ("AA", "AD4", "stored: 1 bed change"), "{ack}");
    assert_eq!(state(p, "RWEAK:CCU:B03").await, "occupied");
    assert_eq!(in_department(p, "RWEAA", 0).await, 0);

    let events = urgent_care_events(p).await;
    let departures: Vec<_> = events.iter().map(|e| ed_event(e)).collect();
    assert_eq!(
        departures,
        [
            ("ed.arrived".to_owned(), None),
            (
                "ed.departed".to_owned(),
                Some(pf_proto::v1::EdDeparture::Admitted)
            ),
            ("ed.arrived".to_owned(), None),
            (
                "ed.departed".to_owned(),
                Some(pf_proto::v1::EdDeparture::Transferred)
            ),
        ]
    );
}

// One thread: every task of the platform and the feed runs where the
// capturing subscriber is the default, and no other test's logs mix in.
#[tokio::test(flavor = "current_thread")]
async fn nothing_identifying_the_ed_patient_reaches_the_urgent_care_events_or_logs() {
    let logs = CapturedLogs::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(
            "debug,async_nats=info,hyper=info,hyper_util=info,h2=info,reqwest=info,rustls=info,tower=info",
        ))
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let nhs = pf_discharge_model::NhsNumber::test_number(73)
        .as_str()
        .to_owned();
    let visit = "VIS20261207X99";
    let feed = start_with_ed().await;
    let p = &feed.platform;
    let mut engine = Engine::connect(&feed).await;
    for (n, trigger) in ["A04", "A03"].into_iter().enumerate() {
        let ack = engine
            .send(&epic_visit(
                trigger,
                &format!("PI{n}"),
                visit,
                &t(n as i64),
                "E",
                "EDMAJ^^^RWEAA",
                &nhs,
            ))
            .await;
        assert_eq!(msa(&ack).0, "AA", "{ack}");
    }
    let events = urgent_care_events(p).await;
    assert_eq!(events.len(), 2, "the arrival and the departure");
    // The audit trail records the feed recording them.
    let js = p.jetstream().await;
    let mut audit = js.get_stream(pf_audit::stream::STREAM).await.unwrap();
    let info = audit.info().await.unwrap().clone();
    let mut records = Vec::new();
    for sequence in info.state.first_sequence.max(1)..=info.state.last_sequence {
        if let Ok(message) = audit.get_raw_message(sequence).await {
            records.push(message.payload.to_vec());
        }
    }
    let arrival = records
        .iter()
        .map(|r| serde_json::from_slice::<serde_json::Value>(r).unwrap())
        .find(|r| r["action"] == "ed.arrival" && r["outcome"]["result"] == "accepted")
        .expect("the arrival is audited");
    assert_eq!(arrival["actor"]["id"], "adt-feed", "{arrival}");
    drop(engine);
    drop(feed);

    let mut identifying: Vec<String> = written_forms(&nhs).into();
    identifying.extend(
        [visit, "E3003", "Quixote", "Dulcinea", "19610203"]
            .into_iter()
            .map(str::to_owned),
    );
    for form in &identifying {
        for (n, event) in events.iter().enumerate() {
            assert!(!contains(event, form), "event {n} carries {form}");
        }
        for (n, record) in records.iter().enumerate() {
            assert!(!contains(record, form), "audit record {n} carries {form}");
        }
    }
    let text = logs.text();
    assert!(
        text.contains("pf_adt_feed::ingest"),
        "the feed's logs were captured: {text}"
    );
    for form in &identifying {
        for (n, line) in text.lines().enumerate() {
            assert!(
                !line.contains(form.as_str()),
                "line {n} of the logs has {form}: {line}"
            );
        }
    }
}

#[tokio::test]
async fn the_urgent_care_service_down_leaves_the_bed_change_standing() {
    let feed = start_with(|_, config| {
        config.urgent_care = Some(pf_adt_feed::urgent_care::UrgentCareLink {
            // Nothing listens here.
            url: "http://127.0.0.1:9".into(),
            credentials: pf_adt_feed::discharges::Credentials::Token("no-token".into()),
        });
    })
    .await;
    let p = &feed.platform;
    let nhs = pf_discharge_model::NhsNumber::test_number(74)
        .as_str()
        .to_owned();
    let mut engine = Engine::connect(&feed).await;
    let ack = engine
        .send(&epic_visit(
            "A04",
            "DN1",
            "VDN1",
            &t(0),
            "E",
            "EDMAJ^^^RWEAA",
            &nhs,
        ))
        .await;
    assert_eq!(msa(&ack).0, "AA", "{ack}");
    // Admitted from the ED to bed B04: the bed fills all the same.
    let ack = engine
        .send(&epic_visit(
            "A01",
            "DN2",
            "VDN1",
            &t(1),
            "I",
            "WD15^BAY1^B04^RWEAA",
            &nhs,
        ))
        .await;
    assert_eq!(msa(&ack), ("AA", "DN2", "stored: 1 bed change"), "{ack}");
    assert_eq!(state(p, "RWEAA:WD15:B04").await, "occupied");
    let metrics = p.metrics(&feed.http).await;
    for line in [
        "pf_adt_ed_events_total{event=\"arrival\",outcome=\"unavailable\"} 1",
        "pf_adt_ed_events_total{event=\"departure\",outcome=\"unavailable\"} 1",
    ] {
        assert!(metrics.contains(line), "{line} in {metrics}");
    }
}
