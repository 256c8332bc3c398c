//! An item: a discharge task or a system-call action.

use pf_proto::envelope::{timestamp, unix_millis};
use pf_proto::v1;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// What an item is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ItemKind {
    /// A task for one patient waiting for discharge.
    DischargeTask,
    /// An action agreed on the system call.
    SystemAction,
}

/// Where an item stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ItemState {
    /// Still to do.
    Open,
    /// Done.
    Done,
    /// No longer needed.
    Cancelled,
}

/// Who an item is for: a person known to sign-in, or a named team of an
/// organisation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Owner {
    /// The owner's organisation (ODS code).
    pub organisation: String,
    /// A person's sign-in id (`None`: a team).
    pub person: Option<String>,
    /// A team's name from the organisation's register (`None`: a person).
    pub team: Option<String>,
    /// How people read it.
    pub display: String,
}

impl Owner {
    /// Whether a signed-in person with `id`, acting for `organisation`, is
    /// this owner or a member of its organisation.
    pub fn includes(&self, id: &str, organisation: Option<&str>) -> bool {
        self.person.as_deref() == Some(id)
            || (self.person.is_none() && organisation == Some(self.organisation.as_str()))
    }
}

/// An item's whole record, as every item event carries it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Item {
    /// UUIDv7.
    pub item_id: String,
    /// Task or action.
    pub kind: ItemKind,
    /// A discharge task's type code (empty for an action).
    pub task_type: String,
    /// What needs doing, in words.
    pub text: String,
    /// Who does it.
    pub owner: Owner,
    /// By when, ms since the epoch.
    pub due_ms: i64,
    /// Where it stands.
    pub state: ItemState,
    /// A discharge task's patient (empty for an action).
    pub discharge_id: String,
    /// The organisation managing that patient (empty for an action).
    pub managed_by: String,
    /// Whether the patient cannot leave until it is done.
    pub blocking: bool,
    /// Who recorded it.
    pub created_by: String,
    /// When, ms since the epoch.
    pub created_ms: i64,
    /// Who closed it (empty while open).
    pub closed_by: String,
    /// When, ms since the epoch (0 while open).
    pub closed_ms: i64,
    /// What was done or why it was cancelled.
    pub closing_note: String,
}

/// A stored record that cannot be read back.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("item {id}: {field} is not valid")]
pub struct RecordError {
    /// The item.
    pub id: String,
    /// Which field.
    pub field: &'static str,
}

fn millis_to_ts(ms: i64) -> Option<prost_types::Timestamp> {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .map(timestamp)
}

impl Item {
    /// Whether it is open and past its due time at `now_ms`.
    pub fn overdue(&self, now_ms: i64) -> bool {
        self.state == ItemState::Open && self.due_ms < now_ms
    }

    /// The record as events carry it.
    pub fn to_proto(&self) -> v1::Item {
        v1::Item {
            item_id: self.item_id.clone(),
            kind: match self.kind {
                ItemKind::DischargeTask => v1::ItemKind::DischargeTask,
                ItemKind::SystemAction => v1::ItemKind::SystemAction,
            } as i32,
            task_type: self.task_type.clone(),
            text: self.text.clone(),
            owner: Some(owner_to_proto(&self.owner)),
            due: millis_to_ts(self.due_ms),
            state: match self.state {
                ItemState::Open => v1::ItemState::Open,
                ItemState::Done => v1::ItemState::Done,
                ItemState::Cancelled => v1::ItemState::Cancelled,
            } as i32,
            discharge_id: self.discharge_id.clone(),
            managed_by: self.managed_by.clone(),
            blocking: self.blocking,
            created_by: self.created_by.clone(),
            created_at: millis_to_ts(self.created_ms),
            closed_by: self.closed_by.clone(),
            closed_at: (self.closed_ms != 0)
                .then(|| millis_to_ts(self.closed_ms))
                .flatten(),
            closing_note: self.closing_note.clone(),
        }
    }

    /// Reads the record an event carries, checking what every reader
    /// relies on.
    pub fn from_proto(item: &v1::Item) -> Result<Self, RecordError> {
        let bad = |field| RecordError {
            id: item.item_id.clone(),
            field,
        };
        if item.item_id.is_empty()
            || !item
                .item_id
                .chars()
                .all(|c| c.is_ascii_hexdigit() || c == '-')
        {
            return Err(bad("item_id"));
        }
        let kind = match v1::ItemKind::try_from(item.kind) {
            Ok(v1::ItemKind::DischargeTask) => ItemKind::DischargeTask,
            Ok(v1::ItemKind::SystemAction) => ItemKind::SystemAction,
            _ => return Err(bad("kind")),
        };
        let state = match v1::ItemState::try_from(item.state) {
            Ok(v1::ItemState::Open) => ItemState::Open,
            Ok(v1::ItemState::Done) => ItemState::Done,
            Ok(v1::ItemState::Cancelled) => ItemState::Cancelled,
            _ => return Err(bad("state")),
        };
        let owner = item.owner.as_ref().ok_or_else(|| bad("owner"))?;
        if owner.organisation.is_empty() || (owner.person.is_empty() == owner.team.is_empty()) {
            return Err(bad("owner"));
        }
        if kind == ItemKind::DischargeTask
            && (item.discharge_id.is_empty() || item.managed_by.is_empty())
        {
            return Err(bad("discharge_id"));
        }
        if item.due.is_none() {
            return Err(bad("due"));
        }
        Ok(Self {
            item_id: item.item_id.clone(),
            kind,
            task_type: item.task_type.clone(),
            text: item.text.clone(),
            owner: Owner {
                organisation: owner.organisation.clone(),
                person: (!owner.person.is_empty()).then(|| owner.person.clone()),
                team: (!owner.team.is_empty()).then(|| owner.team.clone()),
                display: owner.display.clone(),
            },
            due_ms: unix_millis(item.due.as_ref()),
            state,
            discharge_id: item.discharge_id.clone(),
            managed_by: item.managed_by.clone(),
            blocking: item.blocking,
            created_by: item.created_by.clone(),
            created_ms: unix_millis(item.created_at.as_ref()),
            closed_by: item.closed_by.clone(),
            closed_ms: unix_millis(item.closed_at.as_ref()),
            closing_note: item.closing_note.clone(),
        })
    }
}

/// An owner as events carry it.
pub fn owner_to_proto(owner: &Owner) -> v1::Owner {
    v1::Owner {
        organisation: owner.organisation.clone(),
        person: owner.person.clone().unwrap_or_default(),
        team: owner.team.clone().unwrap_or_default(),
        display: owner.display.clone(),
    }
}

/// The item record in an item event's payload (`None`: not an item event).
pub fn item_in(payload: &v1::event_envelope::Payload) -> Option<Option<&v1::Item>> {
    use v1::event_envelope::Payload;
    match payload {
        Payload::ItemCreated(e) => Some(e.item.as_ref()),
        Payload::ItemAssigned(e) => Some(e.item.as_ref()),
        Payload::ItemDueChanged(e) => Some(e.item.as_ref()),
        Payload::ItemDone(e) => Some(e.item.as_ref()),
        Payload::ItemCancelled(e) => Some(e.item.as_ref()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn action() -> Item {
        Item {
            item_id: "01890a5d-ac96-774b-bcce-b302099a8057".into(),
            kind: ItemKind::SystemAction,
            task_type: String::new(),
            text: "Open 4 escalation beds".into(),
            owner: Owner {
                organisation: "RWE".into(),
                person: None,
                team: Some("Site team".into()),
                display: "Site team (RWE)".into(),
            },
            due_ms: 1_700_000_000_000,
            state: ItemState::Open,
            discharge_id: String::new(),
            managed_by: String::new(),
            blocking: false,
            created_by: "lead".into(),
            created_ms: 1_699_999_000_000,
            closed_by: String::new(),
            closed_ms: 0,
            closing_note: String::new(),
        }
    }

    #[test]
    fn round_trips_through_the_event_record() {
        let item = action();
        assert_eq!(Item::from_proto(&item.to_proto()), Ok(item));
    }

    #[test]
    fn overdue_only_while_open_and_past_due() {
        let mut item = action();
        assert!(!item.overdue(item.due_ms));
        assert!(item.overdue(item.due_ms + 1));
        item.state = ItemState::Done;
        assert!(!item.overdue(item.due_ms + 1));
    }

    #[test]
    fn a_team_owner_includes_its_organisation_a_person_only_themself() {
        let item = action();
        assert!(item.owner.includes("anyone", Some("RWE")));
        assert!(!item.owner.includes("anyone", Some("RT5")));
        let person = Owner {
            organisation: "RWE".into(),
            person: Some("p1".into()),
            team: None,
            display: "P One".into(),
        };
        assert!(person.includes("p1", Some("RT5")));
        assert!(!person.includes("p2", Some("RWE")));
    }
}
