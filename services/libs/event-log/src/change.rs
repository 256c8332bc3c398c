//! Changing one entity safely: read its newest event, decide, publish with
//! the sequence the decision was based on, and decide again when another
//! change got in first.
//!
//! Every producer changes its entities through [`EntityLog::change`]; the
//! decision (what the next event is, or why the change is refused) is the
//! caller's, the loop around it is written once here.

use std::time::Duration;

use async_nats::jetstream;
use pf_proto::v1::EventEnvelope;
use rand::Rng as _;
use tokio::time::Instant;

use crate::entity::{LatestEvent, latest_event};
use crate::publisher::{EventPublisher, PublishFailure, Published};

/// What the decider made of the entity's newest event.
#[derive(Debug, Clone)]
#[allow(
    clippy::large_enum_variant,
    reason = "a decision lives for one attempt; boxing the event would only add an allocation"
)]
pub enum Decision<T> {
    /// Publish `event` as the entity's next event; `outcome` is returned once
    /// it is stored.
    Publish {
        /// The next event (its entity version one past the newest event's).
        event: EventEnvelope,
        /// What the caller gets back when the event is stored.
        outcome: T,
    },
    /// Nothing to publish: the change is already in place (an idempotent
    /// repeat). Nothing is stored.
    Unchanged(T),
}

/// An event [`EntityLog::change`] stored.
#[derive(Debug, Clone)]
pub struct StoredEvent {
    /// The event as published.
    pub event: EventEnvelope,
    /// Where it is in its stream.
    pub published: Published,
}

/// The result of a change that was made (or was already in place).
#[derive(Debug, Clone)]
pub struct Changed<T> {
    /// The decider's outcome for the decision that was kept.
    pub outcome: T,
    /// The stored event; `None` when the decider said
    /// [`Decision::Unchanged`].
    pub stored: Option<StoredEvent>,
}

/// How long a change keeps deciding again while other changes to the same
/// entity keep getting in first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContentionLimit {
    /// At most this many decisions (at least one is always made).
    Attempts(usize),
    /// Decide again until this much time has passed since the first read.
    For(Duration),
}

/// Why a change was not made.
#[derive(Debug, thiserror::Error)]
pub enum ChangeError<E> {
    /// The decider refused the change; nothing was stored.
    #[error(transparent)]
    Refused(E),
    /// Other changes to the entity kept getting in first, past the
    /// [`ContentionLimit`]; nothing was stored.
    #[error("{subject} kept changing while this change was being made")]
    Contended {
        /// The entity's subject.
        subject: String,
    },
    /// The entity could not be read, or JetStream did not confirm the event
    /// (which may or may not be stored; re-sending the same change is safe
    /// only through a fresh decision).
    #[error("{0}")]
    Unavailable(String),
    /// JetStream refused the event for a reason other than a conflict.
    #[error("{0}")]
    Rejected(String),
}

/// Reads and changes entities on their subjects in JetStream.
#[derive(Clone)]
pub struct EntityLog {
    context: jetstream::Context,
    publisher: EventPublisher,
}

/// The longest random pause between two decisions: contenders spread out
/// instead of colliding again at once.
const MAX_PAUSE_MS: u64 = 15;

impl EntityLog {
    /// Over a JetStream context.
    pub fn new(context: jetstream::Context) -> Self {
        Self {
            publisher: EventPublisher::new(context.clone()),
            context,
        }
    }

    /// The JetStream context it reads and publishes with.
    pub fn context(&self) -> &jetstream::Context {
        &self.context
    }

    /// The entity's newest event on `subject` in `stream` (`None`: it has
    /// none), with the reason as a sentence when it cannot be read.
    pub async fn latest(&self, stream: &str, subject: &str) -> Result<Option<LatestEvent>, String> {
        latest_event(&self.context, stream, subject)
            .await
            .map_err(|e| e.to_string())
    }

    /// Changes the entity on `subject` in `stream`.
    ///
    /// Reads its newest event (`None`: the entity has none yet) and asks
    /// `decide` what to do; publishes the decided event on `subject` with the
    /// newest event's stream sequence as the expected last subject sequence
    /// (0 when there was none), so that it is stored only if nothing else was
    /// stored for the entity in between. When something was, reads again and
    /// asks `decide` again with the newer event, within `limit`.
    #[tracing::instrument(skip(self, decide), fields(attempts))]
    pub async fn change<T, E>(
        &self,
        stream: &str,
        subject: &str,
        limit: ContentionLimit,
        mut decide: impl FnMut(Option<&LatestEvent>) -> Result<Decision<T>, E>,
    ) -> Result<Changed<T>, ChangeError<E>> {
        let started = Instant::now();
        let mut attempts = 0usize;
        loop {
            attempts += 1;
            tracing::Span::current().record("attempts", attempts);
            let latest = self
                .latest(stream, subject)
                .await
                .map_err(ChangeError::Unavailable)?;
            let expected = latest.as_ref().map_or(0, |l| l.stream_sequence);
            let (event, outcome) = match decide(latest.as_ref()).map_err(ChangeError::Refused)? {
                Decision::Unchanged(outcome) => {
                    return Ok(Changed {
                        outcome,
                        stored: None,
                    });
                }
                Decision::Publish { event, outcome } => (event, outcome),
            };
            match self
                .publisher
                .publish_confirmed(subject, &event, Some(expected))
                .await
            {
                Ok(published) => {
                    return Ok(Changed {
                        outcome,
                        stored: Some(StoredEvent { event, published }),
                    });
                }
                Err(PublishFailure::Conflict) => {
                    let again = match limit {
                        ContentionLimit::Attempts(most) => attempts < most,
                        ContentionLimit::For(budget) => started.elapsed() < budget,
                    };
                    if !again {
                        tracing::warn!("gave up: the entity kept changing");
                        return Err(ChangeError::Contended {
                            subject: subject.to_owned(),
                        });
                    }
                    let pause = rand::rng().random_range(1..=MAX_PAUSE_MS);
                    tokio::time::sleep(Duration::from_millis(pause)).await;
                }
                Err(failure @ PublishFailure::Unconfirmed(_)) => {
                    return Err(ChangeError::Unavailable(failure.to_string()));
                }
                Err(failure @ PublishFailure::Refused(_)) => {
                    return Err(ChangeError::Rejected(failure.to_string()));
                }
            }
        }
    }
}
