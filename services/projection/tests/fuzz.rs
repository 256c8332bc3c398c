//! Property tests: nothing published on the streams (any subject, any
//! bytes) makes the projection's decoders panic; what they refuse has a
//! reason and a metric label.

use pf_event_log::streams::EVENT_STREAMS;
use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn arbitrary_events_are_decoded_or_refused_with_a_reason(
        stream in 0usize..8,
        subject in "[a-zA-Z0-9.>*_-]{0,40}",
        bytes in proptest::collection::vec(any::<u8>(), 0..512),
        stored_at_ms in proptest::option::of(any::<i64>()),
    ) {
        let spec = &EVENT_STREAMS[stream % EVENT_STREAMS.len()];
        if let Err(reason) = pf_projection::event::decode(spec, &subject, &bytes, stored_at_ms) {
            prop_assert!(!reason.to_string().is_empty());
            prop_assert!(!reason.label().is_empty());
        }
    }
}
