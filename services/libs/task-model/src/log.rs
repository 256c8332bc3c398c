//! The day's system-call actions as a log: one CSV row per action, with who
//! recorded it, who owns it, by when, where it stands and who closed it.

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::item::{Item, ItemState};

/// The log's columns.
pub const COLUMNS: [&str; 10] = [
    "item_id",
    "recorded_at",
    "recorded_by",
    "action",
    "owner",
    "owner_organisation",
    "due",
    "state",
    "closed_by",
    "closed_at",
];

fn time(ms: i64) -> String {
    if ms == 0 {
        return String::new();
    }
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_default()
}

/// Could not write the log.
#[derive(Debug, thiserror::Error)]
#[error("could not write the actions log: {0}")]
pub struct LogError(String);

/// `actions` as CSV, with a header row. Cells that a spreadsheet would
/// read as a formula are quoted with a leading `'`.
pub fn csv(actions: &[Item]) -> Result<String, LogError> {
    let mut writer = csv::Writer::from_writer(Vec::new());
    writer
        .write_record(COLUMNS)
        .map_err(|e| LogError(e.to_string()))?;
    for item in actions {
        let state = match item.state {
            ItemState::Open => "open",
            ItemState::Done => "done",
            ItemState::Cancelled => "cancelled",
        };
        let row = [
            item.item_id.clone(),
            time(item.created_ms),
            item.created_by.clone(),
            item.text.clone(),
            item.owner.display.clone(),
            item.owner.organisation.clone(),
            time(item.due_ms),
            state.to_owned(),
            item.closed_by.clone(),
            time(item.closed_ms),
        ];
        writer
            .write_record(row.iter().map(|cell| safe(cell)))
            .map_err(|e| LogError(e.to_string()))?;
    }
    let bytes = writer.into_inner().map_err(|e| LogError(e.to_string()))?;
    String::from_utf8(bytes).map_err(|e| LogError(e.to_string()))
}

/// A cell a spreadsheet will not run as a formula.
fn safe(cell: &str) -> String {
    if cell.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{cell}")
    } else {
        cell.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::item::{ItemKind, Owner};

    #[test]
    fn one_row_per_action_with_formulas_defused() {
        let item = Item {
            item_id: "i1".into(),
            kind: ItemKind::SystemAction,
            task_type: String::new(),
            text: "=HYPERLINK(\"x\")".into(),
            owner: Owner {
                organisation: "RWE".into(),
                person: None,
                team: Some("Site".into()),
                display: "Site (RWE)".into(),
            },
            due_ms: 1_700_000_000_000,
            state: ItemState::Done,
            discharge_id: String::new(),
            managed_by: String::new(),
            blocking: false,
            created_by: "lead".into(),
            created_ms: 1_699_990_000_000,
            closed_by: "site-manager".into(),
            closed_ms: 1_700_000_100_000,
            closing_note: String::new(),
        };
        let text = csv(&[item]).expect("csv");
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2);
        assert!(lines[0].starts_with("item_id,recorded_at"));
        assert!(lines[1].contains("'=HYPERLINK"), "{}", lines[1]);
        assert!(
            lines[1].contains(",done,site-manager,2023-11-14T"),
            "{}",
            lines[1]
        );
    }
}
