//! Property tests: no bytes from outside make the envelope decoder panic,
//! and a decoded envelope always passes its own checks.

use pf_proto::NewEvent;
use pf_proto::v1::event_envelope::Payload;
use pf_proto::v1::{Actor, BedRef, BedStateChanged, EventEnvelope, Source};
use proptest::prelude::*;

fn valid() -> Vec<u8> {
    NewEvent {
        source: Source {
            organisation: "RWE".into(),
            service: "test".into(),
        },
        entity_id: "bed/RWEAA/WD1/B1".into(),
        entity_version: 1,
        occurred_at: None,
        actor: Actor {
            id: "x".into(),
            organisation: "RWE".into(),
            kind: 1,
        },
        payload: Payload::BedStateChanged(BedStateChanged {
            bed: Some(BedRef {
                site: "RWEAA".into(),
                ward: "WD1".into(),
                bed: "B1".into(),
            }),
            kind: 1,
            escalation: false,
            previous_state: 1,
            state: 2,
            reason: String::new(),
        }),
    }
    .seal(time::OffsetDateTime::now_utc())
    .to_bytes()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = EventEnvelope::decode_checked(&bytes);
    }

    #[test]
    fn a_damaged_envelope_is_refused_or_still_checked(index in 0usize..400, byte in any::<u8>(), cut in 0usize..400) {
        let mut bytes = valid();
        if !bytes.is_empty() {
            let i = index % bytes.len();
            bytes[i] = byte;
            bytes.truncate(cut.max(1).min(bytes.len()));
        }
        if let Ok(event) = EventEnvelope::decode_checked(&bytes) {
            prop_assert!(!event.event_id.is_empty());
            prop_assert!(event.entity_version > 0);
            prop_assert!(event.payload.is_some());
        }
    }
}
