//! Reading a [`Principal`] from a verified token's claims (and, for a
//! browser sign-in, the provider's userinfo), through a configurable
//! [`ClaimMapping`].
//!
//! Two ways to read roles:
//! - Without [`ClaimMapping::rules`] (the built-in issuer, machine tokens):
//!   roles come from a list of strings `"{role}:{org}"` (e.g.
//!   `"discharge_coordinator:RWE"`); a bare `"{role}"` is scoped to the
//!   token's organisation claim. Role names may be the identity provider's
//!   own, mapped to ours by [`ClaimMapping::role_names`].
//! - With rules (a trust's provider, configured by a mapping file, see
//!   [`ClaimMapping::from_file`] and `docs/sign-in.md`): every provider role
//!   the person holds (strings such as Entra ID app roles and groups, or
//!   objects such as NHS CIS2's national RBAC roles, each with its code and
//!   organisation) is matched against the rules, each of which names one
//!   Patient Flow role and where it applies. With a `selected_role` claim
//!   (CIS2's `selectedrole` scope) only the role the person selected counts.
//!
//! Unknown roles and malformed scopes are skipped (and logged); a person
//! left with no grant is refused ([`TokenError::NoRoles`]), and
//! [`ClaimMapping::provider_roles`] says what they do hold, for the page
//! that tells them what to ask for.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::org::OrgId;
use crate::principal::{Grant, Principal, PrincipalKind, Role, Scope};
use crate::token::TokenError;

/// Which claims hold what, and how provider roles become ours. Unknown
/// fields are refused, so that a misspelt setting is not silently ignored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
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
    /// Used only when there are no [`rules`](Self::rules).
    pub role_names: BTreeMap<String, Role>,
    /// A further claim of provider roles, read like `roles` (e.g. Entra
    /// ID's `groups`). Default none.
    pub groups: Option<String>,
    /// When the role claim holds objects (NHS CIS2's `nhsid_nrbac_roles`),
    /// which of their fields hold the role's code, its organisation and its
    /// id. Default `role_code`, `org_code`, `person_roleid`.
    pub role_fields: RoleFields,
    /// The claim naming the one role the person selected (CIS2's
    /// `selected_roleid`, under the `selectedrole` scope): when present,
    /// only the held role with that id counts. Default none.
    pub selected_role: Option<String>,
    /// Where a browser sign-in reads the person's claims: the ID token
    /// alone, or also the provider's userinfo endpoint (always, or only
    /// when the ID token gives no role). Default `when_needed`.
    pub userinfo: Userinfo,
    /// Provider role → Patient Flow role, per organisation. When empty, the
    /// `"{role}:{org}"` reading above applies.
    pub rules: Vec<RoleRule>,
    /// What a person with no mapped role should ask their administrator
    /// for (shown on the page that refuses them). Default: a general sentence.
    pub no_role_advice: Option<String>,
}

/// The fields of a provider role given as an object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RoleFields {
    /// The role's code (CIS2: `role_code`, e.g. `S8000:G8000:R8001`).
    pub code: String,
    /// The organisation it is held at (CIS2: `org_code`, an ODS code).
    pub organisation: String,
    /// The id of this holding of the role (CIS2: `person_roleid`), which
    /// `selected_role` names.
    pub id: String,
}

impl Default for RoleFields {
    fn default() -> Self {
        Self {
            code: "role_code".to_owned(),
            organisation: "org_code".to_owned(),
            id: "person_roleid".to_owned(),
        }
    }
}

/// When a browser sign-in asks the provider's userinfo endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Userinfo {
    /// Never: everything is in the ID token.
    Never,
    /// When the ID token gives no role (or no subject).
    #[default]
    WhenNeeded,
    /// Always (NHS CIS2 gives roles and organisations only there).
    Always,
}

/// One rule: a provider role, optionally only where it is held, gives one
/// Patient Flow role.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoleRule {
    /// The provider's role: the whole value, or one `:`-separated part of
    /// it (CIS2's national RBAC code `S8000:G8000:R8001` matches `R8001`).
    pub provider_role: String,
    /// Only when the role is held at this organisation (an ODS code or CQC
    /// location ID); default anywhere.
    #[serde(default)]
    pub at: Option<OrgId>,
    /// The Patient Flow role it gives.
    pub role: Role,
    /// The organisations the role is given for. Default: where the provider
    /// role is held, else the person's organisation claim. System-wide roles
    /// need none.
    #[serde(default)]
    pub organisations: Vec<OrgId>,
}

/// A provider role a person holds, as read from the claims.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderRole {
    /// Its code or name.
    pub code: String,
    /// Where it is held, if the provider says.
    pub organisation: Option<String>,
    /// The id of this holding, if the provider gives one.
    pub id: Option<String>,
}

impl std::fmt::Display for ProviderRole {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.organisation {
            Some(org) => write!(f, "{} at {org}", self.code),
            None => f.write_str(&self.code),
        }
    }
}

impl RoleRule {
    fn matches(&self, held: &ProviderRole) -> bool {
        let code = held.code == self.provider_role
            || held.code.split(':').any(|part| part == self.provider_role);
        let place = match &self.at {
            None => true,
            Some(at) => held
                .organisation
                .as_deref()
                .is_some_and(|org| org.eq_ignore_ascii_case(at.as_str())),
        };
        code && place
    }
}

/// A mapping file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum MappingError {
    /// The file could not be read.
    #[error("cannot read the claim mapping file {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The file is not a mapping.
    #[error("the claim mapping file {path} is not valid: {reason}")]
    Invalid {
        /// The file.
        path: String,
        /// What is wrong, with line and column.
        reason: String,
    },
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
            groups: None,
            role_fields: RoleFields::default(),
            selected_role: None,
            userinfo: Userinfo::default(),
            rules: Vec::new(),
            no_role_advice: None,
        }
    }
}

impl ClaimMapping {
    /// Reads a mapping file (JSON; see `docs/sign-in.md`). Unknown fields
    /// are refused, so that a misspelt setting is not silently ignored.
    pub fn from_file(path: &Path) -> Result<Self, MappingError> {
        let text = std::fs::read_to_string(path).map_err(|source| MappingError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Self::from_json(&text).map_err(|reason| MappingError::Invalid {
            path: path.display().to_string(),
            reason,
        })
    }

    /// Reads a mapping from JSON text; the error names the line and column.
    pub fn from_json(text: &str) -> Result<Self, String> {
        let mapping: ClaimMapping = serde_json::from_str(text).map_err(|e| e.to_string())?;
        for rule in &mapping.rules {
            if rule.provider_role.trim().is_empty() {
                return Err("a rule has an empty provider_role".to_owned());
            }
            if !rule.organisations.is_empty() {
                Grant::new(rule.role, rule.organisations.iter().cloned())
                    .map_err(|e| format!("the rule for `{}`: {e}", rule.provider_role))?;
            }
        }
        Ok(mapping)
    }

    /// The provider roles the claims hold (after role selection), for the
    /// page that tells a person without a mapped role what they hold.
    pub fn provider_roles(&self, claims: &Map<String, Value>) -> Vec<ProviderRole> {
        let mut held = Vec::new();
        for claim in std::iter::once(&self.roles).chain(self.groups.iter()) {
            match claims.get(claim) {
                Some(Value::String(s)) => {
                    held.extend(s.split_whitespace().map(|code| ProviderRole {
                        code: code.to_owned(),
                        organisation: None,
                        id: None,
                    }))
                }
                Some(Value::Array(items)) => {
                    held.extend(items.iter().filter_map(|item| self.provider_role(item)));
                }
                _ => {}
            }
        }
        let selected = self
            .selected_role
            .as_ref()
            .and_then(|claim| claims.get(claim))
            .and_then(scalar);
        if let Some(selected) = selected {
            held.retain(|role| role.id.as_deref() == Some(selected.as_str()));
        }
        held
    }

    fn provider_role(&self, item: &Value) -> Option<ProviderRole> {
        match item {
            Value::String(code) => Some(ProviderRole {
                code: code.clone(),
                organisation: None,
                id: None,
            }),
            Value::Object(fields) => Some(ProviderRole {
                code: fields.get(&self.role_fields.code).and_then(scalar)?,
                organisation: fields.get(&self.role_fields.organisation).and_then(scalar),
                id: fields.get(&self.role_fields.id).and_then(scalar),
            }),
            _ => None,
        }
    }

    /// The grants the rules give for the provider roles held.
    fn grants_by_rules(&self, claims: &Map<String, Value>, principal: &mut Principal) {
        for held in self.provider_roles(claims) {
            for rule in self.rules.iter().filter(|rule| rule.matches(&held)) {
                let organisations = if !rule.organisations.is_empty() {
                    rule.organisations.clone()
                } else if rule.role.scope() == Scope::System {
                    Vec::new()
                } else {
                    match held
                        .organisation
                        .as_deref()
                        .and_then(|org| OrgId::parse(org).ok())
                        .or_else(|| principal.organisation.clone())
                    {
                        Some(org) => vec![org],
                        None => continue,
                    }
                };
                match Grant::new(rule.role, organisations) {
                    Ok(grant) => principal.grant(grant),
                    Err(e) => tracing::warn!(role = %held, cause = %e, "role rule refused"),
                }
            }
        }
    }

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
        if self.rules.is_empty() {
            for entry in self.role_entries(claims)? {
                match self.grant(&entry, principal.organisation.as_ref()) {
                    Some(grant) => principal.grant(grant),
                    None => {
                        tracing::debug!(role = %entry, subject = %principal.id, "role claim skipped")
                    }
                }
            }
        } else {
            self.grants_by_rules(claims, &mut principal);
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

/// A claim value as text: a string, or a number (CIS2 ids may be either).
fn scalar(value: &Value) -> Option<String> {
    match value {
        Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_owned()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
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

    /// A mapping as a trust would write it for NHS CIS2.
    fn cis2() -> ClaimMapping {
        ClaimMapping::from_json(
            r#"{
                "roles": "nhsid_nrbac_roles",
                "selected_role": "selected_roleid",
                "userinfo": "always",
                "rules": [
                    {"provider_role": "R8001", "at": "RWE", "role": "discharge_coordinator"},
                    {"provider_role": "R8001", "at": "RT5", "role": "discharge_coordinator"},
                    {"provider_role": "R8008", "role": "control_room_viewer"},
                    {"provider_role": "R0001", "at": "QK1", "role": "system_admin"}
                ],
                "no_role_advice": "Ask your Registration Authority for the Patient Flow role."
            }"#,
        )
        .expect("mapping")
    }

    fn nrbac(id: &str, code: &str, org: &str) -> Value {
        json!({"person_roleid": id, "role_code": code, "org_code": org, "role_name": "x"})
    }

    #[test]
    fn cis2_national_rbac_roles_map_per_organisation() {
        let mapping = cis2();
        let p = mapping
            .principal(&claims(json!({
                "sub": "910000000001", "name": "Asha Patel",
                "nhsid_nrbac_roles": [
                    nrbac("5001", "S8000:G8000:R8001", "RWE"),
                    nrbac("5002", "S8000:G8000:R8001", "RXX"),
                    nrbac("5003", "S8000:G8000:R8008", "RWE"),
                ]
            })))
            .expect("principal");
        assert_eq!(
            p.roles(),
            vec![Role::DischargeCoordinator, Role::ControlRoomViewer]
        );
        let orgs: Vec<String> = p
            .ods_organisations(Role::DischargeCoordinator)
            .map(|o| o.to_string())
            .collect();
        assert_eq!(orgs, ["RWE"], "the role at RXX is not mapped");
    }

    #[test]
    fn a_selected_role_is_the_only_one_that_counts() {
        let mapping = cis2();
        let held = json!([
            nrbac("5001", "S8000:G8000:R8001", "RWE"),
            nrbac("5003", "S8000:G8000:R8008", "RWE"),
        ]);
        let p = mapping
            .principal(&claims(json!({
                "sub": "u", "nhsid_nrbac_roles": held, "selected_roleid": "5003"
            })))
            .expect("principal");
        assert_eq!(p.roles(), vec![Role::ControlRoomViewer]);
        let p = mapping
            .principal(&claims(json!({
                "sub": "u", "nhsid_nrbac_roles": held, "selected_roleid": 5001
            })))
            .expect("principal");
        assert_eq!(p.roles(), vec![Role::DischargeCoordinator]);
    }

    #[test]
    fn a_role_at_an_unmapped_organisation_gives_nothing_and_is_named() {
        let mapping = cis2();
        let c = claims(json!({
            "sub": "u", "nhsid_nrbac_roles": [nrbac("1", "S8000:G8000:R8001", "RXX")]
        }));
        assert!(matches!(mapping.principal(&c), Err(TokenError::NoRoles)));
        let held: Vec<String> = mapping
            .provider_roles(&c)
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(held, ["S8000:G8000:R8001 at RXX"]);
    }

    #[test]
    fn entra_app_roles_and_groups_map_to_roles() {
        let mapping = ClaimMapping::from_json(
            r#"{
                "groups": "groups",
                "userinfo": "never",
                "rules": [
                    {"provider_role": "PatientFlow.DischargeCoordinator", "role": "discharge_coordinator", "organisations": ["RWE"]},
                    {"provider_role": "PatientFlow.ControlRoom", "role": "control_room_viewer"},
                    {"provider_role": "6f1c2a9e-0000-4000-8000-000000000001", "role": "system_admin"}
                ]
            }"#,
        )
        .expect("mapping");
        let p = mapping
            .principal(&claims(json!({
                "sub": "entra-oid-1", "name": "Sam",
                "roles": ["PatientFlow.DischargeCoordinator", "Other.App.Role"],
                "groups": ["6f1c2a9e-0000-4000-8000-000000000001"]
            })))
            .expect("principal");
        assert_eq!(
            p.roles(),
            vec![Role::DischargeCoordinator, Role::SystemAdmin]
        );
        assert_eq!(p.ods_organisations(Role::DischargeCoordinator).count(), 1);
    }

    #[test]
    fn mapping_files_refuse_misspelt_settings_and_bad_rules() {
        assert!(ClaimMapping::from_json(r#"{"role": "roles"}"#).is_err());
        assert!(ClaimMapping::from_json(r#"{"userinfo": "sometimes"}"#).is_err());
        assert!(
            ClaimMapping::from_json(
                r#"{"rules": [{"provider_role": "x", "role": "care_home_editor", "organisations": ["RWE"]}]}"#
            )
            .is_err()
        );
        assert!(
            ClaimMapping::from_json(
                r#"{"rules": [{"provider_role": " ", "role": "system_admin"}]}"#
            )
            .is_err()
        );
        assert_eq!(ClaimMapping::from_json("{}"), Ok(ClaimMapping::default()));
    }
}
