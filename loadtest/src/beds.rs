//! The synthetic load-test ward and the events that keep its beds turning over.
//!
//! Each bed is opened once (`BedOpened`, version 1, `available`), then cycles
//! `available → occupied → awaiting_clean → available` with `BedStateChanged`
//! events whose entity version goes up by one per bed. Beds take turns, so
//! consecutive events touch different beds.

use pf_proto::NewEvent;
use pf_proto::v1::event_envelope::Payload;
use pf_proto::v1::{
    Actor, ActorKind, BedKind, BedOpened, BedRef, BedState, BedStateChanged, Source,
};

/// Organisation, service and actor id written into every load-test event.
const ORGANISATION: &str = "LOADTEST";
const SERVICE: &str = "loadtest";
const ACTOR: &str = "loadtest";

/// One bed's position in the cycle.
#[derive(Debug, Clone)]
struct Bed {
    code: String,
    version: u64,
    state: BedState,
}

/// One event to publish and the subject it goes on.
#[derive(Debug, Clone)]
pub struct Planned {
    /// `pf.beds.{site}.{ward}.{bed}`.
    pub subject: String,
    /// The event, not yet sealed (no id or recorded-at time).
    pub event: NewEvent,
}

/// Generates the events for one ward of `n` beds, forever.
#[derive(Debug, Clone)]
pub struct BedCycle {
    site: String,
    ward: String,
    beds: Vec<Bed>,
    next: usize,
}

/// The state a bed moves to next in the load-test cycle.
pub fn next_state(state: BedState) -> BedState {
    match state {
        BedState::Available => BedState::Occupied,
        BedState::Occupied => BedState::AwaitingClean,
        _ => BedState::Available,
    }
}

impl BedCycle {
    /// A ward `ward` on site `site` with beds `B0001` … `B{n:04}` (at least one).
    pub fn new(site: &str, ward: &str, n: u32) -> Self {
        let beds = (1..=n.max(1))
            .map(|i| Bed {
                code: format!("B{i:04}"),
                version: 0,
                state: BedState::Unspecified,
            })
            .collect();
        Self {
            site: site.to_owned(),
            ward: ward.to_owned(),
            beds,
            next: 0,
        }
    }

    /// The next event: every bed's `BedOpened` first, then state changes in turn.
    pub fn next_event(&mut self) -> Planned {
        let index = self.next;
        self.next = (self.next + 1) % self.beds.len();
        let (site, ward) = (&self.site, &self.ward);
        let bed = &mut self.beds[index];
        let bed_ref = BedRef {
            site: site.clone(),
            ward: ward.clone(),
            bed: bed.code.clone(),
        };
        let payload = if bed.version == 0 {
            bed.state = BedState::Available;
            Payload::BedOpened(BedOpened {
                bed: Some(bed_ref),
                kind: BedKind::GeneralAcute as i32,
                escalation: false,
                reason: "load test".to_owned(),
            })
        } else {
            let previous = bed.state;
            bed.state = next_state(previous);
            Payload::BedStateChanged(BedStateChanged {
                bed: Some(bed_ref),
                kind: BedKind::GeneralAcute as i32,
                escalation: false,
                previous_state: previous as i32,
                state: bed.state as i32,
                reason: "load test".to_owned(),
            })
        };
        bed.version += 1;
        Planned {
            subject: format!("pf.beds.{site}.{ward}.{}", bed.code),
            event: NewEvent {
                source: Source {
                    organisation: ORGANISATION.to_owned(),
                    service: SERVICE.to_owned(),
                },
                entity_id: format!("bed/{site}/{ward}/{}", bed.code),
                entity_version: bed.version,
                occurred_at: None,
                actor: Actor {
                    id: ACTOR.to_owned(),
                    organisation: ORGANISATION.to_owned(),
                    kind: ActorKind::Machine as i32,
                },
                payload,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn beds_open_first_then_cycle_with_versions_plus_one() {
        let mut cycle = BedCycle::new("LOADTEST", "R1", 2);
        let events: Vec<Planned> = (0..8).map(|_| cycle.next_event()).collect();

        assert_eq!(events[0].subject, "pf.beds.LOADTEST.R1.B0001");
        assert_eq!(events[1].subject, "pf.beds.LOADTEST.R1.B0002");
        assert!(matches!(events[0].event.payload, Payload::BedOpened(_)));
        assert!(matches!(events[1].event.payload, Payload::BedOpened(_)));
        assert_eq!(events[0].event.entity_id, "bed/LOADTEST/R1/B0001");

        let bed1: Vec<&Planned> = events.iter().step_by(2).collect();
        let versions: Vec<u64> = bed1.iter().map(|p| p.event.entity_version).collect();
        assert_eq!(versions, [1, 2, 3, 4]);
        let moves: Vec<(i32, i32)> = bed1[1..]
            .iter()
            .map(|p| match &p.event.payload {
                Payload::BedStateChanged(c) => (c.previous_state, c.state),
                other => panic!("unexpected {other:?}"),
            })
            .collect();
        use BedState::*;
        assert_eq!(
            moves,
            [
                (Available as i32, Occupied as i32),
                (Occupied as i32, AwaitingClean as i32),
                (AwaitingClean as i32, Available as i32),
            ]
        );
    }

    #[test]
    fn sealed_events_pass_the_envelope_checks() {
        let mut cycle = BedCycle::new("LOADTEST", "R1", 1);
        for _ in 0..3 {
            let sealed = cycle
                .next_event()
                .event
                .seal(time::OffsetDateTime::now_utc());
            let back = pf_proto::v1::EventEnvelope::decode_checked(&sealed.to_bytes());
            assert!(back.is_ok(), "{back:?}");
            assert_eq!(
                sealed.source.as_ref().map(|s| s.service.as_str()),
                Some("loadtest")
            );
        }
    }
}
