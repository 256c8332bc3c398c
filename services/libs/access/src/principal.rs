//! Who is asking: a [`Principal`] (a person or a machine) and the [`Grant`]s
//! it holds, each a [`Role`] scoped to organisations.
//!
//! A grant is checked when it is made: care-home roles name CQC locations,
//! hospital roles name ODS organisations, system-wide roles may name an ODS
//! organisation or none. What a grant allows is decided in [`crate::policy`].

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::org::{CqcLocationId, OdsCode, OrgError, OrgId};

/// A role on Patient Flow. Serialised in snake case (`care_home_editor`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Staff of one or more care homes: their vacancies and hold requests.
    CareHomeEditor,
    /// A hospital discharge team: searches vacancies, manages its own patients.
    DischargeCoordinator,
    /// The system control room: aggregates only, no patient-identifiable data.
    ControlRoomViewer,
    /// Leads the system call: records the actions agreed on it (what, which
    /// organisation or person, by when) and closes them; sees the control
    /// room.
    ControlRoomLead,
    /// Registers homes and sites, issues and revokes access, reads the audit trail.
    SystemAdmin,
    /// A machine publishing bed events for a trust's sites (e.g. a PAS feed).
    BedPublisher,
    /// A machine pushing vacancies for its care homes (e.g. a care-record vendor).
    VacancyPublisher,
}

/// What a role must be scoped to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// One or more CQC location IDs.
    CareHomes,
    /// One or more ODS organisations.
    Organisations,
    /// Nothing: the role is system-wide (an ODS organisation may be recorded).
    System,
}

impl Role {
    /// Every role, in a fixed order.
    pub const ALL: [Role; 7] = [
        Role::CareHomeEditor,
        Role::DischargeCoordinator,
        Role::ControlRoomViewer,
        Role::ControlRoomLead,
        Role::SystemAdmin,
        Role::BedPublisher,
        Role::VacancyPublisher,
    ];

    /// The snake-case name used in tokens and configuration.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::CareHomeEditor => "care_home_editor",
            Role::DischargeCoordinator => "discharge_coordinator",
            Role::ControlRoomViewer => "control_room_viewer",
            Role::ControlRoomLead => "control_room_lead",
            Role::SystemAdmin => "system_admin",
            Role::BedPublisher => "bed_publisher",
            Role::VacancyPublisher => "vacancy_publisher",
        }
    }

    /// What this role must be scoped to.
    pub fn scope(self) -> Scope {
        match self {
            Role::CareHomeEditor | Role::VacancyPublisher => Scope::CareHomes,
            Role::DischargeCoordinator | Role::BedPublisher => Scope::Organisations,
            Role::ControlRoomViewer | Role::ControlRoomLead | Role::SystemAdmin => Scope::System,
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A role name that is not one of ours.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
#[error("`{0}` is not a Patient Flow role")]
pub struct UnknownRole(pub String);

impl FromStr for Role {
    type Err = UnknownRole;
    fn from_str(value: &str) -> Result<Self, UnknownRole> {
        Role::ALL
            .into_iter()
            .find(|role| role.as_str() == value)
            .ok_or_else(|| UnknownRole(value.to_owned()))
    }
}

/// Why a grant was refused.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum GrantError {
    /// A scoped role with no organisation.
    #[error("the {0} role must name at least one organisation")]
    NoOrganisation(Role),
    /// An organisation of the wrong kind for the role.
    #[error("the {role} role is scoped to {expected}, not `{org}`")]
    WrongKind {
        /// The role.
        role: Role,
        /// What it must be scoped to.
        expected: &'static str,
        /// What was given.
        org: String,
    },
    /// An organisation that does not parse.
    #[error(transparent)]
    Org(#[from] OrgError),
}

/// A role held for a set of organisations. Made only through [`Grant::new`]
/// (or deserialisation, which runs the same checks).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "GrantRepr")]
pub struct Grant {
    role: Role,
    organisations: BTreeSet<OrgId>,
}

#[derive(Deserialize)]
struct GrantRepr {
    role: Role,
    #[serde(default)]
    organisations: BTreeSet<OrgId>,
}

impl TryFrom<GrantRepr> for Grant {
    type Error = GrantError;
    fn try_from(repr: GrantRepr) -> Result<Self, GrantError> {
        Grant::new(repr.role, repr.organisations)
    }
}

impl Grant {
    /// A grant of `role` for `organisations`, checked against the role's [`Scope`].
    pub fn new(
        role: Role,
        organisations: impl IntoIterator<Item = OrgId>,
    ) -> Result<Self, GrantError> {
        let organisations: BTreeSet<OrgId> = organisations.into_iter().collect();
        let (expected, fits): (&'static str, fn(&OrgId) -> bool) = match role.scope() {
            Scope::CareHomes => ("CQC location IDs", |o| matches!(o, OrgId::Cqc(_))),
            Scope::Organisations | Scope::System => {
                ("ODS organisations", |o| matches!(o, OrgId::Ods(_)))
            }
        };
        if let Some(wrong) = organisations.iter().find(|o| !fits(o)) {
            return Err(GrantError::WrongKind {
                role,
                expected,
                org: wrong.to_string(),
            });
        }
        if organisations.is_empty() && role.scope() != Scope::System {
            return Err(GrantError::NoOrganisation(role));
        }
        Ok(Self {
            role,
            organisations,
        })
    }

    /// Parses the organisations from text, then as [`Grant::new`].
    pub fn parse(role: Role, organisations: &[&str]) -> Result<Self, GrantError> {
        let parsed = organisations
            .iter()
            .map(|o| OrgId::parse(o))
            .collect::<Result<Vec<_>, _>>()?;
        Self::new(role, parsed)
    }

    /// The role granted.
    pub fn role(&self) -> Role {
        self.role
    }

    /// The organisations it is granted for (empty only for system-wide roles).
    pub fn organisations(&self) -> &BTreeSet<OrgId> {
        &self.organisations
    }

    /// Whether the grant names this ODS organisation.
    pub fn covers_ods(&self, ods: &OdsCode) -> bool {
        self.organisations.contains(&OrgId::Ods(ods.clone()))
    }

    /// Whether the grant names this care home.
    pub fn covers_cqc(&self, cqc: &CqcLocationId) -> bool {
        self.organisations.contains(&OrgId::Cqc(cqc.clone()))
    }

    /// Adds the organisations of `other` (same role) to this grant.
    fn absorb(&mut self, other: Grant) {
        self.organisations.extend(other.organisations);
    }
}

/// Whether a principal is a person or a machine identity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PrincipalKind {
    /// A member of staff signed in through an identity provider.
    Person,
    /// A producer or integration (a PAS feed, a care-record vendor, the simulator).
    Machine,
}

/// Someone or something acting on Patient Flow, as read from a verified token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Principal {
    /// Stable identifier from the identity provider (the token's subject).
    pub id: String,
    /// Display name, for the audit trail and the page header.
    pub name: String,
    /// The organisation the principal belongs to, if the token says.
    pub organisation: Option<OrgId>,
    /// Person or machine.
    pub kind: PrincipalKind,
    /// What it may do; one grant per role. Empty means nothing is allowed.
    pub grants: Vec<Grant>,
}

impl Principal {
    /// A person with no grants yet.
    pub fn person(
        id: impl Into<String>,
        name: impl Into<String>,
        organisation: Option<OrgId>,
    ) -> Self {
        Self::new(id.into(), name.into(), organisation, PrincipalKind::Person)
    }

    /// A machine identity with no grants yet.
    pub fn machine(
        id: impl Into<String>,
        name: impl Into<String>,
        organisation: Option<OrgId>,
    ) -> Self {
        Self::new(id.into(), name.into(), organisation, PrincipalKind::Machine)
    }

    fn new(id: String, name: String, organisation: Option<OrgId>, kind: PrincipalKind) -> Self {
        Self {
            id,
            name,
            organisation,
            kind,
            grants: Vec::new(),
        }
    }

    /// Adds a grant, merging it with an existing grant of the same role.
    pub fn grant(&mut self, grant: Grant) {
        match self.grants.iter_mut().find(|g| g.role == grant.role) {
            Some(existing) => existing.absorb(grant),
            None => self.grants.push(grant),
        }
    }

    /// Builder form of [`Principal::grant`].
    pub fn with_grant(mut self, grant: Grant) -> Self {
        self.grant(grant);
        self
    }

    /// The grant for `role`, if held.
    pub fn grant_for(&self, role: Role) -> Option<&Grant> {
        self.grants.iter().find(|g| g.role == role)
    }

    /// Whether the principal holds `role` for any organisation.
    pub fn has_role(&self, role: Role) -> bool {
        self.grant_for(role).is_some()
    }

    /// The roles held, in [`Role::ALL`] order.
    pub fn roles(&self) -> Vec<Role> {
        Role::ALL
            .into_iter()
            .filter(|r| self.has_role(*r))
            .collect()
    }

    /// The care homes this principal holds `role` for.
    pub fn care_homes(&self, role: Role) -> impl Iterator<Item = &CqcLocationId> {
        self.grant_for(role)
            .into_iter()
            .flat_map(|g| g.organisations.iter())
            .filter_map(|o| match o {
                OrgId::Cqc(cqc) => Some(cqc),
                OrgId::Ods(_) => None,
            })
    }

    /// The ODS organisations this principal holds `role` for.
    pub fn ods_organisations(&self, role: Role) -> impl Iterator<Item = &OdsCode> {
        self.grant_for(role)
            .into_iter()
            .flat_map(|g| g.organisations.iter())
            .filter_map(|o| match o {
                OrgId::Ods(ods) => Some(ods),
                OrgId::Cqc(_) => None,
            })
    }

    /// Whether this is a machine identity.
    pub fn is_machine(&self) -> bool {
        self.kind == PrincipalKind::Machine
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_round_trip_in_snake_case() {
        for role in Role::ALL {
            let json = serde_json::to_string(&role).expect("json");
            assert_eq!(json, format!("\"{role}\""));
            assert_eq!(role.as_str().parse::<Role>(), Ok(role));
        }
        assert!("admin".parse::<Role>().is_err());
    }

    #[test]
    fn grants_are_checked_against_the_role_scope() {
        assert!(Grant::parse(Role::CareHomeEditor, &["1-000000001", "1-000000002"]).is_ok());
        assert!(matches!(
            Grant::parse(Role::CareHomeEditor, &["RWE"]),
            Err(GrantError::WrongKind { .. })
        ));
        assert!(matches!(
            Grant::parse(Role::DischargeCoordinator, &[]),
            Err(GrantError::NoOrganisation(_))
        ));
        assert!(matches!(
            Grant::parse(Role::BedPublisher, &["1-000000001"]),
            Err(GrantError::WrongKind { .. })
        ));
        assert!(matches!(
            Grant::parse(Role::BedPublisher, &["R"]),
            Err(GrantError::Org(_))
        ));
        assert!(Grant::parse(Role::SystemAdmin, &[]).is_ok());
        assert!(Grant::parse(Role::ControlRoomViewer, &["QK1"]).is_ok());
    }

    #[test]
    fn deserialising_a_grant_runs_the_same_checks() {
        let ok: Result<Grant, _> =
            serde_json::from_str(r#"{"role":"care_home_editor","organisations":["1-000000001"]}"#);
        assert!(ok.is_ok());
        let bad: Result<Grant, _> = serde_json::from_str(r#"{"role":"care_home_editor"}"#);
        assert!(bad.is_err());
    }

    #[test]
    fn grants_of_one_role_merge() {
        let p = Principal::person("u1", "A", None)
            .with_grant(Grant::parse(Role::CareHomeEditor, &["1-000000001"]).expect("valid"))
            .with_grant(Grant::parse(Role::CareHomeEditor, &["1-000000002"]).expect("valid"));
        assert_eq!(p.grants.len(), 1);
        assert_eq!(p.care_homes(Role::CareHomeEditor).count(), 2);
        assert_eq!(p.roles(), vec![Role::CareHomeEditor]);
        assert!(!p.is_machine());
    }
}
