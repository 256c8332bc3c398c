//! Machine clients of the token endpoint: who may ask for a token, with what
//! secret, and as which [`Principal`].
//!
//! Only the SHA-256 of each secret is held (the clients file stores it as
//! hex), and a presented secret is hashed and compared in constant time, so
//! neither the file nor the timing of a refusal gives the secret away.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::Context as _;
use pf_access::{Principal, demo_principals};
use serde::Deserialize;
use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq as _;

/// The demo machine clients that accept `PF_DEMO_CLIENT_SECRET`.
pub const DEMO_CLIENTS: [&str; 4] = ["simulator", "care-home-simulator", "loadtest", "adt-feed"];

/// The demo web client (an OpenID Connect relying party, such as this
/// service's own organisation sign-in) that accepts `PF_DEMO_CLIENT_SECRET`.
pub const DEMO_WEB_CLIENT: &str = "patient-flow-web";

/// One entry of the clients file.
#[derive(Debug, Clone, Deserialize)]
pub struct ClientEntry {
    /// The `client_id` it presents.
    pub client_id: String,
    /// SHA-256 of its secret, as 64 hex digits.
    pub secret_sha256: String,
    /// Who its tokens speak for (must be a machine).
    pub principal: Principal,
}

/// A registered client.
#[derive(Clone)]
struct Client {
    secret_sha256: [u8; 32],
    principal: Principal,
}

/// A web client of the demo issuer's authorization-code flow: people sign
/// in through it, so it has no principal of its own, only the addresses it
/// may be sent back to.
#[derive(Debug, Clone)]
pub struct WebClient {
    secret_sha256: [u8; 32],
    redirect_uris: Vec<String>,
}

impl WebClient {
    /// Whether `uri` is one of its registered redirect URIs (exactly).
    pub fn allows_redirect(&self, uri: &str) -> bool {
        self.redirect_uris.iter().any(|allowed| allowed == uri)
    }
}

/// The registered machine clients and web clients.
#[derive(Clone, Default)]
pub struct ClientRegistry {
    clients: BTreeMap<String, Client>,
    web_clients: BTreeMap<String, WebClient>,
}

impl ClientRegistry {
    /// Clients from the entries of a clients file. Refuses entries that are
    /// not machines, have an empty id, a malformed hash or a duplicate id.
    pub fn from_entries(entries: Vec<ClientEntry>) -> anyhow::Result<Self> {
        let mut registry = Self::default();
        for entry in entries {
            let id = entry.client_id.trim().to_owned();
            anyhow::ensure!(
                !id.is_empty() && id.len() <= 128,
                "a client has an empty or overlong client_id"
            );
            anyhow::ensure!(
                entry.principal.is_machine(),
                "client `{id}`: its principal must be of kind \"machine\""
            );
            anyhow::ensure!(
                !entry.principal.id.trim().is_empty(),
                "client `{id}`: its principal has an empty id"
            );
            let secret_sha256 = parse_hex_digest(&entry.secret_sha256)
                .with_context(|| format!("client `{id}`: secret_sha256 must be 64 hex digits"))?;
            let client = Client {
                secret_sha256,
                principal: entry.principal,
            };
            anyhow::ensure!(
                registry.clients.insert(id.clone(), client).is_none(),
                "client `{id}` is listed twice"
            );
        }
        Ok(registry)
    }

    /// Reads a clients file (a JSON list of [`ClientEntry`]).
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("failed to read the clients file {}", path.display()))?;
        let entries: Vec<ClientEntry> = serde_json::from_str(&text)
            .with_context(|| format!("the clients file {} is not valid", path.display()))?;
        Self::from_entries(entries)
            .with_context(|| format!("the clients file {} is not valid", path.display()))
    }

    /// Adds the demo machine clients ([`DEMO_CLIENTS`]) with `secret`.
    /// Development only: the caller checks the mode.
    pub fn add_demo_clients(&mut self, secret: &str) {
        let digest = sha256(secret);
        for principal in demo_principals() {
            if DEMO_CLIENTS.contains(&principal.id.as_str()) {
                self.clients.entry(principal.id.clone()).or_insert(Client {
                    secret_sha256: digest,
                    principal,
                });
            }
        }
    }

    /// Adds the demo web client ([`DEMO_WEB_CLIENT`]) with `secret`, which
    /// may be sent back to `redirect_uris` only. Development only: the
    /// caller checks the mode.
    pub fn add_demo_web_client(&mut self, secret: &str, redirect_uris: Vec<String>) {
        let mut redirect_uris = redirect_uris;
        redirect_uris.sort();
        redirect_uris.dedup();
        self.web_clients.insert(
            DEMO_WEB_CLIENT.to_owned(),
            WebClient {
                secret_sha256: sha256(secret),
                redirect_uris,
            },
        );
    }

    /// The web client with this id.
    pub fn web_client(&self, client_id: &str) -> Option<&WebClient> {
        self.web_clients.get(client_id)
    }

    /// The web client when `secret` is its secret (hashed and compared in
    /// constant time, like machine clients).
    pub fn authenticate_web(&self, client_id: &str, secret: &str) -> Option<&WebClient> {
        let presented = sha256(secret);
        match self.web_clients.get(client_id) {
            Some(client) => bool::from(presented.ct_eq(&client.secret_sha256)).then_some(client),
            None => {
                let _ = presented.ct_eq(&[0u8; 32]);
                None
            }
        }
    }

    /// How many machine clients are registered.
    pub fn len(&self) -> usize {
        self.clients.len()
    }

    /// Whether no client is registered.
    pub fn is_empty(&self) -> bool {
        self.clients.is_empty()
    }

    /// Whether `client_id` is registered (for rate limiting by known ids only).
    pub fn contains(&self, client_id: &str) -> bool {
        self.clients.contains_key(client_id)
    }

    /// The client's principal when `secret` is its secret. An unknown id
    /// costs the same hash and comparison as a known one.
    pub fn authenticate(&self, client_id: &str, secret: &str) -> Option<&Principal> {
        let presented = sha256(secret);
        match self.clients.get(client_id) {
            Some(client) => {
                bool::from(presented.ct_eq(&client.secret_sha256)).then_some(&client.principal)
            }
            None => {
                let _ = presented.ct_eq(&[0u8; 32]);
                None
            }
        }
    }
}

/// SHA-256 of a secret.
pub fn sha256(secret: &str) -> [u8; 32] {
    Sha256::digest(secret.as_bytes()).into()
}

/// 64 hex digits (either case) as 32 bytes.
fn parse_hex_digest(hex: &str) -> Option<[u8; 32]> {
    let hex = hex.trim().as_bytes();
    if hex.len() != 64 {
        return None;
    }
    let nibble = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
    let mut out = [0u8; 32];
    for (i, pair) in hex.chunks(2).enumerate() {
        out[i] = nibble(pair[0])? << 4 | nibble(pair[1])?;
    }
    Some(out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    fn entry(id: &str, secret: &str, kind: &str) -> ClientEntry {
        serde_json::from_value(serde_json::json!({
            "client_id": id,
            "secret_sha256": hex(&sha256(secret)),
            "principal": {
                "id": id, "name": "Feed", "organisation": "RWE", "kind": kind,
                "grants": [{"role": "bed_publisher", "organisations": ["RWE"]}]
            }
        }))
        .unwrap()
    }

    #[test]
    fn a_client_signs_in_only_with_its_secret() {
        let registry =
            ClientRegistry::from_entries(vec![entry("pas", "s3cret", "machine")]).unwrap();
        assert_eq!(
            registry
                .authenticate("pas", "s3cret")
                .map(|p| p.id.as_str()),
            Some("pas")
        );
        assert!(registry.authenticate("pas", "wrong").is_none());
        assert!(registry.authenticate("other", "s3cret").is_none());
    }

    #[test]
    fn people_and_bad_hashes_are_refused() {
        assert!(ClientRegistry::from_entries(vec![entry("pas", "x", "person")]).is_err());
        let mut bad = entry("pas", "x", "machine");
        bad.secret_sha256 = "abc".into();
        assert!(ClientRegistry::from_entries(vec![bad]).is_err());
        let twice = vec![entry("pas", "x", "machine"), entry("pas", "y", "machine")];
        assert!(ClientRegistry::from_entries(twice).is_err());
    }

    #[test]
    fn demo_clients_use_the_demo_secret() {
        let mut registry = ClientRegistry::default();
        registry.add_demo_clients("demo-secret");
        assert_eq!(registry.len(), 4);
        assert!(registry.authenticate("simulator", "demo-secret").is_some());
        assert!(registry.authenticate("adt-feed", "demo-secret").is_some());
        assert!(
            registry
                .authenticate("care-home-simulator", "demo-secret")
                .is_some()
        );
        assert!(registry.authenticate("loadtest", "demo-secret").is_some());
        assert!(
            registry
                .authenticate("demo-system-admin", "demo-secret")
                .is_none()
        );
    }

    #[test]
    fn the_demo_web_client_is_not_a_machine_client() {
        let mut registry = ClientRegistry::default();
        let callback = "http://127.0.0.1:8083/sign-in/oidc/callback".to_owned();
        registry.add_demo_web_client("demo-secret", vec![callback.clone(), callback.clone()]);
        let client = registry
            .authenticate_web(DEMO_WEB_CLIENT, "demo-secret")
            .unwrap();
        assert!(client.allows_redirect(&callback));
        assert!(!client.allows_redirect("http://127.0.0.1:8083/sign-in/oidc/callback/"));
        assert!(
            registry
                .authenticate_web(DEMO_WEB_CLIENT, "wrong")
                .is_none()
        );
        assert!(
            registry
                .authenticate(DEMO_WEB_CLIENT, "demo-secret")
                .is_none()
        );
        assert!(
            registry
                .authenticate_web("simulator", "demo-secret")
                .is_none()
        );
        assert!(registry.is_empty());
    }

    #[test]
    fn hex_digests_parse_in_either_case() {
        let digest = sha256("a");
        assert_eq!(parse_hex_digest(&hex(&digest)), Some(digest));
        assert_eq!(parse_hex_digest(&hex(&digest).to_uppercase()), Some(digest));
        assert_eq!(parse_hex_digest(&"zz".repeat(32)), None);
    }
}
