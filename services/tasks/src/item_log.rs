//! Items' and team registers' events in JetStream, changed through the
//! event log's one read-decide-publish loop ([`EntityLog::change`]): every
//! change is decided on the newest stored record and published with its
//! sequence as the expected last one, so two people changing one item at
//! once cannot overwrite each other.

use pf_access::Principal;
use pf_event_log::streams::{TASKS, item_subject, teams_subject};
use pf_event_log::{ChangeError, ContentionLimit, Decision, EntityLog, LatestEvent, StoredEvent};
use pf_proto::NewEvent;
use pf_proto::v1::event_envelope::Payload;
use pf_proto::v1::{ItemAssigned, ItemCancelled, ItemCreated, ItemDone, ItemDueChanged, Source};
use pf_task_model::change::{self, Change, ChangeRefused};
use pf_task_model::item::{item_in, owner_to_proto};
use pf_task_model::{Item, TeamRegister};
use time::OffsetDateTime;

/// The service's name in events and the audit trail.
pub const SERVICE: &str = "tasks";

/// How many times a change is decided again while others get in first.
const ATTEMPTS: usize = 8;

/// Why a change to an item or a register was not made.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    /// No such item.
    #[error("there is no such task or action")]
    NotFound,
    /// The decision refused it.
    #[error(transparent)]
    Refused(#[from] ChangeRefused),
    /// It kept changing.
    #[error("it kept changing while this change was being made; please try again")]
    Contended,
    /// JetStream could not read or confirm.
    #[error("{0}")]
    Unavailable(String),
}

/// The entity id of an item's events.
pub fn item_entity(item_id: &str) -> String {
    format!("item/{item_id}")
}

/// The entity id of an organisation's team register.
pub fn teams_entity(ods: &str) -> String {
    format!("teams/{ods}")
}

/// Reads and writes items' and registers' events.
#[derive(Clone)]
pub struct ItemLog {
    log: EntityLog,
}

fn event(
    organisation: &str,
    entity_id: String,
    latest: Option<&LatestEvent>,
    by: &Principal,
    payload: Payload,
) -> pf_proto::v1::EventEnvelope {
    NewEvent {
        source: Source {
            organisation: organisation.to_owned(),
            service: SERVICE.into(),
        },
        entity_id,
        entity_version: latest.map_or(1, |l| l.event.entity_version + 1),
        occurred_at: None,
        actor: pf_care_home_log::actor(by),
        payload,
    }
    .seal(OffsetDateTime::now_utc())
}

fn stored_item(latest: &LatestEvent) -> Result<Item, String> {
    let item = latest
        .event
        .payload
        .as_ref()
        .and_then(item_in)
        .flatten()
        .ok_or_else(|| format!("{} holds no item record", latest.event.entity_id))?;
    Item::from_proto(item).map_err(|e| e.to_string())
}

fn organisation_of(by: &Principal) -> String {
    by.organisation
        .as_ref()
        .map(|o| o.as_str().to_owned())
        .unwrap_or_default()
}

fn log_error(err: ChangeError<LogError>) -> LogError {
    match err {
        ChangeError::Refused(refused) => refused,
        ChangeError::Contended { .. } => LogError::Contended,
        ChangeError::Unavailable(cause) | ChangeError::Rejected(cause) => {
            LogError::Unavailable(cause)
        }
    }
}

impl ItemLog {
    /// Over `jetstream`.
    pub fn new(jetstream: async_nats::jetstream::Context) -> Self {
        Self {
            log: EntityLog::new(jetstream),
        }
    }

    /// The item's newest record (`None`: no such item).
    pub async fn current(&self, item_id: &str) -> Result<Option<Item>, LogError> {
        let latest = self
            .log
            .latest(TASKS.name, &item_subject(item_id))
            .await
            .map_err(LogError::Unavailable)?;
        latest
            .as_ref()
            .map(stored_item)
            .transpose()
            .map_err(LogError::Unavailable)
    }

    /// Stores a new item (its first event).
    pub async fn create(&self, item: Item, by: &Principal) -> Result<StoredEvent, LogError> {
        let subject = item_subject(&item.item_id);
        let organisation = organisation_of(by);
        let changed = self
            .log
            .change(
                TASKS.name,
                &subject,
                ContentionLimit::Attempts(1),
                |latest| {
                    if latest.is_some() {
                        return Err(LogError::Refused(ChangeRefused::Conflict(
                            "an item with this id exists already".into(),
                        )));
                    }
                    let payload = Payload::ItemCreated(ItemCreated {
                        item: Some(item.to_proto()),
                    });
                    Ok(Decision::Publish {
                        event: event(&organisation, item_entity(&item.item_id), None, by, payload),
                        outcome: (),
                    })
                },
            )
            .await
            .map_err(log_error)?;
        changed
            .stored
            .ok_or_else(|| LogError::Unavailable("the item was not stored".into()))
    }

    /// Makes `change` to the item, decided on its newest record: `check`
    /// says whether `by` may make it. Returns the item after the change and
    /// the stored event (`None`: it was already so).
    pub async fn change(
        &self,
        item_id: &str,
        change: &Change,
        by: &Principal,
        now_ms: i64,
    ) -> Result<(Item, Option<StoredEvent>), LogError> {
        let subject = item_subject(item_id);
        let organisation = organisation_of(by);
        let changed = self
            .log
            .change(
                TASKS.name,
                &subject,
                ContentionLimit::Attempts(ATTEMPTS),
                |latest| {
                    let latest = latest.ok_or(LogError::NotFound)?;
                    let current = stored_item(latest).map_err(LogError::Unavailable)?;
                    if change::visibility(&current, by) == change::Visibility::Hidden {
                        return Err(LogError::NotFound);
                    }
                    change::may_change(&current, change, by)?;
                    let Some(next) = change::apply(&current, change, &by.id, now_ms)? else {
                        return Ok(Decision::Unchanged(current));
                    };
                    let record = Some(next.to_proto());
                    let payload = match change {
                        Change::Assign(_) => Payload::ItemAssigned(ItemAssigned {
                            item: record,
                            previous_owner: Some(owner_to_proto(&current.owner)),
                        }),
                        Change::Due(_) => Payload::ItemDueChanged(ItemDueChanged { item: record }),
                        Change::Done(_) => Payload::ItemDone(ItemDone { item: record }),
                        Change::Cancel(_) => Payload::ItemCancelled(ItemCancelled { item: record }),
                    };
                    Ok(Decision::Publish {
                        event: event(
                            &organisation,
                            item_entity(item_id),
                            Some(latest),
                            by,
                            payload,
                        ),
                        outcome: next,
                    })
                },
            )
            .await
            .map_err(log_error)?;
        Ok((changed.outcome, changed.stored))
    }

    /// Replaces `register.organisation`'s team register (nothing is stored
    /// when it is the same).
    pub async fn set_teams(
        &self,
        register: &TeamRegister,
        by: &Principal,
    ) -> Result<Option<StoredEvent>, LogError> {
        let ods = register.organisation.as_str();
        let subject = teams_subject(ods);
        let changed = self
            .log
            .change(
                TASKS.name,
                &subject,
                ContentionLimit::Attempts(ATTEMPTS),
                |latest| {
                    let same = latest.is_some_and(|l| match &l.event.payload {
                        Some(Payload::TeamsChanged(stored)) => {
                            TeamRegister::from_proto(stored) == *register
                        }
                        _ => false,
                    });
                    if same {
                        return Ok::<_, LogError>(Decision::Unchanged(()));
                    }
                    Ok(Decision::Publish {
                        event: event(
                            ods,
                            teams_entity(ods),
                            latest,
                            by,
                            Payload::TeamsChanged(register.to_proto()),
                        ),
                        outcome: (),
                    })
                },
            )
            .await
            .map_err(log_error)?;
        Ok(changed.stored)
    }
}
