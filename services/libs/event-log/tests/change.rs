//! [`EntityLog::change`], the read-decide-publish loop, against a real
//! `nats-server -js`.

#![allow(clippy::unwrap_used)] // test code: a failure should stop the test loudly

use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

use async_nats::jetstream;
use pf_event_log::streams::{self, BEDS, Durability, bed_subject};
use pf_event_log::{ChangeError, ContentionLimit, Decision, EntityLog, LatestEvent};
use pf_proto::NewEvent;
use pf_proto::v1::event_envelope::Payload;
use pf_proto::v1::{Actor, BedOpened, EventEnvelope, Source};
use pf_test_support::NatsServer;
use time::OffsetDateTime;

const ENTITY: &str = "bed/RWEAA/WD15/B01";

fn subject() -> String {
    bed_subject("RWEAA", "WD15", "B01")
}

async fn log(server: &NatsServer) -> EntityLog {
    let context = jetstream::new(async_nats::connect(server.url()).await.unwrap());
    streams::ensure(&context, Durability::default())
        .await
        .unwrap();
    EntityLog::new(context)
}

/// The entity's next event after `latest`, written by `who`.
fn next_event(latest: Option<&LatestEvent>, who: &str) -> EventEnvelope {
    NewEvent {
        source: Source {
            organisation: "RWEAA".into(),
            service: "test".into(),
        },
        entity_id: ENTITY.into(),
        entity_version: latest.map_or(0, |l| l.event.entity_version) + 1,
        occurred_at: None,
        actor: Actor {
            id: who.into(),
            ..Actor::default()
        },
        payload: Payload::BedOpened(BedOpened {
            reason: who.into(),
            ..BedOpened::default()
        }),
    }
    .seal(OffsetDateTime::now_utc())
}

/// Every event stored on the entity's subject, oldest first.
async fn stored(log: &EntityLog) -> Vec<EventEnvelope> {
    let stream = log.context().get_stream(BEDS.name).await.unwrap();
    let mut events = Vec::new();
    let last = stream.get_info().await.unwrap().state.last_sequence;
    for sequence in 1..=last {
        if let Ok(message) = stream.get_raw_message(sequence).await
            && message.subject.as_str() == subject()
        {
            events.push(EventEnvelope::decode_checked(&message.payload).unwrap());
        }
    }
    events
}

/// Another producer that changes the entity (fully, through its own loop)
/// whenever it is asked to, and says when it is done: lets a decider make
/// its decision stale on purpose.
fn rival(log: EntityLog) -> (tokio::sync::mpsc::UnboundedSender<()>, mpsc::Receiver<()>) {
    let (ask, mut asked) = tokio::sync::mpsc::unbounded_channel::<()>();
    let (done, wait) = mpsc::channel();
    tokio::spawn(async move {
        while asked.recv().await.is_some() {
            log.change(
                BEDS.name,
                &subject(),
                ContentionLimit::Attempts(5),
                |latest| {
                    Ok::<_, String>(Decision::Publish {
                        event: next_event(latest, "rival"),
                        outcome: (),
                    })
                },
            )
            .await
            .unwrap();
            done.send(()).unwrap();
        }
    });
    (ask, wait)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_changers_of_one_entity_both_land_in_turn() {
    let server = NatsServer::start();
    let log = log(&server).await;
    let (ask, wait) = rival(log.clone());
    let seen = Arc::new(Mutex::new(Vec::new()));

    let changed = log
        .change(
            BEDS.name,
            &subject(),
            ContentionLimit::Attempts(5),
            |latest| {
                let mut seen = seen.lock().unwrap();
                seen.push(latest.map(|l| l.event.actor.clone().unwrap().id));
                if seen.len() == 1 {
                    // The rival gets in between this read and this publish.
                    ask.send(()).unwrap();
                    wait.recv().unwrap();
                }
                Ok::<_, String>(Decision::Publish {
                    event: next_event(latest, "first"),
                    outcome: seen.len(),
                })
            },
        )
        .await
        .unwrap();

    assert_eq!(
        *seen.lock().unwrap(),
        [None, Some("rival".to_owned())],
        "decided again, from the rival's event"
    );
    assert_eq!(changed.outcome, 2, "the outcome of the decision kept");
    let stored_event = changed.stored.unwrap();
    assert_eq!(stored_event.event.entity_version, 2);
    let events = stored(&log).await;
    let writers: Vec<_> = events
        .iter()
        .map(|e| (e.actor.clone().unwrap().id, e.entity_version))
        .collect();
    assert_eq!(
        writers,
        [("rival".to_owned(), 1), ("first".to_owned(), 2)],
        "both changes stored, one after the other, none lost or doubled"
    );
    assert_eq!(
        stored_event.published.stream_sequence, 2,
        "the stored event's place in the stream"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_refused_change_stores_nothing() {
    let server = NatsServer::start();
    let log = log(&server).await;
    let result = log
        .change(BEDS.name, &subject(), ContentionLimit::Attempts(5), |_| {
            Err::<Decision<()>, _>("not today")
        })
        .await;
    assert!(
        matches!(result, Err(ChangeError::Refused("not today"))),
        "{result:?}"
    );
    assert!(stored(&log).await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_unchanged_decision_stores_nothing() {
    let server = NatsServer::start();
    let log = log(&server).await;
    let changed = log
        .change(BEDS.name, &subject(), ContentionLimit::Attempts(5), |_| {
            Ok::<_, String>(Decision::Unchanged("already so"))
        })
        .await
        .unwrap();
    assert_eq!(changed.outcome, "already so");
    assert!(changed.stored.is_none());
    assert!(stored(&log).await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_change_overtaken_every_time_gives_up_as_contended() {
    let server = NatsServer::start();
    let log = log(&server).await;
    let (ask, wait) = rival(log.clone());
    let mut decisions = 0;
    let result = log
        .change(
            BEDS.name,
            &subject(),
            ContentionLimit::Attempts(3),
            |latest| {
                decisions += 1;
                ask.send(()).unwrap();
                wait.recv().unwrap();
                Ok::<_, String>(Decision::Publish {
                    event: next_event(latest, "first"),
                    outcome: (),
                })
            },
        )
        .await;
    assert!(
        matches!(&result, Err(ChangeError::Contended { subject: s }) if *s == subject()),
        "{result:?}"
    );
    assert_eq!(decisions, 3, "decided as often as the limit allows");
    let writers: Vec<_> = stored(&log)
        .await
        .iter()
        .map(|e| (e.actor.clone().unwrap().id, e.entity_version))
        .collect();
    assert_eq!(
        writers,
        [
            ("rival".to_owned(), 1),
            ("rival".to_owned(), 2),
            ("rival".to_owned(), 3)
        ],
        "only the rival's changes were stored"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_time_budget_also_ends_in_contended() {
    let server = NatsServer::start();
    let log = log(&server).await;
    let (ask, wait) = rival(log.clone());
    let result = log
        .change(
            BEDS.name,
            &subject(),
            ContentionLimit::For(Duration::from_millis(300)),
            |latest| {
                ask.send(()).unwrap();
                wait.recv().unwrap();
                Ok::<_, String>(Decision::Publish {
                    event: next_event(latest, "first"),
                    outcome: (),
                })
            },
        )
        .await;
    assert!(
        matches!(result, Err(ChangeError::Contended { .. })),
        "{result:?}"
    );
    assert!(
        stored(&log)
            .await
            .iter()
            .all(|e| e.actor.clone().unwrap().id == "rival"),
        "nothing of the overtaken change was stored"
    );
}
