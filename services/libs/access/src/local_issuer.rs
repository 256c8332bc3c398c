//! The built-in demo identity provider, so the platform runs with no
//! external one. **Demo only**: refused in [`Mode::Production`].
//!
//! It makes a fresh ES256 (P-256) key pair at start, publishes the public half
//! as a JWKS, and issues tokens for [`demo_principals`] (one per role, plus
//! the `simulator`, `care-home-simulator` and `loadtest` machine identities) that a
//! [`TokenVerifier`](crate::TokenVerifier) built from
//! [`LocalIssuer::issuer_config`] accepts.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use jsonwebtoken::jwk::{Jwk, JwkSet, PublicKeyUse, ThumbprintHash};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use p256::ecdsa::SigningKey;
use p256::elliptic_curve::Generate;
use p256::pkcs8::EncodePrivateKey;
use serde_json::{Value, json};

use crate::mode::Mode;
use crate::principal::{Grant, Principal, PrincipalKind, Role};
use crate::token::{IssuerConfig, JwksSource, SigningAlgorithm};

/// The demo issuer's default `iss`.
pub const DEMO_ISSUER: &str = "urn:patient-flow:demo-issuer";
/// The default `aud` of Patient Flow's tokens.
pub const DEFAULT_AUDIENCE: &str = "patient-flow";

/// Why the demo issuer could not start or sign.
#[derive(Debug, thiserror::Error)]
pub enum LocalIssuerError {
    /// Production mode: a real identity provider must be configured.
    #[error(
        "the built-in demo identity provider is refused in production mode; configure \
         PF_OIDC_ISSUER (and its audience and JWKS URL) for your organisation's identity provider"
    )]
    RefusedInProduction,
    /// The key pair could not be made.
    #[error("failed to generate the demo issuer's key pair: {0}")]
    Key(String),
    /// A token could not be signed.
    #[error("failed to sign a demo token")]
    Signing(#[source] jsonwebtoken::errors::Error),
}

/// Settings of the demo issuer.
#[derive(Debug, Clone)]
pub struct LocalIssuerConfig {
    /// `iss` of its tokens. Default [`DEMO_ISSUER`].
    pub issuer: String,
    /// `aud` of its tokens. Default [`DEFAULT_AUDIENCE`].
    pub audience: String,
    /// Key id; default derived from the key's thumbprint (new at each start).
    pub key_id: Option<String>,
}

impl Default for LocalIssuerConfig {
    fn default() -> Self {
        Self {
            issuer: DEMO_ISSUER.to_owned(),
            audience: DEFAULT_AUDIENCE.to_owned(),
            key_id: None,
        }
    }
}

/// The demo identity provider.
pub struct LocalIssuer {
    issuer: String,
    audience: String,
    key_id: String,
    key: EncodingKey,
    jwks: JwkSet,
}

impl LocalIssuer {
    /// Starts the demo issuer with a new key pair; refused in production.
    pub fn new(mode: Mode, config: LocalIssuerConfig) -> Result<Self, LocalIssuerError> {
        if mode.is_production() {
            return Err(LocalIssuerError::RefusedInProduction);
        }
        let signing =
            SigningKey::try_generate().map_err(|e| LocalIssuerError::Key(e.to_string()))?;
        let der = signing
            .to_pkcs8_der()
            .map_err(|e| LocalIssuerError::Key(e.to_string()))?;
        let key = EncodingKey::from_ec_der(der.as_bytes());
        let mut jwk = Jwk::from_encoding_key(&key, Algorithm::ES256)
            .map_err(|e| LocalIssuerError::Key(e.to_string()))?;
        let key_id = match config.key_id {
            Some(kid) => kid,
            None => {
                let thumbprint = jwk
                    .thumbprint(ThumbprintHash::SHA256)
                    .map_err(|e| LocalIssuerError::Key(e.to_string()))?;
                format!("pf-demo-{}", thumbprint.get(..16).unwrap_or(&thumbprint))
            }
        };
        jwk.common.key_id = Some(key_id.clone());
        jwk.common.public_key_use = Some(PublicKeyUse::Signature);
        tracing::warn!(issuer = %config.issuer, kid = %key_id, "built-in DEMO identity provider started; not for real patients' data");
        Ok(Self {
            issuer: config.issuer,
            audience: config.audience,
            key_id,
            key,
            jwks: JwkSet { keys: vec![jwk] },
        })
    }

    /// Its `iss`.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// Its `aud`.
    pub fn audience(&self) -> &str {
        &self.audience
    }

    /// The id of its signing key.
    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    /// Its public key set, to serve as `jwks_uri` or hand to a verifier.
    pub fn jwks(&self) -> JwkSet {
        self.jwks.clone()
    }

    /// The configuration of a verifier that trusts this issuer (ES256, static keys).
    pub fn issuer_config(&self) -> IssuerConfig {
        let mut config = IssuerConfig::new(
            self.issuer.clone(),
            self.audience.clone(),
            JwksSource::Static(self.jwks()),
        );
        config.algorithms = vec![SigningAlgorithm::ES256];
        config
    }

    /// A token for `principal`, valid from now for `ttl`.
    pub fn issue(&self, principal: &Principal, ttl: Duration) -> Result<String, LocalIssuerError> {
        self.issue_at(principal, SystemTime::now(), ttl)
    }

    /// A token for `principal` issued (and valid from) `issued_at`, for `ttl`.
    pub fn issue_at(
        &self,
        principal: &Principal,
        issued_at: SystemTime,
        ttl: Duration,
    ) -> Result<String, LocalIssuerError> {
        self.sign(&self.claims(principal, &self.audience, issued_at, ttl))
    }

    /// An OpenID Connect ID token for `principal`, valid from now for `ttl`:
    /// the same claims as [`issue`](Self::issue), but for the relying party
    /// `client_id` (`aud` and `azp`) and carrying its `nonce` when it sent one.
    pub fn issue_id_token(
        &self,
        principal: &Principal,
        client_id: &str,
        nonce: Option<&str>,
        ttl: Duration,
    ) -> Result<String, LocalIssuerError> {
        let now = SystemTime::now();
        let mut claims = self.claims(principal, client_id, now, ttl);
        if let Value::Object(map) = &mut claims {
            map.insert("azp".to_owned(), json!(client_id));
            map.insert(
                "auth_time".to_owned(),
                map.get("iat").cloned().unwrap_or(Value::Null),
            );
            if let Some(nonce) = nonce {
                map.insert("nonce".to_owned(), json!(nonce));
            }
        }
        self.sign(&claims)
    }

    /// The claims of a token for `principal` and `audience`.
    fn claims(
        &self,
        principal: &Principal,
        audience: &str,
        issued_at: SystemTime,
        ttl: Duration,
    ) -> Value {
        let iat = issued_at
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let roles: Vec<String> = principal
            .grants
            .iter()
            .flat_map(|grant| {
                let role = grant.role().as_str();
                let orgs: Vec<String> = grant
                    .organisations()
                    .iter()
                    .map(|org| format!("{role}:{org}"))
                    .collect();
                if orgs.is_empty() {
                    vec![role.to_owned()]
                } else {
                    orgs
                }
            })
            .collect();
        let kind = match principal.kind {
            PrincipalKind::Person => "person",
            PrincipalKind::Machine => "machine",
        };
        json!({
            "iss": self.issuer,
            "aud": audience,
            "sub": principal.id,
            "name": principal.name,
            "org": principal.organisation.as_ref().map(|o| o.as_str()),
            "kind": kind,
            "roles": roles,
            "iat": iat,
            "nbf": iat,
            "exp": iat + ttl.as_secs(),
        })
    }

    /// Signs arbitrary claims with the demo key (for tests of the verifier).
    pub fn sign(&self, claims: &Value) -> Result<String, LocalIssuerError> {
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some(self.key_id.clone());
        jsonwebtoken::encode(&header, claims, &self.key).map_err(LocalIssuerError::Signing)
    }

    /// The demo users; see [`demo_principals`].
    pub fn demo_principals(&self) -> Vec<Principal> {
        demo_principals()
    }
}

/// How many homes the synthetic LLR care-home register holds
/// (`1-000000001` … `1-000000300`).
pub const DEMO_CARE_HOMES: u32 = 300;

/// The CQC location ids of the synthetic LLR care homes, `1-000000001` …
/// `1-000000300`.
pub fn demo_care_home_ids() -> Vec<String> {
    (1..=DEMO_CARE_HOMES).map(|n| format!("1-{n:09}")).collect()
}

/// One demo person per role, a demo vacancy feed, and the `simulator`,
/// `care-home-simulator` and `loadtest` machine identities. Their names say
/// they are demo-only.
///
/// The demo care-home editor works for two homes, so that moving between a
/// person's homes can be tried; the simulator publishes bed events for the
/// trusts and vacancies for every demo care home, and puts the trusts'
/// patients on the discharge list and holds beds for them; the care-home
/// simulator answers those holds for every demo home.
pub fn demo_principals() -> Vec<Principal> {
    const HOME: &str = "1-000000001";
    const SECOND_HOME: &str = "1-000000002";
    let grant = |role: Role, orgs: &[&str]| {
        // Constant, valid scopes (checked by a test below).
        Grant::parse(role, orgs).expect("demo grants are valid")
    };
    let org = |id: &str| crate::OrgId::parse(id).ok();
    let all_homes = demo_care_home_ids();
    let all_homes: Vec<&str> = all_homes.iter().map(String::as_str).collect();
    vec![
        Principal::person(
            "demo-care-home-editor",
            "Demo care-home editor (demo only)",
            org(HOME),
        )
        .with_grant(grant(Role::CareHomeEditor, &[HOME, SECOND_HOME])),
        Principal::person(
            "demo-discharge-coordinator",
            "Demo discharge coordinator (demo only)",
            org("RWE"),
        )
        .with_grant(grant(Role::DischargeCoordinator, &["RWE"])),
        Principal::person(
            "demo-control-room",
            "Demo control-room viewer (demo only)",
            org("QK1"),
        )
        .with_grant(grant(Role::ControlRoomViewer, &[])),
        Principal::person(
            "demo-control-room-lead",
            "Demo control-room lead (demo only)",
            org("QK1"),
        )
        .with_grant(grant(Role::ControlRoomLead, &[])),
        Principal::person(
            "demo-system-admin",
            "Demo system administrator (demo only)",
            org("QK1"),
        )
        .with_grant(grant(Role::SystemAdmin, &[])),
        Principal::machine(
            "demo-vacancy-feed",
            "Demo care-record vacancy feed (demo only)",
            org(HOME),
        )
        .with_grant(grant(Role::VacancyPublisher, &[HOME])),
        Principal::machine("simulator", "Hospital simulator (demo only)", None)
            .with_grant(grant(Role::BedPublisher, &["RWE", "RT5"]))
            .with_grant(grant(Role::VacancyPublisher, &all_homes))
            .with_grant(grant(Role::DischargeCoordinator, &["RWE", "RT5"])),
        // The demo homes' staff answering hold requests. Its own identity:
        // with these grants as well, the simulator's token would outgrow
        // what verifiers accept.
        Principal::machine(
            "care-home-simulator",
            "Care-home staff simulator (demo only)",
            None,
        )
        .with_grant(grant(Role::CareHomeEditor, &all_homes)),
        // The ADT feed joining A03/A13 to the discharge list: a bed
        // publisher of the trusts its demo feeds are for, nothing else.
        Principal::machine("adt-feed", "ADT feed (demo only)", None)
            .with_grant(grant(Role::BedPublisher, &["RWE", "RT5"])),
        Principal::machine("loadtest", "Load test (demo only)", None)
            .with_grant(grant(Role::BedPublisher, &["RWE", "RT5"]))
            .with_grant(grant(Role::ControlRoomViewer, &[])),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_role_has_a_demo_identity() {
        let demo = demo_principals();
        for role in Role::ALL {
            assert!(demo.iter().any(|p| p.has_role(role)), "{role}");
        }
        assert!(demo.iter().all(|p| p.name.contains("demo only")));
        assert!(demo.iter().any(|p| p.id == "simulator" && p.is_machine()));
    }

    #[test]
    fn the_editor_has_two_homes_and_the_simulator_every_demo_home() {
        use crate::{Action, CqcLocationId};
        let demo = demo_principals();
        let find = |id: &str| demo.iter().find(|p| p.id == id).expect("demo principal");
        let cqc = |id: &str| CqcLocationId::parse(id).expect("valid");
        let may_change = |p: &Principal, id: &str| {
            p.permits(&Action::ChangeCareHome { cqc: cqc(id) })
                .is_allowed()
        };
        let editor = find("demo-care-home-editor");
        assert_eq!(editor.care_homes(Role::CareHomeEditor).count(), 2);
        assert!(may_change(editor, "1-000000001") && may_change(editor, "1-000000002"));
        assert!(!may_change(editor, "1-000000003"));

        let ids = demo_care_home_ids();
        assert_eq!(ids.len(), 300);
        assert_eq!(ids.first().map(String::as_str), Some("1-000000001"));
        assert_eq!(ids.last().map(String::as_str), Some("1-000000300"));
        let simulator = find("simulator");
        assert_eq!(simulator.care_homes(Role::VacancyPublisher).count(), 300);
        assert!(ids.iter().all(|id| may_change(simulator, id)));
        assert!(!may_change(simulator, "1-000000301"));
        // A bed publisher and discharge coordinator for the trusts, and
        // nothing more: it cannot answer the holds it makes.
        assert_eq!(simulator.roles().len(), 3);
        assert!(simulator.has_role(Role::BedPublisher));
        let ods = |id: &str| crate::OdsCode::parse(id).expect("valid");
        for trust in ["RWE", "RT5"] {
            assert!(
                simulator
                    .permits(&Action::ManagePatients { ods: ods(trust) })
                    .is_allowed()
            );
        }
        assert!(
            !simulator
                .permits(&Action::ManagePatients { ods: ods("RYJ") })
                .is_allowed()
        );
        let answers = |p: &Principal, id: &str| {
            p.permits(&Action::AnswerHolds { cqc: cqc(id) })
                .is_allowed()
        };
        assert!(!answers(simulator, "1-000000001"));

        // The care-home side answers holds (and may change) every demo home,
        // and does nothing for hospitals.
        let homes = find("care-home-simulator");
        assert!(homes.is_machine());
        assert_eq!(homes.roles().len(), 1);
        assert!(ids.iter().all(|id| answers(homes, id)));
        assert!(!answers(homes, "1-000000301"));
        assert!(!homes.permits(&Action::SearchVacancies).is_allowed());
    }

    /// The simulators' tokens name 300 homes; they must stay well inside what
    /// verifiers (16 KiB) and HTTP servers (headers of 64 KiB and more) take.
    /// Measured: 13,371 bytes for the simulator, 12,866 for the care-home
    /// simulator (about 500 for the others), printed by this test with
    /// `--nocapture`; both sets of grants in one token would be about 25.7 KB.
    #[tokio::test]
    async fn the_simulators_token_stays_small_enough() {
        let issuer =
            LocalIssuer::new(Mode::Development, LocalIssuerConfig::default()).expect("issuer");
        let verifier = crate::TokenVerifier::new(issuer.issuer_config()).expect("verifier");
        for principal in demo_principals() {
            let token = issuer
                .issue(&principal, Duration::from_secs(3600))
                .expect("signed");
            println!("{}: token of {} bytes", principal.id, token.len());
            assert!(token.len() < 15 * 1024, "{}: {}", principal.id, token.len());
            let verified = verifier.verify(&token).await.expect("verifies");
            assert_eq!(verified, principal);
        }
    }

    #[test]
    fn production_refuses_the_demo_issuer() {
        let refused = LocalIssuer::new(Mode::Production, LocalIssuerConfig::default());
        let message = refused.err().map(|e| e.to_string()).unwrap_or_default();
        assert!(message.contains("refused in production mode"), "{message}");
        assert!(message.contains("PF_OIDC_ISSUER"), "{message}");
    }

    #[tokio::test]
    async fn an_id_token_is_for_the_client_and_carries_the_nonce() {
        let issuer =
            LocalIssuer::new(Mode::Development, LocalIssuerConfig::default()).expect("issuer");
        let person = demo_principals()
            .into_iter()
            .find(|p| p.id == "demo-system-admin")
            .expect("demo admin");
        let token = issuer
            .issue_id_token(
                &person,
                "web-client",
                Some("n-0S6_WzA2Mj"),
                Duration::from_secs(60),
            )
            .expect("signed");
        let mut config = issuer.issuer_config();
        config.audience = "web-client".to_owned();
        let verifier = crate::TokenVerifier::new(config).expect("verifier");
        let (principal, claims) = verifier.verify_with_claims(&token).await.expect("valid");
        assert_eq!(principal, person);
        assert_eq!(claims["nonce"], "n-0S6_WzA2Mj");
        assert_eq!(claims["azp"], "web-client");
        // Not a bearer token for Patient Flow's APIs.
        let api = crate::TokenVerifier::new(issuer.issuer_config()).expect("verifier");
        assert_eq!(
            api.verify(&token).await.err(),
            Some(crate::TokenError::WrongAudience)
        );
    }

    #[test]
    fn the_jwks_names_its_key() {
        let issuer =
            LocalIssuer::new(Mode::Development, LocalIssuerConfig::default()).expect("issuer");
        let jwks = issuer.jwks();
        assert_eq!(jwks.keys.len(), 1);
        assert!(jwks.find(issuer.key_id()).is_some());
        assert!(issuer.key_id().starts_with("pf-demo-"));
    }
}
