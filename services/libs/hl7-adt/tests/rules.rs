//! The state machine, one row per rule: (message, visit index, beds) →
//! bed changes, visit index changes.

use std::collections::HashMap;

use pf_hl7_adt::mapping::MappedLocation;
use pf_hl7_adt::message::Trigger;
use pf_hl7_adt::rules::{
    BedKey, BedView, Decision, FeedEvent, Refusal, VisitEntry, VisitStatus, decide,
};
use pf_hospital_model::BedState::{self, *};
use time::OffsetDateTime;
use time::macros::datetime;

const AT: OffsetDateTime = datetime!(2026-01-15 09:30 UTC);

fn loc(bed: &str) -> MappedLocation {
    MappedLocation {
        site: "RWEAA".into(),
        ward: "WD15".into(),
        bed: Some(bed.into()),
    }
}

fn key(bed: &str) -> BedKey {
    BedKey {
        site: "RWEAA".into(),
        ward: "WD15".into(),
        bed: bed.into(),
    }
}

fn event(trigger: Trigger, assigned: Option<&str>, prior: Option<&str>) -> FeedEvent {
    FeedEvent {
        trigger,
        at: AT,
        precision: time::Duration::seconds(1),
        visit_number: Some("V1".into()),
        assigned: assigned.map(loc),
        prior: prior.map(loc),
        other: None,
        bed_status: None,
    }
}

fn visit(status: VisitStatus, bed: Option<&str>, previous: Option<&str>) -> VisitEntry {
    VisitEntry {
        status,
        bed: bed.map(key),
        previous_bed: previous.map(key),
    }
}

/// Runs the rules with beds in the given states (changed an hour before the
/// event) and the visit index holding `known` for V1.
fn run(
    event: &FeedEvent,
    known: Option<VisitEntry>,
    beds: &[(&str, BedState)],
) -> Result<Decision, Refusal> {
    let beds: HashMap<BedKey, BedState> = beds.iter().map(|(b, s)| (key(b), *s)).collect();
    let visits = move |number: &str| if number == "V1" { known.clone() } else { None };
    let view = move |bed: &BedKey| BedView {
        state: beds.get(bed).copied(),
        last_change: Some(AT - time::Duration::hours(1)),
    };
    decide(event, &visits, &view)
}

/// The bed moves as (bed, state) pairs.
fn moves(decision: &Decision) -> Vec<(String, BedState)> {
    decision
        .steps
        .iter()
        .map(|s| (s.bed.bed.clone(), s.to))
        .collect()
}

fn m(bed: &str, state: BedState) -> (String, BedState) {
    (bed.into(), state)
}

#[test]
fn the_rules_table() {
    use Trigger::*;
    use VisitStatus::*;
    // (name, event, visit index, beds, expected moves, expected V1 entry after)
    type Row = (
        &'static str,
        FeedEvent,
        Option<VisitEntry>,
        Vec<(&'static str, BedState)>,
        Vec<(String, BedState)>,
        Option<Option<VisitEntry>>,
    );
    let rows: Vec<Row> = vec![
        (
            "A01 admit fills an available bed",
            event(Admit, Some("B01"), None),
            None,
            vec![("B01", Available)],
            vec![m("B01", Occupied)],
            Some(Some(visit(Admitted, Some("B01"), None))),
        ),
        (
            "A01 fills a reserved bed",
            event(Admit, Some("B01"), None),
            None,
            vec![("B01", Reserved)],
            vec![m("B01", Occupied)],
            Some(Some(visit(Admitted, Some("B01"), None))),
        ),
        (
            "A01 again changes nothing",
            event(Admit, Some("B01"), None),
            Some(visit(Admitted, Some("B01"), None)),
            vec![("B01", Occupied)],
            vec![],
            Some(Some(visit(Admitted, Some("B01"), None))),
        ),
        (
            "A02 transfer: prior awaits clean, new occupied",
            event(Transfer, Some("B02"), Some("B01")),
            Some(visit(Admitted, Some("B01"), None)),
            vec![("B01", Occupied), ("B02", Available)],
            vec![m("B01", AwaitingClean), m("B02", Occupied)],
            Some(Some(visit(Admitted, Some("B02"), Some("B01")))),
        ),
        (
            "A02 without PV1-6 uses the visit index",
            event(Transfer, Some("B02"), None),
            Some(visit(Admitted, Some("B01"), None)),
            vec![("B01", Occupied), ("B02", Available)],
            vec![m("B01", AwaitingClean), m("B02", Occupied)],
            Some(Some(visit(Admitted, Some("B02"), Some("B01")))),
        ),
        (
            "A03 discharge: the bed awaits clean",
            event(Discharge, Some("B01"), None),
            Some(visit(Admitted, Some("B01"), None)),
            vec![("B01", Occupied)],
            vec![m("B01", AwaitingClean)],
            Some(Some(visit(Discharged, None, Some("B01")))),
        ),
        (
            "A03 without PV1-3 uses the visit index",
            event(Discharge, None, None),
            Some(visit(Admitted, Some("B01"), None)),
            vec![("B01", Occupied)],
            vec![m("B01", AwaitingClean)],
            Some(Some(visit(Discharged, None, Some("B01")))),
        ),
        (
            "A04 registration: no bed change",
            event(Register, Some("B01"), None),
            None,
            vec![("B01", Available)],
            vec![],
            None,
        ),
        (
            "A05 pre-admission: no bed change",
            event(PreAdmit, Some("B01"), None),
            None,
            vec![("B01", Available)],
            vec![],
            None,
        ),
        (
            "A06 outpatient to inpatient fills the bed",
            event(OutpatientToInpatient, Some("B01"), None),
            None,
            vec![("B01", Available)],
            vec![m("B01", Occupied)],
            Some(Some(visit(Admitted, Some("B01"), None))),
        ),
        (
            "A07 inpatient to outpatient empties it",
            event(InpatientToOutpatient, None, None),
            Some(visit(Admitted, Some("B01"), None)),
            vec![("B01", Occupied)],
            vec![m("B01", AwaitingClean)],
            Some(Some(visit(Discharged, None, Some("B01")))),
        ),
        (
            "A08 with a new bed is a transfer",
            event(Update, Some("B02"), None),
            Some(visit(Admitted, Some("B01"), None)),
            vec![("B01", Occupied), ("B02", Available)],
            vec![m("B01", AwaitingClean), m("B02", Occupied)],
            Some(Some(visit(Admitted, Some("B02"), Some("B01")))),
        ),
        (
            "A08 with the same bed changes nothing",
            event(Update, Some("B01"), None),
            Some(visit(Admitted, Some("B01"), None)),
            vec![("B01", Occupied)],
            vec![],
            None,
        ),
        (
            "A11 cancel admit: the bed awaits clean, the visit is forgotten",
            event(CancelAdmit, Some("B01"), None),
            Some(visit(Admitted, Some("B01"), None)),
            vec![("B01", Occupied)],
            vec![m("B01", AwaitingClean)],
            Some(None),
        ),
        (
            "A12 cancel transfer: back to the prior bed",
            event(CancelTransfer, Some("B01"), None),
            Some(visit(Admitted, Some("B02"), Some("B01"))),
            vec![("B01", AwaitingClean), ("B02", Occupied)],
            vec![
                m("B02", AwaitingClean),
                m("B01", Available),
                m("B01", Occupied),
            ],
            Some(Some(visit(Admitted, Some("B01"), None))),
        ),
        (
            "A13 cancel discharge: the bed is occupied again",
            event(CancelDischarge, None, None),
            Some(visit(Discharged, None, Some("B01"))),
            vec![("B01", AwaitingClean)],
            vec![m("B01", Available), m("B01", Occupied)],
            Some(Some(visit(Admitted, Some("B01"), None))),
        ),
        (
            "A13 after staff cleaned the bed",
            event(CancelDischarge, None, None),
            Some(visit(Discharged, None, Some("B01"))),
            vec![("B01", Available)],
            vec![m("B01", Occupied)],
            Some(Some(visit(Admitted, Some("B01"), None))),
        ),
        (
            "A21 leave of absence: the bed stays held",
            event(LeaveOut, Some("B01"), None),
            Some(visit(Admitted, Some("B01"), None)),
            vec![("B01", Occupied)],
            vec![],
            Some(Some(visit(OnLeave, Some("B01"), None))),
        ),
        (
            "A22 back from leave",
            event(LeaveReturn, Some("B01"), None),
            Some(visit(OnLeave, Some("B01"), None)),
            vec![("B01", Occupied)],
            vec![],
            Some(Some(visit(Admitted, Some("B01"), None))),
        ),
        (
            "A40 merge: no bed change",
            event(Merge, None, None),
            None,
            vec![],
            vec![],
            None,
        ),
        (
            "Another ADT event is accepted and not used",
            event(Other, Some("B01"), None),
            None,
            vec![("B01", Available)],
            vec![],
            None,
        ),
    ];
    for (name, event, known, beds, expected, expected_visit) in rows {
        let decision = run(&event, known, &beds).unwrap_or_else(|e| panic!("{name}: refused: {e}"));
        assert_eq!(moves(&decision), expected, "{name}");
        let v1 = decision
            .visits
            .iter()
            .find(|(n, _)| n == "V1")
            .map(|(_, e)| e.clone());
        assert_eq!(v1, expected_visit, "{name}");
    }
}

#[test]
fn a17_swaps_two_beds_that_both_stay_occupied() {
    let mut swap = event(Trigger::Swap, Some("B02"), None);
    swap.other = Some((Some("V2".into()), Some(loc("B01"))));
    let decision = run(
        &swap,
        Some(visit(VisitStatus::Admitted, Some("B01"), None)),
        &[("B01", Occupied), ("B02", Occupied)],
    )
    .expect("swapped");
    assert_eq!(moves(&decision), vec![]);
    assert_eq!(
        decision.visits,
        vec![
            (
                "V1".to_string(),
                Some(visit(VisitStatus::Admitted, Some("B02"), None))
            ),
            (
                "V2".to_string(),
                Some(visit(VisitStatus::Admitted, Some("B01"), None))
            ),
        ]
    );
}

#[test]
fn a20_bed_status_follows_table_0116_and_the_shared_moves() {
    let status = |code: &str| {
        let mut e = event(Trigger::BedStatus, None, None);
        e.bed_status = Some((loc("B01"), code.into()));
        e
    };
    assert_eq!(
        moves(&run(&status("H"), None, &[("B01", Occupied)]).expect("ok")),
        vec![m("B01", AwaitingClean)]
    );
    assert_eq!(
        moves(&run(&status("U"), None, &[("B01", AwaitingClean)]).expect("ok")),
        vec![m("B01", Available)]
    );
    assert_eq!(
        moves(&run(&status("K"), None, &[("B01", Available)]).expect("ok")),
        vec![m("B01", Closed)]
    );
    assert_eq!(
        moves(&run(&status("O"), None, &[("B01", Available)]).expect("ok")),
        vec![m("B01", Occupied)]
    );
    // An occupied bed cannot be closed by a status message: noted, unchanged.
    let decision = run(&status("C"), None, &[("B01", Occupied)]).expect("ok");
    assert_eq!(moves(&decision), vec![]);
    assert_eq!(
        decision.notes,
        vec![
            "bed RWEAA/WD15/B01: a bed that is occupied cannot become closed; left as it is"
                .to_string()
        ]
    );
    assert_eq!(
        run(&status("Z"), None, &[("B01", Available)]),
        Err(Refusal::UnknownBedStatus("Z".into()))
    );
}

#[test]
fn precedence_the_feed_owns_occupancy_staff_own_cleaning_and_closures() {
    // Admitted into a bed staff closed: occupancy wins, and the reason says so.
    let decision = run(
        &event(Trigger::Admit, Some("B01"), None),
        None,
        &[("B01", Closed)],
    )
    .expect("ok");
    assert_eq!(
        moves(&decision),
        vec![m("B01", Available), m("B01", Occupied)]
    );
    assert!(
        decision.steps[0]
            .reason
            .contains("closed bed, so the closure is lifted")
    );
    // Admitted into a bed awaiting clean: filled, the reason says cleaning was not recorded.
    let decision = run(
        &event(Trigger::Admit, Some("B01"), None),
        None,
        &[("B01", AwaitingClean)],
    )
    .expect("ok");
    assert_eq!(
        moves(&decision),
        vec![m("B01", Available), m("B01", Occupied)]
    );
    assert!(
        decision.steps[0]
            .reason
            .contains("before its cleaning was recorded")
    );
    // A discharge from a bed staff already cleaned or closed leaves it as staff set it.
    for staff_state in [Available, Closed, AwaitingClean, Reserved] {
        let decision = run(
            &event(Trigger::Discharge, Some("B01"), None),
            None,
            &[("B01", staff_state)],
        )
        .expect("ok");
        assert_eq!(moves(&decision), vec![], "{staff_state}");
    }
}

#[test]
fn a_late_message_cannot_undo_a_newer_change() {
    // The bed changed at 10:00; a discharge that happened at 09:30 arrives late.
    let beds = |_: &BedKey| BedView {
        state: Some(Occupied),
        last_change: Some(datetime!(2026-01-15 10:00 UTC)),
    };
    let visits = |_: &str| Some(visit(VisitStatus::Admitted, Some("B01"), None));
    let decision = decide(
        &event(Trigger::Discharge, Some("B01"), None),
        &visits,
        &beds,
    )
    .expect("ok");
    assert_eq!(moves(&decision), vec![]);
    assert_eq!(
        decision.notes,
        vec!["bed RWEAA/WD15/B01 changed after this event; left as it is".to_string()]
    );
}

#[test]
fn a_message_stamped_to_the_second_or_minute_is_not_older_than_a_change_within_it() {
    // Staff opened the bed at 09:30:00.700; an admission stamped 09:30:00
    // (to the second) or 09:30 (to the minute) is not older than that.
    let beds = |_: &BedKey| BedView {
        state: Some(Available),
        last_change: Some(AT + time::Duration::milliseconds(700)),
    };
    let visits = |_: &str| None;
    let mut admit = event(Trigger::Admit, Some("B01"), None);
    assert_eq!(
        moves(&decide(&admit, &visits, &beds).expect("ok")),
        vec![m("B01", Occupied)]
    );
    admit.precision = time::Duration::minutes(1);
    let later = |_: &BedKey| BedView {
        state: Some(Available),
        last_change: Some(AT + time::Duration::seconds(59)),
    };
    assert_eq!(
        moves(&decide(&admit, &visits, &later).expect("ok")),
        vec![m("B01", Occupied)]
    );
    // A full minute later is newer: the message is late.
    let newer = |_: &BedKey| BedView {
        state: Some(Available),
        last_change: Some(AT + time::Duration::minutes(1)),
    };
    assert_eq!(moves(&decide(&admit, &visits, &newer).expect("ok")), vec![]);
}

#[test]
fn refusals() {
    assert_eq!(
        run(&event(Trigger::Admit, Some("B09"), None), None, &[]),
        Err(Refusal::BedNotOpen(key("B09")))
    );
    assert_eq!(
        run(&event(Trigger::Admit, Some("B09"), None), None, &[])
            .expect_err("refused")
            .to_string(),
        "bed RWEAA/WD15/B09 is not open in Patient Flow; open it or correct the location"
    );
    assert_eq!(
        run(&event(Trigger::Admit, None, None), None, &[]),
        Err(Refusal::NoLocation("an admission"))
    );
    assert_eq!(
        run(&event(Trigger::Transfer, None, None), None, &[]),
        Err(Refusal::NoLocation("a transfer"))
    );
    // A ward without a bed is accepted with no bed change.
    let mut ward_only = event(Trigger::Admit, None, None);
    ward_only.assigned = Some(MappedLocation {
        site: "RWEAA".into(),
        ward: "WD15".into(),
        bed: None,
    });
    assert_eq!(moves(&run(&ward_only, None, &[]).expect("ok")), vec![]);
}
