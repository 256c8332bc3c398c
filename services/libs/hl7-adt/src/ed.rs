//! Which ADT messages are ED attendance events, for trusts whose PAS/EPR
//! sends its emergency department's registrations on the ADT feed.
//!
//! An ED visit is one with PV1-2 patient class `E` (HL7 table 0004,
//! "Emergency"). The mapping, from a message, the site its PV1-3 maps to,
//! and the ED attendance of its visit still open (if the feed saw one):
//!
//! | message | becomes |
//! |---|---|
//! | A04 (register) or A01 (admit) of class `E` at a mapped site | arrival at that site |
//! | A03 (discharge/end visit) of an open ED attendance, or of class `E` | departure `discharged` |
//! | A01 (admit) or A06 (outpatient to inpatient) of an open ED attendance, not class `E` | departure `admitted` |
//! | A02 (transfer) of an open ED attendance to another site | departure `transferred` |
//! | anything else | nothing |
//!
//! A decision to admit has no standard ADT trigger (trusts send it, if at
//! all, in local Z-segments or as an order): it comes through the
//! urgent-care JSON API. Cancellations (A11, A13) have no counterpart in
//! the attendance's record, which keeps its departure: they change beds
//! only.

use crate::message::Trigger;

/// PV1-2 of an emergency department visit.
pub const ED_PATIENT_CLASS: &str = "E";

/// How an attendance ended, as the urgent-care API names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Departure {
    /// Admitted to a ward.
    Admitted,
    /// Discharged home (or elsewhere, not admitted).
    Discharged,
    /// Transferred to another site.
    Transferred,
}

impl Departure {
    /// The urgent-care API's word.
    pub fn as_str(self) -> &'static str {
        match self {
            Departure::Admitted => "admitted",
            Departure::Discharged => "discharged",
            Departure::Transferred => "transferred",
        }
    }
}

/// An ED attendance event a message means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EdEvent {
    /// The patient arrived at `site`'s ED.
    Arrival {
        /// The site code.
        site: String,
    },
    /// The patient left `site`'s ED.
    Departure {
        /// The site code (of the arrival).
        site: String,
        /// How.
        outcome: Departure,
    },
}

/// What a message means for its visit's ED attendance: `class` is PV1-2,
/// `here` the site PV1-3 maps to, `open` the site of the visit's ED
/// attendance the feed has seen arrive and not leave.
pub fn ed_event(
    trigger: Trigger,
    class: &str,
    here: Option<&str>,
    open: Option<&str>,
) -> Option<EdEvent> {
    let emergency = class.eq_ignore_ascii_case(ED_PATIENT_CLASS);
    let depart = |site: &str, outcome| {
        Some(EdEvent::Departure {
            site: site.to_owned(),
            outcome,
        })
    };
    match trigger {
        Trigger::Register | Trigger::Admit if emergency => here.map(|site| EdEvent::Arrival {
            site: site.to_owned(),
        }),
        Trigger::Admit | Trigger::OutpatientToInpatient => {
            open.and_then(|site| depart(site, Departure::Admitted))
        }
        Trigger::Discharge => match (open, emergency) {
            (Some(site), _) => depart(site, Departure::Discharged),
            (None, true) => here.and_then(|site| depart(site, Departure::Discharged)),
            (None, false) => None,
        },
        Trigger::Transfer => match (open, here) {
            (Some(from), Some(to)) if from != to => depart(from, Departure::Transferred),
            _ => None,
        },
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn arrival(site: &str) -> Option<EdEvent> {
        Some(EdEvent::Arrival { site: site.into() })
    }

    fn departure(site: &str, outcome: Departure) -> Option<EdEvent> {
        Some(EdEvent::Departure {
            site: site.into(),
            outcome,
        })
    }

    #[test]
    fn the_mapping_table() {
        use Trigger::*;
        /// Trigger, PV1-2, the site here, the open attendance's site, the event.
        type Case<'a> = (
            Trigger,
            &'a str,
            Option<&'a str>,
            Option<&'a str>,
            Option<EdEvent>,
        );
        let cases: [Case<'_>; 16] = [
            (Register, "E", Some("RWEAA"), None, arrival("RWEAA")),
            (Register, "e", Some("RWEAA"), None, arrival("RWEAA")),
            (Admit, "E", Some("RWEAA"), None, arrival("RWEAA")),
            // Not at a mapped site: nothing (the message itself is refused).
            (Register, "E", None, None, None),
            // Inpatients and outpatients are no ED events.
            (Register, "I", Some("RWEAA"), None, None),
            (Register, "O", Some("RWEAA"), None, None),
            (Discharge, "I", Some("RWEAA"), None, None),
            (Admit, "I", Some("RWEAA"), None, None),
            (
                Discharge,
                "E",
                Some("RWEAA"),
                None,
                departure("RWEAA", Departure::Discharged),
            ),
            (
                Discharge,
                "E",
                None,
                Some("RWEAK"),
                departure("RWEAK", Departure::Discharged),
            ),
            (
                Admit,
                "I",
                Some("RWEAA"),
                Some("RWEAA"),
                departure("RWEAA", Departure::Admitted),
            ),
            (
                OutpatientToInpatient,
                "I",
                Some("RWEAA"),
                Some("RWEAA"),
                departure("RWEAA", Departure::Admitted),
            ),
            (
                Transfer,
                "E",
                Some("RWEAK"),
                Some("RWEAA"),
                departure("RWEAA", Departure::Transferred),
            ),
            // A move within the site is no departure.
            (Transfer, "E", Some("RWEAA"), Some("RWEAA"), None),
            (CancelDischarge, "E", Some("RWEAA"), Some("RWEAA"), None),
            (Update, "E", Some("RWEAA"), Some("RWEAA"), None),
        ];
        for (trigger, class, here, open, expected) in cases {
            assert_eq!(
                ed_event(trigger, class, here, open),
                expected,
                "{trigger:?} class {class} here {here:?} open {open:?}"
            );
        }
    }
}
