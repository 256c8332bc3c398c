//! Reading a [`Principal`] from a verified token's claims, through a
//! configurable [`ClaimMapping`].
//!
//! Roles come from a list of strings `"{role}:{org}"` (e.g.
//! `"discharge_coordinator:RWE"`); a bare `"{role}"` is scoped to the token's
//! organisation claim. Role names may be the identity provider's own, mapped
//! to ours by [`ClaimMapping::role_names`]. Unknown roles and malformed scopes
//! are skipped (and logged); a token left with no grant is refused.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::org::OrgId;
use crate::principal::{Grant, Principal, PrincipalKind, Role, Scope};
use crate::token::TokenError;

/// Which claims hold what.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ClaimMapping {
    /// The subject: a stable id of the person or machine. Default `sub`.
    pub subject: String,
    /// The display name (falls back to the subject). Default `name`.
    pub name: String,
    /// The organisation (ODS code or CQC location ID). Default `org`.
    pub organisation: String,
    /// The roles: a list of strings (or one space-separated string). Default `roles`.
    pub roles: String,
    /// `person` or `machine` (absent means person). Default `kind`.
    pub kind: String,
    /// The identity provider's role names mapped to ours (e.g.
    /// `"UHL-IDT" → discharge_coordinator`). Our own names are accepted too.
    pub role_names: BTreeMap<String, Role>,
}

impl Default for ClaimMapping {
    fn default() -> Self {
        Self {
            subject: "sub".to_owned(),
            name: "name".to_owned(),
            organisation: "org".to_owned(),
            roles: "roles".to_owned(),
            kind: "kind".to_owned(),
            role_names: BTreeMap::new(),
        }
    }
}

impl ClaimMapping {
    /// Builds the principal from verified claims.
    pub fn principal(&self, claims: &Map<String, Value>) -> Result<Principal, TokenError> {
        let id = match claims.get(&self.subject).and_then(Value::as_str) {
            Some(id) if !id.trim().is_empty() => id.to_owned(),
            _ => return Err(TokenError::MissingClaim(self.subject.clone())),
        };
        let name = claims
            .get(&self.name)
            .and_then(Value::as_str)
            .filter(|n| !n.trim().is_empty())
            .unwrap_or(&id)
            .to_owned();
        let organisation = match claims.get(&self.organisation) {
            None | Some(Value::Null) => None,
            Some(Value::String(org)) => {
                Some(OrgId::parse(org).map_err(|e| TokenError::InvalidClaim {
                    claim: self.organisation.clone(),
                    reason: e.to_string(),
                })?)
            }
            Some(_) => return Err(self.invalid(&self.organisation, "expected a string")),
        };
        let kind = match claims.get(&self.kind).and_then(Value::as_str) {
            Some("machine") => PrincipalKind::Machine,
            None | Some("person") => PrincipalKind::Person,
            Some(_) => return Err(self.invalid(&self.kind, "expected `person` or `machine`")),
        };
        let mut principal = Principal {
            id,
            name,
            organisation,
            kind,
            grants: Vec::new(),
        };
        for entry in self.role_entries(claims)? {
            match self.grant(&entry, principal.organisation.as_ref()) {
                Some(grant) => principal.grant(grant),
                None => {
                    tracing::debug!(role = %entry, subject = %principal.id, "role claim skipped")
                }
            }
        }
        if principal.grants.is_empty() {
            return Err(TokenError::NoRoles);
        }
        Ok(principal)
    }

    fn invalid(&self, claim: &str, reason: &str) -> TokenError {
        TokenError::InvalidClaim {
            claim: claim.to_owned(),
            reason: reason.to_owned(),
        }
    }

    /// The role strings, from a list or one space-separated string.
    fn role_entries(&self, claims: &Map<String, Value>) -> Result<Vec<String>, TokenError> {
        match claims.get(&self.roles) {
            None | Some(Value::Null) => Err(TokenError::NoRoles),
            Some(Value::String(s)) => Ok(s.split_whitespace().map(str::to_owned).collect()),
            Some(Value::Array(items)) => Ok(items
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()),
            Some(_) => Err(self.invalid(&self.roles, "expected a list of strings")),
        }
    }

    /// Our role for a role name: the mapping first, then our own names.
    fn role(&self, name: &str) -> Option<Role> {
        self.role_names
            .get(name)
            .copied()
            .or_else(|| name.parse().ok())
    }

    /// One role entry as a grant, or `None` when it is not usable.
    fn grant(&self, entry: &str, own_org: Option<&OrgId>) -> Option<Grant> {
        let (role, org) = match entry.rsplit_once(':') {
            Some((name, org)) if self.role(name).is_some() => (self.role(name)?, Some(org)),
            _ => (self.role(entry)?, None),
        };
        let orgs = match org {
            Some(org) => vec![OrgId::parse(org).ok()?],
            None if role.scope() == Scope::System => Vec::new(),
            None => vec![own_org?.clone()],
        };
        Grant::new(role, orgs)
            .map_err(|e| tracing::warn!(role = %entry, cause = %e, "role claim refused"))
            .ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn claims(value: Value) -> Map<String, Value> {
        match value {
            Value::Object(map) => map,
            _ => Map::new(),
        }
    }

    #[test]
    fn roles_with_organisations_become_grants() {
        let p = ClaimMapping::default()
            .principal(&claims(json!({
                "sub": "u1", "name": "Asha", "org": "RWE",
                "roles": ["discharge_coordinator:RWE", "control_room_viewer", "nonsense:RWE"]
            })))
            .expect("principal");
        assert_eq!(p.name, "Asha");
        assert_eq!(
            p.roles(),
            vec![Role::DischargeCoordinator, Role::ControlRoomViewer]
        );
        assert_eq!(p.kind, PrincipalKind::Person);
    }

    #[test]
    fn a_bare_scoped_role_takes_the_organisation_claim() {
        let p = ClaimMapping::default()
            .principal(&claims(json!({
                "sub": "feed", "org": "RT5", "kind": "machine", "roles": "bed_publisher"
            })))
            .expect("principal");
        assert!(p.is_machine());
        assert_eq!(p.ods_organisations(Role::BedPublisher).count(), 1);
        assert_eq!(p.name, "feed");
    }

    #[test]
    fn identity_provider_role_names_are_mapped() {
        let mut mapping = ClaimMapping {
            roles: "groups".to_owned(),
            ..ClaimMapping::default()
        };
        mapping.role_names.insert(
            "UHL-Integrated-Discharge".to_owned(),
            Role::DischargeCoordinator,
        );
        let p = mapping
            .principal(&claims(json!({
                "sub": "u2", "org": "RWE", "groups": ["UHL-Integrated-Discharge", "Finance"]
            })))
            .expect("principal");
        assert_eq!(p.roles(), vec![Role::DischargeCoordinator]);
    }

    #[test]
    fn no_usable_role_is_refused() {
        let mapping = ClaimMapping::default();
        for c in [
            json!({"sub": "u"}),
            json!({"sub": "u", "roles": []}),
            json!({"sub": "u", "roles": ["care_home_editor:RWE"]}),
            json!({"sub": "u", "roles": ["discharge_coordinator"]}),
            json!({"sub": "u", "roles": ["admin"]}),
        ] {
            assert!(matches!(
                mapping.principal(&claims(c)),
                Err(TokenError::NoRoles)
            ));
        }
        assert!(matches!(
            mapping.principal(&claims(json!({"roles": ["system_admin"]}))),
            Err(TokenError::MissingClaim(_))
        ));
        assert!(matches!(
            mapping.principal(&claims(
                json!({"sub": "u", "org": "??", "roles": ["system_admin"]})
            )),
            Err(TokenError::InvalidClaim { .. })
        ));
    }
}
