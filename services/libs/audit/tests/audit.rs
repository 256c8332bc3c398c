//! The audit trail against a real `nats-server -js`: recording, reading
//! back, queries, the append-only stream and the patient-data guard.

#![allow(clippy::unwrap_used)] // test code: a failure should stop the test loudly

use std::time::Duration;

use async_nats::jetstream::{self, stream};
use pf_audit::export::{to_csv, to_json};
use pf_audit::stream::{STREAM, ensure};
use pf_audit::{
    AuditActor, AuditConfig, AuditError, AuditLog, AuditQuery, AuditRecord, AuditRetention,
    AuditSource, RecordError,
};
use pf_test_support::NatsServer;
use time::OffsetDateTime;

/// A fresh server with the audit stream and a log on it.
struct Trail {
    _server: NatsServer,
    jetstream: jetstream::Context,
    log: AuditLog,
}

async fn start() -> Trail {
    let server = NatsServer::start();
    let client = async_nats::connect(server.url()).await.unwrap();
    let jetstream = jetstream::new(client);
    ensure(&jetstream, &AuditConfig::default()).await.unwrap();
    let log = AuditLog::new(jetstream.clone()).with_query_timeout(Duration::from_secs(10));
    Trail {
        _server: server,
        jetstream,
        log,
    }
}

fn source() -> AuditSource {
    AuditSource::new(
        "care-home",
        Some("192.0.2.7".into()),
        Some("Mozilla/5.0".into()),
    )
}

fn change(person: &str, organisation: &str, entity: &str) -> AuditRecord {
    AuditRecord::accepted(
        AuditActor::person(person, organisation),
        "bed.state_changed",
        entity,
        source(),
    )
}

fn query() -> AuditQuery {
    AuditQuery::default()
}

async fn last_sequence(jetstream: &jetstream::Context) -> u64 {
    let mut stream = jetstream.get_stream(STREAM).await.unwrap();
    stream.info().await.unwrap().state.last_sequence
}

fn entities(records: &[AuditRecord]) -> Vec<&str> {
    records.iter().map(|r| r.entity.as_str()).collect()
}

#[tokio::test]
async fn records_are_stored_and_read_back_oldest_first() {
    let trail = start().await;
    assert!(trail.log.query(&query()).await.unwrap().is_empty());

    let first = change("u1", "RWE", "bed/RWEAA/WD15/B03").with_event_id("evt-1");
    let refused = AuditRecord::refused(
        AuditActor::anonymous(),
        "sign_in",
        "",
        "unknown sign-in code",
        source(),
    )
    .with_request_id("req-9");
    assert_eq!(trail.log.record(first.clone()).await.unwrap(), 1);
    assert_eq!(trail.log.record(refused.clone()).await.unwrap(), 2);

    let back = trail.log.query(&query()).await.unwrap();
    assert_eq!(back, vec![first, refused]);
    let again: Vec<AuditRecord> = serde_json::from_str(&to_json(&back)).unwrap();
    assert_eq!(again, back);
    assert_eq!(to_csv(&back).lines().count(), 3, "header and two rows");
}

#[tokio::test]
async fn queries_narrow_by_person_organisation_entity_and_limit() {
    let trail = start().await;
    for record in [
        change("u1", "RWE", "bed/RWEAA/WD15/B03"),
        change("u2", "RWE", "bed/RWEAA/WD16/B01"),
        change("jo@home.example", "1-123456789", "care_home/1-123456789"),
        change("u1", "RT5", "bed/RT5XX/W1/B1"),
        change("u2", "RWE", "bed/RWEAB/WD01/B09"),
    ] {
        trail.log.record(record).await.unwrap();
    }
    let run = |q: AuditQuery| {
        let log = trail.log.clone();
        async move { log.query(&q).await.unwrap() }
    };

    let by_person = run(AuditQuery {
        person: Some("u1".into()),
        ..query()
    })
    .await;
    assert_eq!(
        entities(&by_person),
        ["bed/RWEAA/WD15/B03", "bed/RT5XX/W1/B1"]
    );

    let escaped_person = run(AuditQuery {
        person: Some("jo@home.example".into()),
        ..query()
    })
    .await;
    assert_eq!(entities(&escaped_person), ["care_home/1-123456789"]);

    let by_organisation = run(AuditQuery {
        organisation: Some("RWE".into()),
        ..query()
    })
    .await;
    assert_eq!(by_organisation.len(), 3);
    assert!(
        by_organisation
            .iter()
            .all(|r| r.actor.organisation == "RWE")
    );

    let both = run(AuditQuery {
        person: Some("u2".into()),
        organisation: Some("RWE".into()),
        ..query()
    })
    .await;
    assert_eq!(
        entities(&both),
        ["bed/RWEAA/WD16/B01", "bed/RWEAB/WD01/B09"]
    );

    let by_prefix = run(AuditQuery {
        entity: Some("bed/RWEAA/".into()),
        ..query()
    })
    .await;
    assert_eq!(
        entities(&by_prefix),
        ["bed/RWEAA/WD15/B03", "bed/RWEAA/WD16/B01"]
    );

    let exact = run(AuditQuery {
        entity: Some("bed/RT5XX/W1/B1".into()),
        ..query()
    })
    .await;
    assert_eq!(exact.len(), 1);

    let limited = run(AuditQuery {
        limit: 2,
        ..query()
    })
    .await;
    assert_eq!(
        entities(&limited),
        ["bed/RWEAA/WD15/B03", "bed/RWEAA/WD16/B01"],
        "the oldest come first"
    );

    let nobody = run(AuditQuery {
        person: Some("nobody".into()),
        ..query()
    })
    .await;
    assert!(nobody.is_empty());
}

#[tokio::test]
async fn queries_narrow_by_time_range() {
    let trail = start().await;
    let now = OffsetDateTime::now_utc();
    let minutes = time::Duration::minutes;
    for (ago, entity) in [(4, "bed/A/W/1"), (2, "bed/A/W/2"), (0, "bed/A/W/3")] {
        let mut record = change("u1", "RWE", entity);
        record.at = now - minutes(ago);
        trail.log.record(record).await.unwrap();
    }
    let range = |from: Option<i64>, to: Option<i64>| AuditQuery {
        from: from.map(|ago| now - minutes(ago)),
        to: to.map(|ago| now - minutes(ago)),
        ..query()
    };
    let middle = trail.log.query(&range(Some(3), Some(1))).await.unwrap();
    assert_eq!(entities(&middle), ["bed/A/W/2"]);
    let since = trail.log.query(&range(Some(3), None)).await.unwrap();
    assert_eq!(entities(&since), ["bed/A/W/2", "bed/A/W/3"]);
    let until = trail.log.query(&range(None, Some(1))).await.unwrap();
    assert_eq!(entities(&until), ["bed/A/W/1", "bed/A/W/2"]);
    // Long before anything was stored: the read stops at the first record.
    let before = trail.log.query(&range(None, Some(60))).await.unwrap();
    assert!(before.is_empty());
    // After everything: the consumer starts at the end.
    let later = AuditQuery {
        from: Some(now + minutes(60)),
        ..query()
    };
    assert!(trail.log.query(&later).await.unwrap().is_empty());
}

#[tokio::test]
async fn a_record_sent_twice_is_stored_once() {
    let trail = start().await;
    let record = change("u1", "RWE", "bed/RWEAA/WD15/B03");
    let first = trail.log.record(record.clone()).await.unwrap();
    let second = trail.log.record(record.clone()).await.unwrap();
    assert_eq!(first, second);
    assert_eq!(trail.log.query(&query()).await.unwrap(), vec![record]);
    assert_eq!(last_sequence(&trail.jetstream).await, 1);
}

#[tokio::test]
async fn the_stream_refuses_deletes_and_purges() {
    let trail = start().await;
    trail
        .log
        .record(change("u1", "RWE", "bed/RWEAA/WD15/B03"))
        .await
        .unwrap();
    let stream = trail.jetstream.get_stream(STREAM).await.unwrap();
    let purge = stream.purge().await.unwrap_err().to_string();
    assert!(purge.contains("not permitted"), "{purge}");
    let subject_purge = stream.purge().filter("pf.audit.RWE.u1").await;
    assert!(subject_purge.is_err(), "{subject_purge:?}");
    let delete = stream.delete_message(1).await.unwrap_err().to_string();
    assert!(delete.contains("not permitted"), "{delete}");
    assert_eq!(trail.log.query(&query()).await.unwrap().len(), 1);
}

#[tokio::test]
async fn ensure_is_idempotent_and_applies_the_retention() {
    let trail = start().await;
    ensure(&trail.jetstream, &AuditConfig::default())
        .await
        .unwrap();
    let config = AuditConfig {
        retention: AuditRetention::days(30).unwrap(),
        ..AuditConfig::default()
    };
    ensure(&trail.jetstream, &config).await.unwrap();
    let mut stream = trail.jetstream.get_stream(STREAM).await.unwrap();
    let info = stream.info().await.unwrap();
    assert_eq!(info.config.max_age, Duration::from_secs(30 * 24 * 60 * 60));
    assert!(info.config.deny_delete && info.config.deny_purge);
}

#[tokio::test]
async fn ensure_refuses_a_stream_that_allows_deleting() {
    let server = NatsServer::start();
    let jetstream = jetstream::new(async_nats::connect(server.url()).await.unwrap());
    jetstream
        .create_stream(stream::Config {
            name: STREAM.into(),
            subjects: vec!["pf.audit.>".into()],
            ..Default::default()
        })
        .await
        .unwrap();
    let result = ensure(&jetstream, &AuditConfig::default()).await;
    assert!(
        matches!(result, Err(pf_audit::stream::EnsureError::NotAppendOnly)),
        "{result:?}"
    );
}

#[tokio::test]
async fn a_record_holding_an_nhs_number_is_refused_and_not_stored() {
    let trail = start().await;
    // The constructors redact what they are given; a bug that sets a field
    // afterwards is caught by the guard.
    let mut leaky = AuditRecord::refused(
        AuditActor::person("u1", "RWE"),
        "discharge.recorded",
        "discharge/unknown",
        "not found",
        source(),
    );
    leaky.entity = "discharge/943 476 5919".into();
    let result = trail.log.record(leaky).await;
    assert!(
        matches!(
            result,
            Err(AuditError::Invalid(RecordError::PatientIdentifiable(
                "entity"
            )))
        ),
        "{result:?}"
    );
    let mut late = change("u1", "RWE", "bed/RWEAA/WD15/B03");
    late.at -= time::Duration::hours(1);
    let result = trail.log.record(late).await;
    assert!(
        matches!(result, Err(AuditError::Invalid(RecordError::OutOfTime))),
        "{result:?}"
    );
    assert_eq!(last_sequence(&trail.jetstream).await, 0);
}

#[tokio::test]
async fn a_query_that_runs_too_long_is_cut_off() {
    let trail = start().await;
    trail
        .log
        .record(change("u1", "RWE", "bed/RWEAA/WD15/B03"))
        .await
        .unwrap();
    let impatient = trail
        .log
        .clone()
        .with_query_timeout(Duration::from_nanos(1));
    let result = impatient.query(&query()).await;
    assert!(matches!(result, Err(AuditError::TimedOut)), "{result:?}");
}

/// A trail whose stream holds at most `max_bytes`.
async fn start_bounded(max_bytes: i64) -> Trail {
    let server = NatsServer::start();
    let client = async_nats::connect(server.url()).await.unwrap();
    let jetstream = jetstream::new(client);
    let config = AuditConfig {
        max_bytes,
        ..AuditConfig::default()
    };
    ensure(&jetstream, &config).await.unwrap();
    let log = AuditLog::new(jetstream.clone()).with_query_timeout(Duration::from_secs(10));
    Trail {
        _server: server,
        jetstream,
        log,
    }
}

#[tokio::test]
async fn a_full_stream_refuses_attempts_keeps_every_old_record_and_shows_in_the_gauge() {
    let trail = start_bounded(16 * 1024).await;
    let registry = prometheus::Registry::new();
    let log = trail
        .log
        .clone()
        .watched(&registry, Duration::from_secs(3600))
        .unwrap();
    let mut stored = 0u64;
    loop {
        match log.record(change("u1", "RWE", "bed/RWEAA/WD15/B03")).await {
            Ok(_) => stored += 1,
            Err(AuditError::Refused(_)) => break,
            Err(other) => panic!("unexpected: {other:?}"),
        }
        assert!(stored < 10_000, "the bound never held");
    }
    // Full: an attempt is refused and its action never runs.
    let mut ran = false;
    let result = log
        .audited(
            change("u1", "RWE", "bed/RWEAA/WD15/B04"),
            || async {
                ran = true;
                Ok::<_, String>(())
            },
            |_| None,
        )
        .await;
    assert!(
        matches!(result, Err(pf_audit::Audited::Unavailable(_))),
        "{result:?}"
    );
    assert!(!ran, "the action ran although its attempt was not recorded");
    assert_eq!(result.unwrap_err().to_string(), pf_audit::AUDIT_UNAVAILABLE);
    // Nothing old was dropped to make room.
    let mut stream = trail.jetstream.get_stream(STREAM).await.unwrap();
    let info = stream.info().await.unwrap();
    assert_eq!(info.state.messages, stored);
    assert_eq!(info.state.first_sequence, 1);
    // The failed record woke the gauge: it shows the stream at its bound.
    let gauge = |name: &str| {
        registry
            .gather()
            .iter()
            .find(|family| family.name() == name)
            .map(|family| family.get_metric()[0].get_gauge().get_value())
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while gauge("pf_audit_stream_used_bytes").unwrap_or_default() < 1.0 {
        assert!(
            std::time::Instant::now() < deadline,
            "the gauge never showed"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let used = gauge("pf_audit_stream_used_bytes").unwrap();
    let max = gauge("pf_audit_stream_max_bytes").unwrap();
    assert_eq!(max, 16.0 * 1024.0);
    assert!(
        used / max > pf_audit::usage::WARN_FRACTION,
        "{used} of {max}"
    );
}

#[tokio::test]
async fn an_attempt_is_recorded_before_the_action_and_the_outcome_after() {
    let trail = start().await;
    let template = change("u1", "RWE", "bed/RWEAA/WD15/B03");
    let jetstream = trail.jetstream.clone();
    let seen_before_acting = trail
        .log
        .audited(
            template,
            || async move { Ok::<_, String>(last_sequence(&jetstream).await) },
            |_| Some("0190f3c2-1234-7567-8901-123456789012".to_owned()),
        )
        .await
        .unwrap();
    assert_eq!(seen_before_acting, 1, "the attempt was stored first");
    let records = trail.log.query(&query()).await.unwrap();
    let outcomes: Vec<_> = records.iter().map(|r| r.outcome.clone()).collect();
    assert_eq!(
        outcomes,
        [pf_audit::Outcome::Attempted, pf_audit::Outcome::Accepted]
    );
    assert_eq!(
        records[1].event_id.as_deref(),
        Some("0190f3c2-1234-7567-8901-123456789012")
    );
}

#[tokio::test]
async fn refusals_over_a_clients_budget_are_one_record_with_a_count() {
    let trail = start().await;
    let registry = prometheus::Registry::new();
    let budget = pf_audit::RefusalBudget {
        burst: 5,
        per_minute: 1,
        all_burst: 100,
        all_per_minute: 1,
        flush_every: Duration::from_secs(3600),
    };
    let refusals = pf_audit::RefusalAudit::new(trail.log.clone(), budget, &registry).unwrap();
    let refusal = |ip: &str| {
        AuditRecord::refused(
            AuditActor::anonymous(),
            "control_room.view",
            "control-room",
            "not signed in",
            AuditSource::new("gateway", Some(ip.into()), Some("curl/8".into())),
        )
    };
    let mut limited = 0;
    for _ in 0..50 {
        if let Err(wait) = refusals
            .refused(refusal("192.0.2.1"), pf_audit::RefusalKind::Access)
            .await
        {
            assert!(wait >= Duration::from_secs(1));
            limited += 1;
        }
    }
    assert!(limited >= 40, "{limited}");
    // Another client has its own budget.
    refusals
        .refused(refusal("192.0.2.2"), pf_audit::RefusalKind::Access)
        .await
        .unwrap();
    // A signed-in caller's request refused on its merits is never limited.
    for _ in 0..10 {
        refusals
            .refused(refusal("192.0.2.1"), pf_audit::RefusalKind::Request)
            .await
            .unwrap();
    }
    refusals.flush().await;
    let records = trail.log.query(&query()).await.unwrap();
    let aggregates: Vec<_> = records.iter().filter(|r| r.repeated.is_some()).collect();
    assert_eq!(aggregates.len(), 1, "{records:?}");
    assert_eq!(aggregates[0].repeated, Some(limited));
    let singles = records.iter().filter(|r| r.repeated.is_none()).count() as u64;
    assert_eq!(singles + limited, 61, "every refusal is accounted for");
    assert!(records.len() < 30);
}

#[tokio::test]
async fn many_clients_at_once_are_bounded_by_the_budget_of_all_clients() {
    let trail = start().await;
    let registry = prometheus::Registry::new();
    let budget = pf_audit::RefusalBudget {
        burst: 5,
        per_minute: 1,
        all_burst: 20,
        all_per_minute: 1,
        flush_every: Duration::from_secs(3600),
    };
    let refusals = pf_audit::RefusalAudit::new(trail.log.clone(), budget, &registry).unwrap();
    let mut limited = 0u64;
    for n in 0..100u32 {
        let source = AuditSource::new("gateway", Some(format!("198.51.100.{n}")), None);
        let record = AuditRecord::refused(
            AuditActor::anonymous(),
            "control_room.view",
            "control-room",
            "not signed in",
            source,
        );
        if refusals
            .refused(record, pf_audit::RefusalKind::Access)
            .await
            .is_err()
        {
            limited += 1;
        }
    }
    assert_eq!(
        limited, 80,
        "a hundred addresses, twenty recorded one by one"
    );
    refusals.flush().await;
    let records = trail.log.query(&query()).await.unwrap();
    assert_eq!(records.len(), 21, "twenty records and one aggregate");
    assert_eq!(records[20].repeated, Some(80));
}

#[tokio::test]
async fn a_bound_the_server_cannot_reserve_is_refused_with_what_to_change() {
    // A server with 64 MiB to store, as on a machine with little free disk.
    let server = NatsServer::start_configured(|path, port, store| {
        std::fs::write(
            path,
            format!(
                "listen: 127.0.0.1:{port}\njetstream {{ store_dir: \"{}\", max_file_store: 64M }}\n",
                store.display()
            ),
        )
        .unwrap();
    });
    let jetstream = jetstream::new(async_nats::connect(server.url()).await.unwrap());
    let result = ensure(&jetstream, &AuditConfig::default()).await;
    let Err(error @ pf_audit::stream::EnsureError::NoRoom { .. }) = result else {
        panic!("expected NoRoom, got {result:?}");
    };
    assert!(error.to_string().contains("PF_AUDIT_MAX_BYTES"), "{error}");
    let fits = AuditConfig {
        max_bytes: 16 << 20,
        ..AuditConfig::default()
    };
    ensure(&jetstream, &fits).await.unwrap();
}
