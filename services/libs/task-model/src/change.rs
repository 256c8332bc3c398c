//! The changes an item goes through, and who may make them.
//!
//! - A discharge task is created, given to another owner, given another due
//!   time or cancelled by the discharge coordinators of the organisation
//!   that manages the patient; they or its owner mark it done.
//! - A system-call action is created, given to another owner, given another
//!   due time or cancelled by a control-room lead; they or its owner mark it
//!   done.
//! - A discharge task is seen by the patient's coordinators and its owner;
//!   an action by whoever sees the control room and by its owner.
//!
//! Closing (done or cancelled) records who and when; a closed item does not
//! change again, and closing it the same way again changes nothing.

use pf_access::{Action, OdsCode, Principal};

use crate::item::{Item, ItemKind, ItemState, Owner};
use crate::text::{TextError, checked_text};

/// What a new item will be (its owner already resolved to a known person
/// or a registered team).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewItem {
    /// Task or action.
    pub kind: ItemKind,
    /// A discharge task's type code (empty for an action).
    pub task_type: String,
    /// What needs doing.
    pub text: String,
    /// Who does it.
    pub owner: Owner,
    /// By when, ms since the epoch.
    pub due_ms: i64,
    /// A discharge task's patient.
    pub discharge_id: String,
    /// The organisation managing that patient.
    pub managed_by: String,
    /// Whether the patient cannot leave until it is done.
    pub blocking: bool,
}

/// A change to an existing item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// Give it to another owner.
    Assign(Owner),
    /// Give it another due time (ms since the epoch).
    Due(i64),
    /// It is done; what was done, in words (may be empty).
    Done(String),
    /// It is no longer needed, and why.
    Cancel(String),
}

impl Change {
    /// The name of the change in the audit trail.
    pub fn action(&self) -> &'static str {
        match self {
            Change::Assign(_) => "item.assign",
            Change::Due(_) => "item.due",
            Change::Done(_) => "item.done",
            Change::Cancel(_) => "item.cancel",
        }
    }
}

/// Why a change was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChangeRefused {
    /// The caller may not make it.
    #[error("{0}")]
    Forbidden(String),
    /// A value breaks a rule.
    #[error(transparent)]
    Text(#[from] TextError),
    /// A value breaks a rule.
    #[error("{0}")]
    Invalid(String),
    /// It no longer fits the item.
    #[error("{0}")]
    Conflict(String),
}

/// What the caller may see of items.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Visibility {
    /// The item and every change it allows the caller.
    Visible,
    /// Nothing (not even that it exists).
    Hidden,
}

fn ods(code: &str) -> Option<OdsCode> {
    OdsCode::parse(code).ok()
}

fn manages(by: &Principal, managed_by: &str) -> bool {
    ods(managed_by).is_some_and(|ods| by.permits(&Action::ManagePatients { ods }).is_allowed())
}

fn owns(by: &Principal, item: &Item) -> bool {
    let organisation = by.organisation.as_ref().map(|o| o.as_str());
    item.owner.includes(&by.id, organisation)
}

/// Whether `by` may see `item`.
pub fn visibility(item: &Item, by: &Principal) -> Visibility {
    let sees = owns(by, item)
        || match item.kind {
            ItemKind::DischargeTask => manages(by, &item.managed_by),
            ItemKind::SystemAction => by.permits(&Action::ViewControlRoom).is_allowed(),
        };
    if sees {
        Visibility::Visible
    } else {
        Visibility::Hidden
    }
}

/// Whether `by` may create an item of `kind` for a patient managed by
/// `managed_by` (empty for an action); the refusal is a sentence.
pub fn may_create(kind: ItemKind, managed_by: &str, by: &Principal) -> Result<(), ChangeRefused> {
    match kind {
        ItemKind::DischargeTask => {
            let ods = ods(managed_by).ok_or_else(|| {
                ChangeRefused::Invalid(format!("`{managed_by}` is not an ODS code"))
            })?;
            by.permits(&Action::ManagePatients { ods })
                .require()
                .map(|_| ())
                .map_err(|r| ChangeRefused::Forbidden(r.reason))
        }
        ItemKind::SystemAction => by
            .permits(&Action::RecordSystemActions)
            .require()
            .map(|_| ())
            .map_err(|r| ChangeRefused::Forbidden(r.reason)),
    }
}

/// Whether `by` may make `change` to `item`.
pub fn may_change(item: &Item, change: &Change, by: &Principal) -> Result<(), ChangeRefused> {
    let manager = match item.kind {
        ItemKind::DischargeTask => manages(by, &item.managed_by),
        ItemKind::SystemAction => by.permits(&Action::RecordSystemActions).is_allowed(),
    };
    if manager || (matches!(change, Change::Done(_)) && owns(by, item)) {
        return Ok(());
    }
    let who = match item.kind {
        ItemKind::DischargeTask => format!(
            "the discharge coordinators of {} (the patient's organisation)",
            item.managed_by
        ),
        ItemKind::SystemAction => "a control-room lead".to_owned(),
    };
    Err(ChangeRefused::Forbidden(match change {
        Change::Done(_) => format!(
            "Only {who} or its owner, {}, can mark this done.",
            item.owner.display
        ),
        _ => format!("Only {who} can change or cancel this."),
    }))
}

/// The first record of a new item with id `item_id`, made by `by_id` at
/// `now_ms`; its text is checked.
pub fn create(
    new: NewItem,
    item_id: String,
    by_id: &str,
    now_ms: i64,
) -> Result<Item, ChangeRefused> {
    let text = checked_text(
        "what needs doing",
        &new.text,
        new.kind == ItemKind::DischargeTask,
    )?;
    if new.due_ms <= 0 {
        return Err(ChangeRefused::Invalid("say by when it is due".to_owned()));
    }
    Ok(Item {
        item_id,
        kind: new.kind,
        task_type: new.task_type,
        text,
        owner: new.owner,
        due_ms: new.due_ms,
        state: ItemState::Open,
        discharge_id: new.discharge_id,
        managed_by: new.managed_by,
        blocking: new.blocking,
        created_by: by_id.to_owned(),
        created_ms: now_ms,
        closed_by: String::new(),
        closed_ms: 0,
        closing_note: String::new(),
    })
}

/// The item after `change` by `by_id` at `now_ms`: `Ok(None)` when it is
/// already so (nothing to store).
pub fn apply(
    item: &Item,
    change: &Change,
    by_id: &str,
    now_ms: i64,
) -> Result<Option<Item>, ChangeRefused> {
    let closed = |state: ItemState| match state {
        ItemState::Open => None,
        ItemState::Done => Some("done"),
        ItemState::Cancelled => Some("cancelled"),
    };
    match (change, item.state) {
        (Change::Done(_), ItemState::Done) | (Change::Cancel(_), ItemState::Cancelled) => {
            return Ok(None);
        }
        (_, state) if state != ItemState::Open => {
            return Err(ChangeRefused::Conflict(format!(
                "This is already {} and cannot change any more.",
                closed(state).unwrap_or("closed")
            )));
        }
        _ => {}
    }
    let mut next = item.clone();
    match change {
        Change::Assign(owner) => {
            if *owner == item.owner {
                return Ok(None);
            }
            next.owner = owner.clone();
        }
        Change::Due(due_ms) => {
            if *due_ms <= 0 {
                return Err(ChangeRefused::Invalid("say by when it is due".to_owned()));
            }
            if *due_ms == item.due_ms {
                return Ok(None);
            }
            next.due_ms = *due_ms;
        }
        Change::Done(note) | Change::Cancel(note) => {
            next.closing_note = checked_text("the note", note, true)?;
            next.state = if matches!(change, Change::Done(_)) {
                ItemState::Done
            } else {
                ItemState::Cancelled
            };
            next.closed_by = by_id.to_owned();
            next.closed_ms = now_ms;
        }
    }
    Ok(Some(next))
}

#[cfg(test)]
mod tests {
    use super::*;
    use pf_access::{Grant, OrgId, Role};

    fn person(id: &str, org: &str, role: Role, orgs: &[&str]) -> Principal {
        Principal::person(id, id, OrgId::parse(org).ok())
            .with_grant(Grant::parse(role, orgs).expect("grant"))
    }

    fn owner_team(org: &str) -> Owner {
        Owner {
            organisation: org.into(),
            person: None,
            team: Some("Hub".into()),
            display: format!("Hub ({org})"),
        }
    }

    fn task() -> Item {
        create(
            NewItem {
                kind: ItemKind::DischargeTask,
                task_type: "transport".into(),
                text: "Book transport".into(),
                owner: owner_team("RT5"),
                due_ms: 2_000,
                discharge_id: "d1".into(),
                managed_by: "RWE".into(),
                blocking: true,
            },
            "0189-1".into(),
            "coord",
            1_000,
        )
        .expect("valid")
    }

    #[test]
    fn who_may_see_and_change_a_discharge_task() {
        let item = task();
        let coordinator = person("c", "RWE", Role::DischargeCoordinator, &["RWE"]);
        let other_trust = person("o", "RT9", Role::DischargeCoordinator, &["RT9"]);
        let hub = person("h", "RT5", Role::DischargeCoordinator, &["RT5"]);
        let viewer = person("v", "QK1", Role::ControlRoomViewer, &[]);
        assert_eq!(visibility(&item, &coordinator), Visibility::Visible);
        assert_eq!(visibility(&item, &hub), Visibility::Visible);
        assert_eq!(visibility(&item, &other_trust), Visibility::Hidden);
        assert_eq!(visibility(&item, &viewer), Visibility::Hidden);
        let cancel = Change::Cancel(String::new());
        let done = Change::Done(String::new());
        assert!(may_change(&item, &cancel, &coordinator).is_ok());
        assert!(may_change(&item, &done, &hub).is_ok());
        assert!(matches!(
            may_change(&item, &cancel, &hub),
            Err(ChangeRefused::Forbidden(_))
        ));
        assert!(matches!(
            may_change(&item, &done, &other_trust),
            Err(ChangeRefused::Forbidden(_))
        ));
    }

    #[test]
    fn who_may_see_and_change_an_action() {
        let lead = person("l", "QK1", Role::ControlRoomLead, &[]);
        let viewer = person("v", "QK1", Role::ControlRoomViewer, &[]);
        let owner = Principal::person("p", "p", OrgId::parse("RT5").ok());
        assert!(may_create(ItemKind::SystemAction, "", &lead).is_ok());
        assert!(may_create(ItemKind::SystemAction, "", &viewer).is_err());
        let mut new = task();
        new.kind = ItemKind::SystemAction;
        assert_eq!(visibility(&new, &viewer), Visibility::Visible);
        assert_eq!(visibility(&new, &owner), Visibility::Visible);
        assert!(may_change(&new, &Change::Due(5), &viewer).is_err());
        assert!(may_change(&new, &Change::Due(5), &lead).is_ok());
        assert!(may_change(&new, &Change::Done(String::new()), &owner).is_ok());
    }

    #[test]
    fn closing_records_who_and_when_once() {
        let item = task();
        let done = apply(&item, &Change::Done("Booked for 2pm".into()), "h", 3_000)
            .expect("ok")
            .expect("changed");
        assert_eq!(
            (done.state, done.closed_by.as_str(), done.closed_ms),
            (ItemState::Done, "h", 3_000)
        );
        assert_eq!(
            apply(&done, &Change::Done(String::new()), "x", 4_000),
            Ok(None)
        );
        assert!(matches!(
            apply(&done, &Change::Cancel(String::new()), "x", 4_000),
            Err(ChangeRefused::Conflict(_))
        ));
    }

    #[test]
    fn identifying_text_is_refused() {
        let mut new = NewItem {
            kind: ItemKind::SystemAction,
            task_type: String::new(),
            text: "Chase bed for 943 476 5919".into(),
            owner: owner_team("RT5"),
            due_ms: 2,
            discharge_id: String::new(),
            managed_by: String::new(),
            blocking: false,
        };
        assert!(matches!(
            create(new.clone(), "i".into(), "l", 1),
            Err(ChangeRefused::Text(TextError::Identifying { .. }))
        ));
        new.text = String::new();
        assert!(matches!(
            create(new, "i".into(), "l", 1),
            Err(ChangeRefused::Text(TextError::Empty(_)))
        ));
    }
}
