//! From one framed message to its ACK: parse, find the feed, check the
//! control id, map the locations, decide with the rules, publish the bed
//! changes, update the visit index, answer; then join the discharge list
//! and record an ED attendance's arrival or departure, neither of which
//! changes the answer.
//!
//! `AA` is sent only after every bed change is stored in JetStream and the
//! visit index updated. A message that cannot be used gets `AE` (or `AR` for
//! one that is not for us) with the reason in MSA-3 and ERR, is parked on
//! the dead-letter subject `pf.deadletter.adt` with the reason, and counted.
//! When the event log or Redis is down the answer is `AE` asking for a
//! resend, and nothing is parked.
//!
//! The ACK of an accepted message is kept with its control id: a resend
//! gets the same ACK and changes nothing. A refused message's ACK is not
//! kept, so that once the cause is fixed (a mapping added, a bed opened) the
//! same message can be sent again and taken.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use bytes::Bytes;
use pf_bed_log::BedLog;
use pf_event_log::DeadLetters;
use pf_hl7_adt::ack::{self, AckCode, ErrorCode};
use pf_hl7_adt::ed::{ED_PATIENT_CLASS, EdEvent, ed_event};
use pf_hl7_adt::mapping::{Feed, FeedsFile, MappedLocation};
use pf_hl7_adt::message::{self, AdtMessage, Header, Location, MessageError};
use pf_hl7_adt::rules::{self, BedKey, BedView, FeedEvent, VisitEntry};
use pf_hospital_model::catalogue::CatalogueBed;
use pf_hospital_model::{BedAddress, Catalogue};
use pf_proto::v1::{Actor, ActorKind};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use tracing::Instrument as _;

use crate::beds::{self, BedWriteError};
use crate::discharges::{self, DischargesClient, Join, Outcome};
use crate::metrics::FeedMetrics;
use crate::store::{Claim, FeedStore};
use crate::urgent_care::{self, UrgentCareClient};

/// The dead-letter "stream" name of refused ADT messages (`pf.deadletter.adt`).
pub const DEAD_LETTER_STREAM: &str = "adt";
/// Longest part of a refused message kept as a dead letter.
const DEAD_LETTER_MAX_BYTES: usize = 256 * 1024;
/// How often a message is decided again when a bed moved under it.
const DECIDE_ATTEMPTS: usize = 3;

/// Everything a message needs.
#[derive(Clone)]
pub struct Ingest {
    /// The feeds file.
    pub feeds: Arc<FeedsFile>,
    /// The site catalogue.
    pub catalogue: Arc<Catalogue>,
    /// Reads and changes beds (the shared bed decisions).
    pub beds: BedLog,
    /// Parks refused messages.
    pub dead_letters: DeadLetters,
    /// Control ids and the visit index.
    pub store: FeedStore,
    /// Counters.
    pub metrics: FeedMetrics,
    /// The discharge list (A03/A13).
    pub discharges: DischargesClient,
    /// ED attendances (patient class `E`).
    pub urgent_care: UrgentCareClient,
}

/// What a stored message may mean for its visit's ED attendance (worked
/// out after the ACK is decided: [`Ingest::ed`]).
struct EdInput {
    trigger: message::Trigger,
    /// PV1-2.
    class: String,
    /// The site PV1-3 maps to.
    here: Option<String>,
    /// PV1-19.
    visit_number: Option<String>,
    /// When it happened (EVN-6, EVN-2 or MSH-7, as for the beds).
    at: OffsetDateTime,
}

impl EdInput {
    /// Whether the message may end an open ED attendance (worth a look in
    /// the store).
    fn may_depart(&self) -> bool {
        use message::Trigger as T;
        matches!(
            self.trigger,
            T::Admit | T::OutpatientToInpatient | T::Discharge | T::Transfer
        )
    }
}

/// Why a message was not taken.
#[derive(Debug)]
enum Failure {
    /// Refused for good (until something is fixed): parked and counted.
    Refused {
        code: AckCode,
        error: ErrorCode,
        label: &'static str,
        reason: String,
    },
    /// A server is unavailable: send again later.
    Unavailable(String),
}

fn refused(
    code: AckCode,
    error: ErrorCode,
    label: &'static str,
    reason: impl Into<String>,
) -> Failure {
    Failure::Refused {
        code,
        error,
        label,
        reason: reason.into(),
    }
}

impl From<MessageError> for Failure {
    fn from(e: MessageError) -> Self {
        let (code, error, label) = match &e {
            MessageError::NotAdt(_) => (
                AckCode::Reject,
                ErrorCode::UnsupportedMessageType,
                "not_adt",
            ),
            MessageError::NotText | MessageError::Structure(_) => {
                (AckCode::Reject, ErrorCode::SegmentSequence, "unreadable")
            }
            MessageError::Missing(_) => (
                AckCode::Error,
                ErrorCode::RequiredFieldMissing,
                "missing_field",
            ),
            MessageError::Invalid { .. } => (AckCode::Error, ErrorCode::DataType, "invalid_field"),
        };
        refused(code, error, label, e.to_string())
    }
}

impl Ingest {
    /// Answers one message with its ACK.
    pub async fn handle(&self, bytes: &[u8]) -> Bytes {
        let started = std::time::Instant::now();
        let header = message::parse_header(bytes).map(|(h, _)| h);
        let feed = header.as_ref().and_then(|h| self.feeds.feed_for(h));
        let span = tracing::info_span!(
            "adt_message",
            feed = feed.map_or("unknown", |f| f.name.as_str()),
            trigger = header.as_ref().map_or("", |h| h.trigger.as_str()),
            control_id = header.as_ref().map_or("", |h| h.control_id.as_str()),
            code = tracing::field::Empty,
        );
        let ack = self
            .answer(bytes, header.as_ref(), feed)
            .instrument(span.clone())
            .await;
        self.metrics
            .ack_seconds
            .observe(started.elapsed().as_secs_f64());
        Bytes::from(ack)
    }

    async fn answer(&self, bytes: &[u8], header: Option<&Header>, feed: Option<&Feed>) -> String {
        let now = OffsetDateTime::now_utc();
        let feed_name = feed.map_or("unknown", |f| f.name.as_str());
        let trigger = header
            .map_or("", |h| h.trigger.as_str())
            .chars()
            .take(8)
            .collect::<String>();
        let Some(header) = header else {
            let failure = match message::parse(bytes) {
                Err(e) => Failure::from(e),
                Ok(_) => refused(
                    AckCode::Reject,
                    ErrorCode::SegmentSequence,
                    "unreadable",
                    "the message header cannot be read",
                ),
            };
            return self
                .refuse(None, feed_name, &trigger, bytes, failure, now)
                .await;
        };
        let Some(feed) = feed else {
            let failure = refused(
                AckCode::Reject,
                ErrorCode::UnknownKey,
                "unknown_sender",
                format!(
                    "no feed is configured for sending application `{}` and facility `{}`",
                    header.sending_application, header.sending_facility
                ),
            );
            return self
                .refuse(Some(header), feed_name, &trigger, bytes, failure, now)
                .await;
        };
        if header.control_id.is_empty() {
            let failure = Failure::from(MessageError::Missing("MSH-10 (message control id)"));
            return self
                .refuse(Some(header), feed_name, &trigger, bytes, failure, now)
                .await;
        }
        match self.store.claim(&feed.name, &header.control_id).await {
            Ok(Claim::New) => {}
            Ok(Claim::Answered(ack)) => {
                self.metrics.resends.with_label_values(&[feed_name]).inc();
                tracing::info!("resend answered with its first ACK; nothing changed");
                return ack;
            }
            Ok(Claim::Busy) => {
                return self.unavailable(
                    header,
                    feed_name,
                    &trigger,
                    "the same message is being handled now; send it again",
                    now,
                );
            }
            Err(e) => return self.unavailable(header, feed_name, &trigger, &e.to_string(), now),
        }
        match self.apply(feed, bytes).await {
            Ok((text, join, ed)) => {
                let ack = ack::build(Some(header), AckCode::Accept, &text, None, now);
                if let Err(e) = self
                    .store
                    .answer(&feed.name, &header.control_id, &ack)
                    .await
                {
                    // Stored in JetStream but the control id not kept: a
                    // resend would be decided again, which finds the beds
                    // already changed; say AA all the same.
                    tracing::warn!(error = %e, "the control id could not be kept");
                }
                self.count(feed_name, &trigger, AckCode::Accept);
                tracing::info!("message stored");
                if let Some(join) = join {
                    self.join(feed, join).await;
                }
                self.ed(feed, ed).await;
                ack
            }
            Err(failure @ Failure::Refused { .. }) => {
                let _ = self.store.release(&feed.name, &header.control_id).await;
                self.refuse(Some(header), feed_name, &trigger, bytes, failure, now)
                    .await
            }
            Err(Failure::Unavailable(reason)) => {
                let _ = self.store.release(&feed.name, &header.control_id).await;
                self.unavailable(header, feed_name, &trigger, &reason, now)
            }
        }
    }

    /// Joins a stored A03/A13 to the discharge list; a failure is counted
    /// and logged (never with the NHS number) and does not change the ACK.
    async fn join(&self, feed: &Feed, join: Result<Join, Outcome>) {
        let outcome = match join {
            Ok(join) => self.discharges.join(&feed.organisation, &join).await,
            Err(outcome) => outcome,
        };
        self.metrics
            .discharge_joins
            .with_label_values(&[outcome.as_str()])
            .inc();
        match outcome {
            Outcome::Joined => tracing::info!("discharge list updated"),
            Outcome::NotOnList | Outcome::NoNhsNumber | Outcome::NotConfigured => {
                tracing::info!(outcome = outcome.as_str(), "discharge list not changed")
            }
            Outcome::Refused | Outcome::Unavailable => tracing::warn!(
                outcome = outcome.as_str(),
                "the discharge list could not be updated; the bed change stands"
            ),
        }
    }

    /// Records a stored message's ED attendance event, if it means one, in
    /// the urgent-care service; a failure is counted and logged (never with
    /// the visit number or the attendance id) and does not change the ACK.
    async fn ed(&self, feed: &Feed, ed: EdInput) {
        if !feed.ed_attendances {
            return;
        }
        if !self.urgent_care.is_configured() {
            // Off: the feed keeps no ED attendances either; an ED
            // registration is counted as not sent.
            if let Some(event) = ed_event(ed.trigger, &ed.class, ed.here.as_deref(), None) {
                self.count_ed(&event, urgent_care::Outcome::NotConfigured);
            }
            return;
        }
        let open = match &ed.visit_number {
            Some(number) if ed.may_depart() => {
                match self.store.ed_attendance(&feed.name, number).await {
                    Ok(open) => open,
                    Err(e) => {
                        tracing::warn!(error = %e, "the visit's ED attendance could not be read");
                        None
                    }
                }
            }
            _ => None,
        };
        let Some(event) = ed_event(ed.trigger, &ed.class, ed.here.as_deref(), open.as_deref())
        else {
            return;
        };
        let Some(number) = &ed.visit_number else {
            self.count_ed(&event, urgent_care::Outcome::NoVisitNumber);
            return;
        };
        let attendance = urgent_care::attendance_id(&feed.name, number);
        let outcome = self.urgent_care.record(&event, &attendance, ed.at).await;
        // Kept whatever the service answered: a departure is sent for an
        // arrival it missed (and refused there, counted), never lost here.
        let site = match &event {
            EdEvent::Arrival { site } => Some(site.as_str()),
            EdEvent::Departure { .. } => None,
        };
        if let Err(e) = self.store.set_ed_attendance(&feed.name, number, site).await {
            tracing::warn!(error = %e, "the visit's ED attendance could not be kept");
        }
        self.count_ed(&event, outcome);
    }

    fn count_ed(&self, event: &EdEvent, outcome: urgent_care::Outcome) {
        let label = urgent_care::event_label(event);
        self.metrics
            .ed_events
            .with_label_values(&[label, outcome.as_str()])
            .inc();
        use urgent_care::Outcome as O;
        match outcome {
            O::Recorded => tracing::info!(event = label, "ED attendance recorded"),
            O::NotConfigured | O::NoVisitNumber | O::NotNow => tracing::info!(
                event = label,
                outcome = outcome.as_str(),
                "ED attendance not changed"
            ),
            O::Refused | O::Unavailable => tracing::warn!(
                event = label,
                outcome = outcome.as_str(),
                "the ED attendance could not be recorded; the bed change stands"
            ),
        }
    }

    fn count(&self, feed: &str, trigger: &str, code: AckCode) {
        self.metrics
            .messages
            .with_label_values(&[feed, trigger, code.as_str()])
            .inc();
        tracing::Span::current().record("code", code.as_str());
    }

    fn unavailable(
        &self,
        header: &Header,
        feed: &str,
        trigger: &str,
        reason: &str,
        now: OffsetDateTime,
    ) -> String {
        self.count(feed, trigger, AckCode::Error);
        self.metrics
            .refused
            .with_label_values(&[feed, "unavailable"])
            .inc();
        tracing::warn!(
            reason,
            "message not stored; the sender should send it again"
        );
        ack::build(
            Some(header),
            AckCode::Error,
            &format!("not stored, send again: {reason}"),
            Some(ErrorCode::ApplicationError),
            now,
        )
    }

    async fn refuse(
        &self,
        header: Option<&Header>,
        feed: &str,
        trigger: &str,
        bytes: &[u8],
        failure: Failure,
        now: OffsetDateTime,
    ) -> String {
        let (code, error, label, reason) = match failure {
            Failure::Refused {
                code,
                error,
                label,
                reason,
            } => (code, error, label, reason),
            Failure::Unavailable(reason) => (
                AckCode::Error,
                ErrorCode::ApplicationError,
                "unavailable",
                reason,
            ),
        };
        let kept = &bytes[..bytes.len().min(DEAD_LETTER_MAX_BYTES)];
        let mut digest = Sha256::new();
        digest.update(feed.as_bytes());
        digest.update(header.map_or(kept, |h| h.control_id.as_bytes()));
        let hash = digest.finalize();
        let mut id = [0u8; 8];
        id.copy_from_slice(&hash[..8]);
        let parked = self
            .dead_letters
            .park(
                DEAD_LETTER_STREAM,
                &format!("mllp.{feed}"),
                u64::from_be_bytes(id),
                Bytes::copy_from_slice(kept),
                &reason,
            )
            .await;
        if let Err(e) = parked {
            tracing::warn!(error = %e, "a refused message could not be parked");
            if let Some(header) = header {
                return self.unavailable(
                    header,
                    feed,
                    trigger,
                    "the refusal could not be recorded",
                    now,
                );
            }
        }
        self.count(feed, trigger, code);
        self.metrics.refused.with_label_values(&[feed, label]).inc();
        tracing::warn!(reason = %reason, kind = label, "message refused and parked");
        ack::build(header, code, &reason, Some(error), now)
    }

    async fn apply(
        &self,
        feed: &Feed,
        bytes: &[u8],
    ) -> Result<(String, Option<Result<Join, Outcome>>, EdInput), Failure> {
        let message = message::parse(bytes)?;
        let join = discharges::join_of(&message);
        let event = self.mapped(feed, &message)?;
        let ed = EdInput {
            trigger: message.trigger,
            class: message
                .visit()
                .map(|v| v.patient_class.clone())
                .unwrap_or_default(),
            here: event.assigned.as_ref().map(|l| l.site.clone()),
            visit_number: event.visit_number.clone(),
            at: event.at,
        };
        let actor = Actor {
            id: format!("adt-feed:{}", feed.name),
            organisation: feed.organisation.clone(),
            kind: ActorKind::Machine as i32,
        };
        for attempt in 1..=DECIDE_ATTEMPTS {
            let numbers: BTreeSet<String> = event
                .visit_number
                .iter()
                .chain(event.other.as_ref().and_then(|(n, _)| n.as_ref()))
                .cloned()
                .collect();
            let mut visits: BTreeMap<String, VisitEntry> = BTreeMap::new();
            for number in &numbers {
                if let Some(entry) = self
                    .store
                    .visit(&feed.name, number)
                    .await
                    .map_err(|e| Failure::Unavailable(e.to_string()))?
                {
                    visits.insert(number.clone(), entry);
                }
            }
            let mut keys: BTreeSet<BedKey> = BTreeSet::new();
            keys.extend(event.assigned.as_ref().and_then(BedKey::of));
            keys.extend(event.prior.as_ref().and_then(BedKey::of));
            keys.extend(
                event
                    .other
                    .as_ref()
                    .and_then(|(_, l)| l.as_ref())
                    .and_then(BedKey::of),
            );
            keys.extend(event.bed_status.as_ref().and_then(|(l, _)| BedKey::of(l)));
            for visit in visits.values() {
                keys.extend(visit.bed.clone());
                keys.extend(visit.previous_bed.clone());
            }
            let mut beds: BTreeMap<BedKey, (CatalogueBed, BedView)> = BTreeMap::new();
            for key in keys {
                let Some(bed) = self.catalogue_bed(&key) else {
                    continue;
                };
                let (view, _) = beds::current(&self.beds, &bed)
                    .await
                    .map_err(|e| Failure::Unavailable(e.to_string()))?;
                beds.insert(key, (bed, view));
            }
            let decision = rules::decide(&event, &|number| visits.get(number).cloned(), &|key| {
                beds.get(key).map_or(
                    BedView {
                        state: None,
                        last_change: None,
                    },
                    |(_, view)| *view,
                )
            })
            .map_err(|refusal| {
                let label = match refusal {
                    rules::Refusal::BedNotOpen(_) => "bed_not_open",
                    rules::Refusal::NoLocation(_) => "missing_field",
                    rules::Refusal::UnknownBedStatus(_) => "invalid_field",
                };
                refused(
                    AckCode::Error,
                    ErrorCode::UnknownKey,
                    label,
                    refusal.to_string(),
                )
            })?;
            let mut moved_under_us = false;
            for step in &decision.steps {
                let Some((bed, _)) = beds.get(&step.bed) else {
                    continue;
                };
                match beds::change(&self.beds, bed, step.to, &step.reason, &actor, event.at).await {
                    Ok(event_id) => {
                        tracing::info!(bed = %step.bed, state = step.to.as_str(), event_id, "bed change stored")
                    }
                    Err(BedWriteError::Refused(cause)) if attempt < DECIDE_ATTEMPTS => {
                        tracing::info!(%cause, "a bed moved while this message was applied; deciding again");
                        moved_under_us = true;
                        break;
                    }
                    Err(BedWriteError::Refused(cause)) => {
                        return Err(refused(
                            AckCode::Error,
                            ErrorCode::ApplicationError,
                            "conflict",
                            cause.to_string(),
                        ));
                    }
                    Err(e) => return Err(Failure::Unavailable(e.to_string())),
                }
            }
            if moved_under_us {
                continue;
            }
            for (number, entry) in &decision.visits {
                self.store
                    .set_visit(&feed.name, number, entry.as_ref())
                    .await
                    .map_err(|e| Failure::Unavailable(e.to_string()))?;
            }
            let mut text = match decision.steps.len() {
                0 => "accepted: no bed changes".to_owned(),
                1 => "stored: 1 bed change".to_owned(),
                n => format!("stored: {n} bed changes"),
            };
            if !decision.notes.is_empty() {
                text.push_str(" (");
                text.push_str(&decision.notes.join("; "));
                text.push(')');
            }
            return Ok((text, join, ed));
        }
        Err(Failure::Unavailable(
            "the beds kept changing; send again".into(),
        ))
    }

    fn catalogue_bed(&self, key: &BedKey) -> Option<CatalogueBed> {
        let address = BedAddress::parse(&key.site, &key.ward, &key.bed).ok()?;
        self.catalogue.bed(&address)
    }

    /// Maps every location of the message, refusing an unknown one.
    ///
    /// On a feed that sends its trust's ED attendances, a location of an ED
    /// visit (patient class `E`) whose ward is not in the catalogue needs
    /// only its site there, and its bed (a cubicle, a trolley) is no bed of
    /// the bed base: an emergency department has no wards or beds there.
    /// An ED ward the catalogue holds (an observation unit) keeps its beds.
    fn mapped(&self, feed: &Feed, message: &AdtMessage) -> Result<FeedEvent, Failure> {
        let emergency = feed.ed_attendances
            && message
                .visit()
                .is_some_and(|v| v.patient_class.eq_ignore_ascii_case(ED_PATIENT_CLASS));
        let map = |location: Option<&Location>| -> Result<Option<MappedLocation>, Failure> {
            let Some(location) = location else {
                return Ok(None);
            };
            let mut mapped = feed.map(location).map_err(|e| {
                refused(
                    AckCode::Error,
                    ErrorCode::UnknownKey,
                    "unknown_location",
                    e.to_string(),
                )
            })?;
            if emergency && !self.ward_in_catalogue(&mapped) {
                // A cubicle or trolley of the department, not a bed.
                self.check_site(&mapped)?;
                mapped.bed = None;
            } else {
                self.check_catalogue(&mapped)?;
            }
            Ok(Some(mapped))
        };
        let visit = message.visit();
        let other = match message.trigger {
            message::Trigger::Swap => {
                let second = message.patients.get(1).and_then(|p| p.visit.as_ref());
                Some((
                    second.and_then(|v| v.visit_number.clone()),
                    map(second.and_then(|v| v.assigned.as_ref()))?,
                ))
            }
            _ => None,
        };
        let bed_status = match &message.bed_status {
            Some(update) => map(Some(&update.location))?.map(|l| (l, update.status.clone())),
            None => None,
        };
        Ok(FeedEvent {
            trigger: message.trigger,
            at: message.event_time().unwrap_or_else(OffsetDateTime::now_utc),
            precision: message.event_precision,
            visit_number: visit.and_then(|v| v.visit_number.clone()),
            assigned: map(visit.and_then(|v| v.assigned.as_ref()))?,
            prior: map(visit.and_then(|v| v.prior.as_ref()))?,
            other,
            bed_status,
        })
    }

    fn ward_in_catalogue(&self, location: &MappedLocation) -> bool {
        match (
            pf_hospital_model::SiteCode::parse(&location.site),
            pf_hospital_model::WardCode::parse(&location.ward),
        ) {
            (Ok(site), Ok(ward)) => self.catalogue.ward(&site, &ward).is_some(),
            _ => false,
        }
    }

    fn check_site(&self, location: &MappedLocation) -> Result<(), Failure> {
        let known = pf_hospital_model::SiteCode::parse(&location.site)
            .ok()
            .is_some_and(|site| self.catalogue.site(&site).is_some());
        if known {
            Ok(())
        } else {
            Err(refused(
                AckCode::Error,
                ErrorCode::UnknownKey,
                "unknown_location",
                format!(
                    "site {} is not in the site catalogue; check the feed's location mapping",
                    location.site
                ),
            ))
        }
    }

    fn check_catalogue(&self, location: &MappedLocation) -> Result<(), Failure> {
        let unknown = |what: String| {
            refused(
                AckCode::Error,
                ErrorCode::UnknownKey,
                "unknown_location",
                format!("{what} is not in the site catalogue; check the feed's location mapping"),
            )
        };
        let site = pf_hospital_model::SiteCode::parse(&location.site)
            .map_err(|_| unknown(format!("site {}", location.site)))?;
        let ward = pf_hospital_model::WardCode::parse(&location.ward)
            .map_err(|_| unknown(format!("ward {} at {}", location.ward, location.site)))?;
        if self.catalogue.ward(&site, &ward).is_none() {
            return Err(unknown(format!(
                "ward {} at {}",
                location.ward, location.site
            )));
        }
        if let Some(bed) = &location.bed {
            let key = BedKey {
                site: location.site.clone(),
                ward: location.ward.clone(),
                bed: bed.clone(),
            };
            if self.catalogue_bed(&key).is_none() {
                return Err(unknown(format!("bed {key}")));
            }
        }
        Ok(())
    }
}
