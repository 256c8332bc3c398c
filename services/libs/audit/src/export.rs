//! Exporting audit records as CSV (for spreadsheets) and JSON.
//!
//! CSV cells are quoted by the `csv` writer. Spreadsheets run a cell that
//! starts with `=`, `+`, `-` or `@` (or a tab or carriage return) as a
//! formula, so such cells get a leading `'` (OWASP's advice against CSV
//! injection): an actor id or refusal reason cannot become a formula on an
//! administrator's machine.

use time::format_description::well_known::Rfc3339;

use crate::record::{ActorKind, AuditRecord, Outcome};

/// The CSV header row, one column per field.
pub const CSV_HEADER: [&str; 15] = [
    "id",
    "at",
    "actor_id",
    "actor_organisation",
    "actor_kind",
    "action",
    "entity",
    "outcome",
    "reason",
    "source_ip",
    "source_user_agent",
    "source_service",
    "request_id",
    "event_id",
    "repeated",
];

/// `records` as CSV: a header row, then one row per record.
pub fn to_csv(records: &[AuditRecord]) -> String {
    let mut writer = csv::Writer::from_writer(Vec::new());
    // Writing to a Vec<u8> cannot fail: no I/O happens.
    let _ = writer.write_record(CSV_HEADER);
    for record in records {
        let _ = writer.write_record(row(record).iter().map(|cell| guard_formula(cell)));
    }
    let bytes = writer
        .into_inner()
        .unwrap_or_else(|e| e.into_inner().get_ref().clone());
    String::from_utf8_lossy(&bytes).into_owned()
}

/// `records` as a JSON array, in the stored record format.
pub fn to_json(records: &[AuditRecord]) -> String {
    // Records hold only strings, enums and a timestamp: they always serialise.
    serde_json::to_string(records).unwrap_or_else(|_| "[]".to_owned())
}

fn row(record: &AuditRecord) -> [String; 15] {
    let (outcome, reason) = match &record.outcome {
        Outcome::Attempted => ("attempted", String::new()),
        Outcome::Accepted => ("accepted", String::new()),
        Outcome::Refused { reason } => ("refused", reason.clone()),
    };
    let kind = match record.actor.kind {
        ActorKind::Person => "person",
        ActorKind::Machine => "machine",
        ActorKind::Anonymous => "anonymous",
    };
    let optional = |value: &Option<String>| value.clone().unwrap_or_default();
    [
        record.id.clone(),
        record.at.format(&Rfc3339).unwrap_or_default(),
        record.actor.id.clone(),
        record.actor.organisation.clone(),
        kind.to_owned(),
        record.action.clone(),
        record.entity.clone(),
        outcome.to_owned(),
        reason,
        optional(&record.source.ip),
        optional(&record.source.user_agent),
        record.source.service.clone(),
        optional(&record.request_id),
        optional(&record.event_id),
        record.repeated.map(|n| n.to_string()).unwrap_or_default(),
    ]
}

/// The cell with a leading `'` when a spreadsheet would run it as a formula.
fn guard_formula(cell: &str) -> String {
    match cell.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => format!("'{cell}"),
        _ => cell.to_owned(),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::record::{AuditActor, AuditSource};

    fn refused(actor: &str, reason: &str) -> AuditRecord {
        AuditRecord::refused(
            AuditActor::person(actor, "1-123456789"),
            "care_home.vacancies_updated",
            "care_home/1-123456789",
            reason,
            AuditSource::new(
                "care-home",
                Some("192.0.2.1".into()),
                Some("Firefox".into()),
            ),
        )
    }

    #[test]
    fn csv_has_a_header_and_quotes_awkward_cells() {
        let csv = to_csv(&[refused("jo", "home is \"closed\", outbreak\nsince Monday")]);
        let mut lines = csv.lines();
        assert_eq!(lines.next(), Some(CSV_HEADER.join(",").as_str()));
        assert!(
            csv.contains("\"home is \"\"closed\"\", outbreak\nsince Monday\""),
            "{csv}"
        );
        let mut reader = csv::Reader::from_reader(csv.as_bytes());
        let rows: Vec<csv::StringRecord> = reader.records().map(|r| r.unwrap()).collect();
        assert_eq!(rows.len(), 1);
        assert_eq!(&rows[0][8], "home is \"closed\", outbreak\nsince Monday");
        assert_eq!(&rows[0][7], "refused");
    }

    #[test]
    fn csv_cells_cannot_become_formulas() {
        let csv = to_csv(&[
            refused("=HYPERLINK(\"http://x\")", "+1"),
            refused("@SUM(A1)", "-2"),
        ]);
        let mut reader = csv::Reader::from_reader(csv.as_bytes());
        let rows: Vec<csv::StringRecord> = reader.records().map(|r| r.unwrap()).collect();
        assert_eq!(&rows[0][2], "'=HYPERLINK(\"http://x\")");
        assert_eq!(&rows[0][8], "'+1");
        assert_eq!(&rows[1][2], "'@SUM(A1)");
        assert_eq!(&rows[1][8], "'-2");
        assert_eq!(&rows[1][3], "1-123456789", "only leading characters count");
    }

    #[test]
    fn json_round_trips() {
        let records = vec![refused("jo", "no"), refused("al", "no")];
        let back: Vec<AuditRecord> = serde_json::from_str(&to_json(&records)).unwrap();
        assert_eq!(back, records);
    }
}
