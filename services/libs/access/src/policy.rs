//! What a principal may do: the [`Action`]s of Patient Flow and the rule for
//! each, deny by default.
//!
//! [`Principal::permits`] answers with a [`Decision`]. A refusal carries a
//! sentence a person understands, for the page, the API error and the audit
//! trail. Every pairing of role and action that is not written below is
//! refused, so a new action is refused to everyone until a rule names it.

use std::fmt;

use serde::Serialize;

use crate::org::{CqcLocationId, OdsCode};
use crate::principal::{Grant, Principal, Role};

/// Something a principal asks to do.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Action {
    /// Publish bed events (state changes) for the sites of an NHS trust.
    ChangeBeds {
        /// The trust whose sites' beds change.
        trust: OdsCode,
    },
    /// See the control-room display: aggregates, no patient-identifiable data.
    ViewControlRoom,
    /// Read and change a care home's vacancies and admissions status.
    ChangeCareHome {
        /// The care home.
        cqc: CqcLocationId,
    },
    /// Accept or decline hold requests on a care home's beds.
    AnswerHolds {
        /// The care home.
        cqc: CqcLocationId,
    },
    /// Search care-home vacancies across the system.
    SearchVacancies,
    /// See and manage the discharge list of an organisation's patients.
    ManagePatients {
        /// The organisation whose patients they are.
        ods: OdsCode,
    },
    /// Record what a trust's own PAS says of a patient on its discharge
    /// list (discharged, discharge cancelled), found by NHS number: the ADT
    /// feed's one use of the list. It cannot list, open or search patients.
    RecordPasDischarges {
        /// The trust whose PAS it is.
        ods: OdsCode,
    },
    /// Record, change and close the actions agreed on the system call, and
    /// export the day's log of them.
    RecordSystemActions,
    /// Keep an organisation's register of named teams (owners of tasks and
    /// actions).
    ManageTeams {
        /// The organisation whose teams they are.
        ods: OdsCode,
    },
    /// Record emergency department attendances and ambulance arrivals at
    /// the sites of an NHS trust (its ED system's or the ambulance
    /// service's feed; opaque ids, no patient-identifiable data).
    RecordUrgentCare {
        /// The trust whose sites they are.
        trust: OdsCode,
    },
    /// Read and export the audit trail.
    ReadAudit,
    /// Register homes and sites, issue and revoke access.
    ManageAccess,
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Action::ChangeBeds { trust } => write!(f, "change beds of {trust}"),
            Action::ViewControlRoom => f.write_str("view the control room"),
            Action::ChangeCareHome { cqc } => write!(f, "change care home {cqc}"),
            Action::AnswerHolds { cqc } => write!(f, "answer hold requests of care home {cqc}"),
            Action::SearchVacancies => f.write_str("search care-home vacancies"),
            Action::ManagePatients { ods } => write!(f, "manage patients of {ods}"),
            Action::RecordPasDischarges { ods } => {
                write!(f, "record discharges from the PAS of {ods}")
            }
            Action::RecordSystemActions => f.write_str("record system-call actions"),
            Action::ManageTeams { ods } => write!(f, "manage the teams of {ods}"),
            Action::RecordUrgentCare { trust } => {
                write!(f, "record ED attendances and ambulance arrivals at {trust}")
            }
            Action::ReadAudit => f.write_str("read the audit trail"),
            Action::ManageAccess => f.write_str("manage access"),
        }
    }
}

/// The answer to "may this principal do this?".
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Decision {
    /// Allowed, by the grant of this role.
    Allowed {
        /// The role whose grant allowed it (for the audit trail).
        role: Role,
    },
    /// Refused.
    Denied {
        /// Why, in a sentence a person understands.
        reason: String,
    },
}

/// A refused action as an error, for `?` in handlers.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
#[error("{reason}")]
pub struct Refused {
    /// Why, in a sentence a person understands.
    pub reason: String,
}

impl Decision {
    /// Whether the action is allowed.
    pub fn is_allowed(&self) -> bool {
        matches!(self, Decision::Allowed { .. })
    }

    /// The allowing role, or the refusal as an error.
    pub fn require(self) -> Result<Role, Refused> {
        match self {
            Decision::Allowed { role } => Ok(role),
            Decision::Denied { reason } => Err(Refused { reason }),
        }
    }
}

impl Principal {
    /// Decides whether this principal may do `action`. Deny by default: a
    /// principal with no grants may do nothing.
    pub fn permits(&self, action: &Action) -> Decision {
        if self.grants.is_empty() {
            return Decision::Denied {
                reason: "You have no roles on Patient Flow yet, so you cannot do anything; \
                         ask a system administrator for access."
                    .to_owned(),
            };
        }
        match self.grants.iter().find(|g| grant_allows(g, action)) {
            Some(grant) => Decision::Allowed { role: grant.role() },
            None => Decision::Denied {
                reason: refusal(self, action),
            },
        }
    }
}

/// The rules. Anything not matched is refused.
fn grant_allows(grant: &Grant, action: &Action) -> bool {
    use Action::*;
    use Role::*;
    match (grant.role(), action) {
        (
            SystemAdmin,
            ChangeBeds { .. }
            | RecordUrgentCare { .. }
            | ViewControlRoom
            | ChangeCareHome { .. }
            | AnswerHolds { .. }
            | SearchVacancies
            | ManageTeams { .. }
            | ReadAudit
            | ManageAccess,
        ) => true,
        (BedPublisher, ChangeBeds { trust }) => grant.covers_ods(trust),
        (BedPublisher, RecordPasDischarges { ods }) => grant.covers_ods(ods),
        (BedPublisher, RecordUrgentCare { trust }) => grant.covers_ods(trust),
        (ControlRoomViewer | ControlRoomLead | DischargeCoordinator, ViewControlRoom) => true,
        (ControlRoomLead, RecordSystemActions) => true,
        (CareHomeEditor, ChangeCareHome { cqc } | AnswerHolds { cqc }) => grant.covers_cqc(cqc),
        (VacancyPublisher, ChangeCareHome { cqc }) => grant.covers_cqc(cqc),
        (DischargeCoordinator, SearchVacancies) => true,
        (DischargeCoordinator, ManagePatients { ods }) => grant.covers_ods(ods),
        _ => false,
    }
}

/// The sentence explaining a refusal.
fn refusal(principal: &Principal, action: &Action) -> String {
    match action {
        Action::ChangeBeds { trust } => format!(
            "Only {trust}'s own bed-state feed or a system administrator can change {trust}'s beds."
        ),
        Action::ViewControlRoom => "The control room is for control-room viewers and leads, \
                                    discharge coordinators and system administrators."
            .to_owned(),
        Action::ChangeCareHome { cqc } | Action::AnswerHolds { cqc }
            if principal.has_role(Role::CareHomeEditor) =>
        {
            format!(
                "You can act only for the care homes you are registered with, and {cqc} is not one of them."
            )
        }
        Action::ChangeCareHome { cqc } => format!(
            "Only the staff of care home {cqc}, its care-record system or a system administrator \
             can change its vacancies."
        ),
        Action::AnswerHolds { cqc } => format!(
            "Only the staff of care home {cqc} or a system administrator can answer its hold requests."
        ),
        Action::SearchVacancies => "Searching care-home vacancies is for discharge coordinators \
                                    and system administrators."
            .to_owned(),
        Action::ManagePatients { ods } => {
            format!("Only discharge coordinators of {ods} can see and manage its patients.")
        }
        Action::RecordPasDischarges { ods } => {
            format!("Only {ods}'s own bed-state feed can record discharges from its PAS.")
        }
        Action::RecordSystemActions => "Only a control-room lead can record and close the \
                                        actions agreed on the system call."
            .to_owned(),
        Action::ManageTeams { ods } => {
            format!("Only a system administrator can change the register of {ods}'s teams.")
        }
        Action::RecordUrgentCare { trust } => format!(
            "Only {trust}'s own feeds (its ED system, the ambulance service's feed for its sites) \
             or a system administrator can record ED attendances and ambulance arrivals at {trust}."
        ),
        Action::ReadAudit => "Only a system administrator can read the audit trail.".to_owned(),
        Action::ManageAccess => "Only a system administrator can register homes and sites or \
                                 issue and revoke access."
            .to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::org::OrgId;

    const HOME_A: &str = "1-000000001";
    const HOME_B: &str = "1-000000002";

    fn ods(code: &str) -> OdsCode {
        OdsCode::parse(code).expect("valid ODS code")
    }

    fn cqc(id: &str) -> CqcLocationId {
        CqcLocationId::parse(id).expect("valid CQC id")
    }

    fn with(role: Role, orgs: &[&str]) -> Principal {
        let org = orgs.first().and_then(|o| OrgId::parse(o).ok());
        Principal::person(role.as_str(), role.as_str(), org)
            .with_grant(Grant::parse(role, orgs).expect("valid grant"))
    }

    /// Every action, once inside and once outside the principal's scope.
    fn actions() -> Vec<Action> {
        vec![
            Action::ChangeBeds { trust: ods("RWE") },
            Action::ChangeBeds { trust: ods("RT5") },
            Action::ViewControlRoom,
            Action::ChangeCareHome { cqc: cqc(HOME_A) },
            Action::ChangeCareHome { cqc: cqc(HOME_B) },
            Action::AnswerHolds { cqc: cqc(HOME_A) },
            Action::AnswerHolds { cqc: cqc(HOME_B) },
            Action::SearchVacancies,
            Action::ManagePatients { ods: ods("RWE") },
            Action::ManagePatients { ods: ods("RT5") },
            Action::RecordPasDischarges { ods: ods("RWE") },
            Action::RecordPasDischarges { ods: ods("RT5") },
            Action::RecordSystemActions,
            Action::ManageTeams { ods: ods("RWE") },
            Action::RecordUrgentCare { trust: ods("RWE") },
            Action::RecordUrgentCare { trust: ods("RT5") },
            Action::ReadAudit,
            Action::ManageAccess,
        ]
    }

    /// Fails to compile when an action is added without a row in the matrix.
    #[allow(dead_code)]
    fn every_action_is_in_the_matrix(action: &Action) {
        match action {
            Action::ChangeBeds { .. }
            | Action::ViewControlRoom
            | Action::ChangeCareHome { .. }
            | Action::AnswerHolds { .. }
            | Action::SearchVacancies
            | Action::ManagePatients { .. }
            | Action::RecordPasDischarges { .. }
            | Action::RecordSystemActions
            | Action::ManageTeams { .. }
            | Action::RecordUrgentCare { .. }
            | Action::ReadAudit
            | Action::ManageAccess => {}
        }
    }

    #[test]
    fn every_role_against_every_action() {
        // Columns follow `actions()`:
        //  beds RWE, beds RT5, control room, change A, change B, holds A, holds B,
        //  search, patients RWE, patients RT5, PAS discharges RWE, PAS
        //  discharges RT5, system-call actions, teams RWE, urgent care RWE,
        //  urgent care RT5, audit, access.
        let matrix: [(Principal, &str); 8] = [
            (with(Role::CareHomeEditor, &[HOME_A]), "...Y.Y............"),
            (
                with(Role::DischargeCoordinator, &["RWE"]),
                "..Y....YY.........",
            ),
            (with(Role::ControlRoomViewer, &[]), "..Y..............."),
            (with(Role::ControlRoomLead, &[]), "..Y.........Y....."),
            (with(Role::SystemAdmin, &[]), "YYYYYYYY.....YYYYY"),
            (with(Role::BedPublisher, &["RWE"]), "Y.........Y...Y..."),
            (
                with(Role::VacancyPublisher, &[HOME_A]),
                "...Y..............",
            ),
            (
                Principal::person("nobody", "Nobody", None),
                "..................",
            ),
        ];
        let actions = actions();
        for (principal, expected) in &matrix {
            assert_eq!(expected.len(), actions.len());
            for (action, want) in actions.iter().zip(expected.chars()) {
                let decision = principal.permits(action);
                assert_eq!(
                    decision.is_allowed(),
                    want == 'Y',
                    "{} / {action}: {decision:?}",
                    principal.id
                );
                if let Decision::Denied { reason } = decision {
                    assert!(reason.ends_with('.') && reason.len() > 30, "{reason}");
                }
            }
        }
        // Every role appears in the matrix.
        for role in Role::ALL {
            assert!(matrix.iter().any(|(p, _)| p.has_role(role)), "{role}");
        }
    }

    #[test]
    fn allowed_names_the_role_and_refusals_explain() {
        let editor = with(Role::CareHomeEditor, &[HOME_A]);
        assert_eq!(
            editor.permits(&Action::ChangeCareHome { cqc: cqc(HOME_A) }),
            Decision::Allowed {
                role: Role::CareHomeEditor
            }
        );
        let refused = editor
            .permits(&Action::ChangeCareHome { cqc: cqc(HOME_B) })
            .require()
            .expect_err("home B is not theirs");
        assert!(refused.reason.contains(HOME_B), "{refused}");
        let nobody = Principal::person("x", "X", None);
        let refused = nobody
            .permits(&Action::ViewControlRoom)
            .require()
            .expect_err("no roles");
        assert!(refused.reason.contains("no roles"), "{refused}");
    }

    #[test]
    fn several_grants_combine() {
        let p = with(Role::CareHomeEditor, &[HOME_A])
            .with_grant(Grant::parse(Role::CareHomeEditor, &[HOME_B]).expect("valid"))
            .with_grant(Grant::parse(Role::ControlRoomViewer, &[]).expect("valid"));
        assert!(
            p.permits(&Action::AnswerHolds { cqc: cqc(HOME_B) })
                .is_allowed()
        );
        assert!(p.permits(&Action::ViewControlRoom).is_allowed());
        assert!(!p.permits(&Action::SearchVacancies).is_allowed());
    }
}
