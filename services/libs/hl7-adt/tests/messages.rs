//! Parsing realistic messages in the styles of three PAS/EPR vendors, and
//! hostile input.

use pf_hl7_adt::message::{NhsNumberField, Trigger, parse};
use proptest::prelude::*;
use time::macros::datetime;

/// Epic style: 2.5.1, `\r`, ward^room^bed^facility, several PID-3 repeats,
/// a Z-segment, escapes in the name.
const EPIC_A02: &str = "MSH|^~\\&|EPIC|RWE|PATIENTFLOW|PF|20260329023000||ADT^A02^ADT_A02|EP100234|P|2.5.1\rEVN|A02|20260329023000|||LJONES^Jones^Lucy|20260329022500\rPID|1||E1234567^^^EPI^MR~9990000018^^^NHS^NH||O\\S\\Brien^Zoë||19500101|F\rPV1|1|I|WD16^BAY2^B04^RWEAA^^^^^Ward 16|||WD15^BAY1^B03^RWEAA|||||||||||||V100234|||||||||||||||||||||||||20260328100000\rZPV|local|stuff\r";

/// Cerner/Oracle style: 2.3, `\n` segment ends, the ward in PV1-3.9, the
/// NHS number with type HN, an invalid second NHS-like id ignored.
const CERNER_A01: &str = "MSH|^~\\&|CERNER|RWE|PF|PF|202601150930||ADT^A01|CER-77|P|2.3\nEVN|A01|202601150930\nPID|1||MRN555^^^RWE^MR~9990000026^^^NHS^HN||SMITH^JOHN\nPV1|1|I|^^B07^RWEAA^^^^^WD15||||||||||||||||CV555\nAL1|1||PENICILLIN\n";

/// System C CareFlow style: 2.4, `\r\n`, ODS codes in PV1-3.4 and 3.11,
/// discharge disposition and destination.
const CAREFLOW_A03: &str = "MSH|^~\\&|CAREFLOW|RT5|PF|PF|20261025013000||ADT^A03|CF-9|P|2.4\r\nEVN|A03|20261025013000\r\nPID|1||1234^^^RT5^PI~9990000034^^^NHS^NH\r\nPV1|1|I|WD01^^B02^RT5KA^^^^^^^RT5||||||||||||||||CFV9|||||||||||||||||01^Usual residence|54^Care home|||||||20261020090000|20261025013000\r\n";

#[test]
fn an_epic_transfer() {
    let m = parse(EPIC_A02.as_bytes()).expect("parses");
    assert_eq!(m.trigger, Trigger::Transfer);
    assert_eq!(m.header.sending_application, "EPIC");
    assert_eq!(m.header.control_id, "EP100234");
    assert_eq!(m.header.version, "2.5.1");
    // EVN-6 on the spring changeover day: 02:25 BST.
    assert_eq!(m.occurred_at, Some(datetime!(2026-03-29 01:25 UTC)));
    assert_eq!(m.event_time(), Some(datetime!(2026-03-29 01:25 UTC)));
    let patient = &m.patients[0];
    assert!(matches!(&patient.nhs_number, NhsNumberField::Valid(n) if n.as_str() == "9990000018"));
    assert_eq!(patient.identifiers.len(), 1);
    let visit = m.visit().expect("PV1");
    let to = visit.assigned.as_ref().expect("PV1-3");
    assert_eq!(
        (
            to.point_of_care.as_str(),
            to.room.as_str(),
            to.bed.as_str(),
            to.facility.as_str()
        ),
        ("WD16", "BAY2", "B04", "RWEAA")
    );
    assert_eq!(visit.prior.as_ref().map(|p| p.bed.as_str()), Some("B03"));
    assert_eq!(visit.visit_number.as_deref(), Some("V100234"));
    assert_eq!(visit.admitted_at, Some(datetime!(2026-03-28 10:00 UTC)));
}

#[test]
fn a_cerner_admission_with_newlines_and_the_ward_in_the_description() {
    let m = parse(CERNER_A01.as_bytes()).expect("parses");
    assert_eq!(m.trigger, Trigger::Admit);
    assert_eq!(m.header.version, "2.3");
    assert_eq!(m.header.message_time, Some(datetime!(2026-01-15 09:30 UTC)));
    let location = m.visit().and_then(|v| v.assigned.clone()).expect("PV1-3");
    assert_eq!(location.point_of_care, "");
    assert_eq!(location.description, "WD15");
    assert_eq!(location.bed, "B07");
    assert!(matches!(m.patients[0].nhs_number, NhsNumberField::Valid(_)));
}

#[test]
fn a_careflow_discharge_with_crlf_and_ods_codes() {
    let m = parse(CAREFLOW_A03.as_bytes()).expect("parses");
    assert_eq!(m.trigger, Trigger::Discharge);
    let visit = m.visit().expect("PV1");
    let location = visit.assigned.as_ref().expect("PV1-3");
    assert_eq!(location.authority, "RT5");
    assert_eq!(visit.discharge_disposition.as_deref(), Some("01"));
    assert_eq!(visit.discharged_to.as_deref(), Some("54"));
    // 01:30 on the autumn changeover day happens twice: the first, BST.
    assert_eq!(visit.discharged_at, Some(datetime!(2026-10-25 00:30 UTC)));
}

#[test]
fn an_invalid_nhs_number_is_not_used_and_never_shown() {
    let text = CERNER_A01.replace("9990000026", "9990000027");
    let m = parse(text.as_bytes()).expect("parses");
    assert_eq!(m.patients[0].nhs_number, NhsNumberField::Invalid);
    // An NHS number under another authority or type is not one.
    let text = CERNER_A01.replace("^NHS^HN", "^RWE^HN");
    let m = parse(text.as_bytes()).expect("parses");
    assert_eq!(m.patients[0].nhs_number, NhsNumberField::Absent);
    let m = parse(EPIC_A02.as_bytes()).expect("parses");
    assert!(!format!("{m:?}").contains("9990000018"));
}

#[test]
fn a_swap_has_two_patients_and_a_bed_status_its_npu() {
    let swap = "MSH|^~\\&|EPIC|RWE|PF|PF|20260115093000||ADT^A17|S1|P|2.5\rEVN|A17|20260115093000\rPID|1||A^^^RWE^MR\rPV1|1|I|WD15^^B02^RWEAA||||||||||||||||V1\rPID|2||B^^^RWE^MR\rPV1|1|I|WD15^^B01^RWEAA||||||||||||||||V2\r";
    let m = parse(swap.as_bytes()).expect("parses");
    assert_eq!(m.patients.len(), 2);
    assert_eq!(
        m.patients[1]
            .visit
            .as_ref()
            .and_then(|v| v.visit_number.as_deref()),
        Some("V2")
    );
    let one_half = swap.split("PID|2").next().expect("first half");
    assert!(parse(one_half.as_bytes()).is_err());
    let a20 = "MSH|^~\\&|EPIC|RWE|PF|PF|20260115093000||ADT^A20|S2|P|2.5\rEVN|A20|20260115093000\rNPU|WD15^^B02^RWEAA|H\r";
    let m = parse(a20.as_bytes()).expect("parses");
    assert_eq!(m.bed_status.as_ref().map(|b| b.status.as_str()), Some("H"));
}

#[test]
fn refusals_say_what_is_wrong() {
    let cases: [(&[u8], &str); 7] = [
        (
            b"hello",
            "the message is not HL7 v2: it does not start with an MSH segment",
        ),
        (
            b"MSH|^~\\&|A|B|C|D|20260101||ORU^R01|1|P|2.5\rPID|1\r",
            "message type ORU is not accepted here: only ADT messages are",
        ),
        (
            b"MSH|^~\\&|A|B|C|D|20260101||ADT^A01||P|2.5\rPID|1\r",
            "MSH-10 (message control id) is missing",
        ),
        (
            b"MSH|^~\\&|A|B|C|D|20260101||ADT^A01|1|P|2.5\rEVN|A01|tuesday\rPID|1\r",
            "EVN-2 is not valid: `tuesday` is not an HL7 date and time like 20261130091500",
        ),
        (
            b"MSH|^~\\&|A|B|C|D|20260101||ADT^A01|1|P|2.5\rEVN|A01\r",
            "PID segment is missing",
        ),
        (
            b"MSH|^~\\&|A|B|C|D|20260101||ADT^A01|1|P|2.5\rPV1|1|I\r",
            "PV1 is not valid: a PV1 segment must follow its own PID segment",
        ),
        (
            &[0x4d, 0x53, 0x48, 0xff, 0xfe],
            "the message is not text (UTF-8)",
        ),
    ];
    for (bytes, reason) in cases {
        assert_eq!(parse(bytes).expect_err("refused").to_string(), reason);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        let _ = parse(&bytes);
    }

    #[test]
    fn mangled_real_messages_never_panic(
        cut in 0usize..400,
        insert in "[|^~\\\\&\r\nA-Z0-9]{0,12}",
        at in 0usize..400,
    ) {
        for original in [EPIC_A02, CERNER_A01, CAREFLOW_A03] {
            let mut text: String = original.chars().take(cut.min(original.chars().count())).collect();
            let at = at.min(text.chars().count());
            let byte_at = text.char_indices().nth(at).map_or(text.len(), |(i, _)| i);
            text.insert_str(byte_at, &insert);
            let _ = parse(text.as_bytes());
        }
    }
}

#[test]
fn a_broken_line_in_pid_never_puts_the_nhs_number_in_the_reason() {
    // An engine that wrapped a long PID line: the NHS number starts a line.
    for wrapped in [
        "9990000018^^^NHS^NH||SMITH",
        "9990000018|^^^NHS^NH",
        "999|0000018",
        "NH9990000018|x",
    ] {
        let text = format!(
            "MSH|^~\\&|EPIC|RWE|PF|PF|20260115093000||ADT^A01|B1|P|2.5\rEVN|A01|20260115093000\rPID|1||E1^^^EPI^MR~\n{wrapped}\rPV1|1|I|WD15^^B01^RWEAA\r"
        );
        let refused = parse(text.as_bytes()).expect_err("refused");
        assert!(!refused.to_string().contains("0000018"), "{refused}");
    }
}
