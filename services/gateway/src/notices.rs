//! Notifications for discharge coordinators: what changed, never who.
//!
//! Each batch of changes the hub folds in becomes a few notices (a
//! discharge's new status, a hold's new state, "care-home figures
//! changed"), broadcast on a bounded channel of their own. Each
//! `/ws/discharges` client passes on only those of its organisations; the
//! page then re-reads what it shows from the discharges service, which
//! checks access again.

use std::collections::{BTreeMap, BTreeSet};

use pf_care_home_model::{Hold, HoldState};
use serde::Serialize;

use crate::control_room::{ControlRoom, Touched};

/// One notification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notice {
    /// A discharge changed.
    Discharge {
        /// Its id (opaque).
        discharge_id: String,
        /// Its status word.
        status: &'static str,
        /// The organisation managing the patient (for filtering; not sent).
        managed_by: String,
    },
    /// A hold at a home changed or ended.
    Hold {
        /// The discharge it is for.
        discharge_id: String,
        /// The hold.
        hold_id: String,
        /// `requested`, `accepted` or `ended`.
        state: &'static str,
        /// The home.
        cqc: String,
        /// The organisation that held it (for filtering; not sent).
        held_by_organisation: String,
    },
    /// Some home's figures changed: open searches should refresh.
    CareHomes,
    /// Notices were missed (the model was replaced): re-read everything.
    Resync,
}

/// What a client is sent.
#[derive(Debug, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Message<'a> {
    /// `{"type":"discharge","discharge_id","status"}`.
    Discharge {
        /// Discharge id.
        discharge_id: &'a str,
        /// Status word.
        status: &'a str,
    },
    /// `{"type":"hold","discharge_id","hold_id","state","cqc"}`.
    Hold {
        /// Discharge id.
        discharge_id: &'a str,
        /// Hold id.
        hold_id: &'a str,
        /// `requested`, `accepted` or `ended`.
        state: &'a str,
        /// The home's CQC location id.
        cqc: &'a str,
    },
    /// `{"type":"care_homes"}`.
    CareHomes,
    /// `{"type":"resync"}`.
    Resync,
}

impl Notice {
    /// The message for a client of `organisations`, if it concerns them.
    pub fn message_for(&self, organisations: &BTreeSet<String>) -> Option<Message<'_>> {
        match self {
            Notice::Discharge {
                discharge_id,
                status,
                managed_by,
            } => organisations
                .contains(managed_by)
                .then_some(Message::Discharge {
                    discharge_id,
                    status,
                }),
            Notice::Hold {
                discharge_id,
                hold_id,
                state,
                cqc,
                held_by_organisation,
            } => organisations
                .contains(held_by_organisation)
                .then_some(Message::Hold {
                    discharge_id,
                    hold_id,
                    state,
                    cqc,
                }),
            Notice::CareHomes => Some(Message::CareHomes),
            Notice::Resync => Some(Message::Resync),
        }
    }
}

/// The holds of the homes a batch is about to change, before it is folded in.
pub fn holds_before(
    room: &ControlRoom,
    homes: impl IntoIterator<Item = String>,
) -> BTreeMap<String, Vec<Hold>> {
    homes
        .into_iter()
        .map(|cqc| {
            let holds = room
                .care_home_records()
                .get(&cqc)
                .map(|r| r.holds.clone())
                .unwrap_or_default();
            (cqc, holds)
        })
        .collect()
}

fn state_word(state: HoldState) -> &'static str {
    match state {
        HoldState::Requested => "requested",
        HoldState::Accepted => "accepted",
    }
}

/// The notices of a batch folded into `room`, given the holds before it.
pub fn after_batch(
    room: &ControlRoom,
    before: &BTreeMap<String, Vec<Hold>>,
    touched: &Touched,
) -> Vec<Notice> {
    let mut notices = Vec::new();
    for id in &touched.discharges {
        if let Some(summary) = room.discharges().get(id) {
            notices.push(Notice::Discharge {
                discharge_id: id.clone(),
                status: summary.status.as_str(),
                managed_by: summary.managed_by.clone(),
            });
        }
    }
    for (cqc, old) in before {
        let new = room
            .care_home_records()
            .get(cqc)
            .map(|r| r.holds.as_slice())
            .unwrap_or_default();
        let notice = |hold: &Hold, state: &'static str| Notice::Hold {
            discharge_id: hold.discharge_id.clone(),
            hold_id: hold.hold_id.clone(),
            state,
            cqc: cqc.clone(),
            held_by_organisation: hold.held_by_organisation.clone(),
        };
        for hold in new {
            let was = old.iter().find(|h| h.hold_id == hold.hold_id);
            if was.is_none_or(|w| w.state != hold.state) {
                notices.push(notice(hold, state_word(hold.state)));
            }
        }
        for hold in old {
            if !new.iter().any(|h| h.hold_id == hold.hold_id) {
                notices.push(notice(hold, "ended"));
            }
        }
    }
    // Any home, in the region or not: a discharge team may place a patient
    // across the region's border.
    if touched.care_homes || touched.other_care_homes {
        notices.push(Notice::CareHomes);
    }
    notices
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::control_room::RoomSettings;

    #[test]
    fn a_care_home_outside_the_region_still_tells_the_discharge_teams() {
        let room = ControlRoom::from_snapshot(
            Arc::new(RoomSettings::default()),
            &pf_live_state::Snapshot::default(),
            time::OffsetDateTime::now_utc(),
        );
        let elsewhere = Touched {
            other_care_homes: true,
            ..Touched::default()
        };
        assert_eq!(
            after_batch(&room, &BTreeMap::new(), &elsewhere),
            [Notice::CareHomes]
        );
        assert!(after_batch(&room, &BTreeMap::new(), &Touched::default()).is_empty());
    }
}
