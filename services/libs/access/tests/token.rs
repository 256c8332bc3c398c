//! Bearer-token sign-in end to end: tokens from the demo issuer (and forged
//! ones) against a [`TokenVerifier`], with static keys and with keys fetched
//! from a small JWKS server on 127.0.0.1:0.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use axum::Json;
use axum::extract::State;
use axum::routing::get;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use pf_access::{
    IssuerConfig, JwkSet, JwksSource, LocalIssuer, LocalIssuerConfig, Mode, Principal, Role,
    TokenError, TokenVerifier, demo_principals,
};
use serde_json::{Value, json};

const HOUR: Duration = Duration::from_secs(3600);

fn issuer_with_kid(kid: &str) -> LocalIssuer {
    let config = LocalIssuerConfig {
        key_id: Some(kid.to_owned()),
        ..LocalIssuerConfig::default()
    };
    LocalIssuer::new(Mode::Development, config).expect("demo issuer")
}

fn demo(id: &str) -> Principal {
    demo_principals()
        .into_iter()
        .find(|p| p.id == id)
        .expect("demo principal")
}

fn verifier_for(issuer: &LocalIssuer) -> TokenVerifier {
    TokenVerifier::new(issuer.issuer_config()).expect("verifier")
}

/// Claims like the demo issuer's, for hand-made tokens.
fn claims(issuer: &LocalIssuer) -> Value {
    let now = jsonwebtoken::get_current_timestamp();
    json!({
        "iss": issuer.issuer(), "aud": issuer.audience(), "sub": "u1", "name": "Test",
        "org": "RWE", "roles": ["discharge_coordinator:RWE"],
        "iat": now, "nbf": now, "exp": now + 600,
    })
}

#[tokio::test]
async fn a_good_token_verifies_to_its_principal() {
    let issuer = issuer_with_kid("k1");
    let verifier = verifier_for(&issuer);
    for principal in demo_principals() {
        let token = issuer.issue(&principal, HOUR).expect("token");
        let verified = verifier.verify(&token).await.expect("verifies");
        assert_eq!(verified, principal);
    }
}

#[tokio::test]
async fn expired_and_not_yet_valid_tokens_are_refused() {
    let issuer = issuer_with_kid("k1");
    let verifier = verifier_for(&issuer);
    let who = demo("demo-discharge-coordinator");
    let two_hours_ago = SystemTime::now() - 2 * HOUR;
    let expired = issuer.issue_at(&who, two_hours_ago, HOUR).expect("token");
    assert_eq!(verifier.verify(&expired).await, Err(TokenError::Expired));
    let in_an_hour = SystemTime::now() + HOUR;
    let early = issuer.issue_at(&who, in_an_hour, HOUR).expect("token");
    assert_eq!(verifier.verify(&early).await, Err(TokenError::NotYetValid));
    // Within the 30 s leeway is accepted.
    let skewed = issuer
        .issue_at(&who, SystemTime::now() + Duration::from_secs(10), HOUR)
        .expect("token");
    assert!(verifier.verify(&skewed).await.is_ok());
}

#[tokio::test]
async fn wrong_issuer_audience_and_missing_claims_are_refused() {
    let issuer = issuer_with_kid("k1");
    let verifier = verifier_for(&issuer);
    let mut other_iss = claims(&issuer);
    other_iss["iss"] = json!("https://login.example.org");
    let token = issuer.sign(&other_iss).expect("token");
    assert_eq!(verifier.verify(&token).await, Err(TokenError::WrongIssuer));

    let mut other_aud = claims(&issuer);
    other_aud["aud"] = json!(["another-service"]);
    let token = issuer.sign(&other_aud).expect("token");
    assert_eq!(
        verifier.verify(&token).await,
        Err(TokenError::WrongAudience)
    );

    let mut no_aud = claims(&issuer);
    no_aud.as_object_mut().map(|c| c.remove("aud"));
    let token = issuer.sign(&no_aud).expect("token");
    assert_eq!(
        verifier.verify(&token).await,
        Err(TokenError::MissingClaim("aud".into()))
    );

    let mut no_roles = claims(&issuer);
    no_roles["roles"] = json!(["admin", "care_home_editor:RWE"]);
    let token = issuer.sign(&no_roles).expect("token");
    assert_eq!(verifier.verify(&token).await, Err(TokenError::NoRoles));
}

#[tokio::test]
async fn forged_and_tampered_tokens_are_refused() {
    let issuer = issuer_with_kid("k1");
    let verifier = verifier_for(&issuer);
    // A second key pair that claims the same key id.
    let forger = issuer_with_kid("k1");
    let forged = forger
        .issue(&demo("demo-system-admin"), HOUR)
        .expect("token");
    assert_eq!(
        verifier.verify(&forged).await,
        Err(TokenError::BadSignature)
    );

    // A genuine token whose claims were edited.
    let genuine = issuer
        .issue(&demo("demo-control-room"), HOUR)
        .expect("token");
    let parts: Vec<&str> = genuine.split('.').collect();
    let mut body = claims(&issuer);
    body["roles"] = json!(["system_admin"]);
    let edited = URL_SAFE_NO_PAD.encode(body.to_string());
    let tampered = format!("{}.{}.{}", parts[0], edited, parts[2]);
    assert_eq!(
        verifier.verify(&tampered).await,
        Err(TokenError::BadSignature)
    );

    assert!(matches!(
        verifier.verify("not-a-token").await,
        Err(TokenError::Malformed(_))
    ));
}

#[tokio::test]
async fn none_and_hmac_tokens_are_refused() {
    let issuer = issuer_with_kid("k1");
    let verifier = verifier_for(&issuer);
    let body = URL_SAFE_NO_PAD.encode(claims(&issuer).to_string());
    for alg in ["none", "None", "NONE"] {
        let header = URL_SAFE_NO_PAD.encode(json!({"alg": alg, "kid": "k1"}).to_string());
        let token = format!("{header}.{body}.");
        assert_eq!(
            verifier.verify(&token).await,
            Err(TokenError::AlgorithmNotAllowed { alg: alg.into() })
        );
    }
    for alg in [Algorithm::HS256, Algorithm::HS512] {
        let mut header = Header::new(alg);
        header.kid = Some("k1".to_owned());
        // An attacker might use the public key's text as the HMAC secret.
        let secret = serde_json::to_vec(&issuer.jwks()).expect("json");
        let key = EncodingKey::from_secret(&secret).expect("hmac key");
        let token = jsonwebtoken::encode(&header, &claims(&issuer), &key).expect("token");
        assert!(matches!(
            verifier.verify(&token).await,
            Err(TokenError::AlgorithmNotAllowed { .. })
        ));
    }
}

#[tokio::test]
async fn identity_provider_role_names_are_mapped() {
    let issuer = issuer_with_kid("k1");
    let mut config = issuer.issuer_config();
    config.claims.roles = "groups".to_owned();
    config.claims.organisation = "ods".to_owned();
    config
        .claims
        .role_names
        .insert("LLR-Care-Home-Staff".to_owned(), Role::CareHomeEditor);
    let verifier = TokenVerifier::new(config).expect("verifier");
    let mut body = claims(&issuer);
    body["ods"] = json!("1-000000007");
    body["groups"] = json!([
        "LLR-Care-Home-Staff",
        "LLR-Care-Home-Staff:1-000000008",
        "Finance"
    ]);
    let token = issuer.sign(&body).expect("token");
    let principal = verifier.verify(&token).await.expect("verifies");
    let homes: Vec<String> = principal
        .care_homes(Role::CareHomeEditor)
        .map(|c| c.to_string())
        .collect();
    assert_eq!(homes, ["1-000000007", "1-000000008"]);
    assert_eq!(principal.roles(), vec![Role::CareHomeEditor]);
}

#[test]
fn production_mode_refuses_the_local_issuer() {
    let refused = LocalIssuer::new(Mode::Production, LocalIssuerConfig::default());
    assert!(matches!(
        refused,
        Err(pf_access::LocalIssuerError::RefusedInProduction)
    ));
}

/// A JWKS endpoint that counts its requests and whose key set can be swapped.
struct JwksServer {
    url: String,
    set: Arc<Mutex<JwkSet>>,
    hits: Arc<AtomicUsize>,
}

type ServerState = (Arc<Mutex<JwkSet>>, Arc<AtomicUsize>);

async fn jwks(State((set, hits)): State<ServerState>) -> Json<JwkSet> {
    hits.fetch_add(1, Ordering::SeqCst);
    Json(set.lock().map(|s| s.clone()).unwrap_or_default())
}

async fn serve_jwks(initial: JwkSet) -> JwksServer {
    let set = Arc::new(Mutex::new(initial));
    let hits = Arc::new(AtomicUsize::new(0));
    let app = axum::Router::new()
        .route("/jwks", get(jwks))
        .with_state((set.clone(), hits.clone()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("address");
    tokio::spawn(async move { axum::serve(listener, app).await });
    JwksServer {
        url: format!("http://{addr}/jwks"),
        set,
        hits,
    }
}

impl JwksServer {
    fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }

    fn publish(&self, set: JwkSet) {
        if let Ok(mut current) = self.set.lock() {
            *current = set;
        }
    }
}

fn url_verifier(issuer: &LocalIssuer, url: &str, refetch_every: Duration) -> TokenVerifier {
    let mut config = IssuerConfig::new(
        issuer.issuer(),
        issuer.audience(),
        JwksSource::Url(url.to_owned()),
    );
    config.unknown_key_refetch_every = refetch_every;
    TokenVerifier::new(config).expect("verifier")
}

#[tokio::test]
async fn keys_from_a_url_are_cached_and_unknown_kids_refetch_at_most_once() {
    let issuer = issuer_with_kid("k1");
    let server = serve_jwks(issuer.jwks()).await;
    let verifier = url_verifier(&issuer, &server.url, Duration::from_secs(30));
    let who = demo("demo-discharge-coordinator");

    let token = issuer.issue(&who, HOUR).expect("token");
    assert_eq!(verifier.verify(&token).await.as_ref(), Ok(&who));
    assert_eq!(verifier.verify(&token).await.as_ref(), Ok(&who));
    assert_eq!(server.hits(), 1, "the key set is cached");

    let stranger = issuer_with_kid("forged-1");
    let token = stranger.issue(&who, HOUR).expect("token");
    assert_eq!(
        verifier.verify(&token).await,
        Err(TokenError::UnknownKey {
            kid: Some("forged-1".into())
        })
    );
    assert_eq!(server.hits(), 2, "an unknown kid fetches the keys again");

    let stranger = issuer_with_kid("forged-2");
    let token = stranger.issue(&who, HOUR).expect("token");
    assert!(matches!(
        verifier.verify(&token).await,
        Err(TokenError::UnknownKey { .. })
    ));
    assert_eq!(server.hits(), 2, "but at most once per 30 s");
}

#[tokio::test]
async fn a_rotated_key_is_picked_up_by_the_refetch() {
    let old = issuer_with_kid("2025-01");
    let server = serve_jwks(old.jwks()).await;
    let verifier = url_verifier(&old, &server.url, Duration::from_millis(200));
    assert_eq!(verifier.refresh().await, Ok(1));
    assert_eq!(server.hits(), 1);

    let new = issuer_with_kid("2025-02");
    server.publish(new.jwks());
    let token = new.issue(&demo("demo-control-room"), HOUR).expect("token");
    assert!(verifier.verify(&token).await.is_ok());
    assert_eq!(server.hits(), 2);

    // After the interval an unknown kid may fetch again.
    tokio::time::sleep(Duration::from_millis(250)).await;
    let token = issuer_with_kid("2025-03")
        .issue(&demo("demo-control-room"), HOUR)
        .expect("token");
    assert!(matches!(
        verifier.verify(&token).await,
        Err(TokenError::UnknownKey { .. })
    ));
    assert_eq!(server.hits(), 3);
}

#[tokio::test]
async fn an_unreachable_issuer_is_reported() {
    let issuer = issuer_with_kid("k1");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}/jwks", listener.local_addr().expect("address"));
    drop(listener);
    let verifier = url_verifier(&issuer, &url, Duration::from_secs(30));
    let token = issuer
        .issue(&demo("demo-control-room"), HOUR)
        .expect("token");
    assert!(matches!(
        verifier.verify(&token).await,
        Err(TokenError::KeysUnavailable(_))
    ));
    // Still unavailable (not "unknown key") while the fetch is backed off.
    assert!(matches!(
        verifier.verify(&token).await,
        Err(TokenError::KeysUnavailable(_))
    ));
}
