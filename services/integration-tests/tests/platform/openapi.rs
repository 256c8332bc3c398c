//! Every JSON API against its OpenAPI 3.1 document: the bed, care-home,
//! discharge, identity administration/audit, gateway, pressure and forecast APIs, each started for real
//! (NATS with JetStream, Redis), are called at every operation of their
//! document with valid and hostile requests (wrong types, missing and
//! unknown fields, oversize bodies, unknown ids, wrong content type, no,
//! forged or expired token, another organisation's resources, and bodies
//! generated from the documents' schemas), and every answer must be a
//! status the document lists for that operation with a body that validates
//! against the schema it lists (JSON Schema 2020-12, `jsonschema`).
//!
//! Each document is also compared with its service's router: every route
//! under `/api/` is in the document and every documented operation is a
//! route, so a new route without a document fails here; and every
//! documented operation must have been called by this test.

#![allow(clippy::unwrap_used)] // test code: a failure should stop the test loudly

use std::collections::BTreeSet;
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use pf_access::{Grant, LocalIssuer, Principal, Role};
use pf_discharge_model::NhsNumber;
use pf_identity::{Identity, IdentityConfig};
use pf_integration_tests::{Platform, dashboards_dir, demo};
use proptest::strategy::{Strategy, ValueTree};
use proptest::test_runner::TestRunner;
use reqwest::Method;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

const BEDS_DOC: &str = include_str!("../../../hospital-beds/openapi.json");
const CARE_HOMES_DOC: &str = include_str!("../../../care-homes/openapi.json");
const DISCHARGES_DOC: &str = include_str!("../../../discharges/openapi.json");
const IDENTITY_DOC: &str = include_str!("../../../identity/openapi.json");
const GATEWAY_DOC: &str = include_str!("../../../gateway/openapi.json");
const PRESSURE_DOC: &str = include_str!("../../../pressure/openapi.json");
const TASKS_DOC: &str = include_str!("../../../tasks/openapi.json");
const URGENT_CARE_DOC: &str = include_str!("../../../urgent-care/openapi.json");
const FORECAST_DOC: &str = include_str!("../../../forecast/openapi.json");

/// The source of each service's router: the routes it serves.
const BEDS_ROUTER: &str = include_str!("../../../hospital-beds/src/api.rs");
const CARE_HOMES_ROUTER: &str = include_str!("../../../care-homes/src/lib.rs");
const DISCHARGES_ROUTER: &str = include_str!("../../../discharges/src/lib.rs");
const IDENTITY_ROUTER: &str = include_str!("../../../identity/src/lib.rs");
const GATEWAY_ROUTER: &str = include_str!("../../../gateway/src/lib.rs");
const PRESSURE_ROUTER: &str = include_str!("../../../pressure/src/lib.rs");
const TASKS_ROUTER: &str = include_str!("../../../tasks/src/lib.rs");
const URGENT_CARE_ROUTER: &str = include_str!("../../../urgent-care/src/api.rs");
const FORECAST_ROUTER: &str = include_str!("../../../forecast/src/api.rs");
/// The chart's one-host ingress: it routes each document's own path.
const INGRESS: &str = include_str!("../../../../helm/patient-flow/templates/ingress.yaml");

const HOME_A: &str = "1-000000001"; // residential, residential dementia
const HOME_B: &str = "1-000000002"; // nursing, nursing dementia

/// A body over every service's 16 KiB limit.
fn oversize() -> String {
    format!("{{\"reason\": \"{}\"}}", "x".repeat(20 * 1024))
}

/// One API and its document: sends requests and checks every answer.
struct Api {
    name: &'static str,
    spec: Value,
    base: String,
    http: reqwest::Client,
    called: Mutex<BTreeSet<String>>,
    answered: Mutex<BTreeSet<(String, u16)>>,
}

impl Api {
    fn new(name: &'static str, document: &str, base: &str) -> Self {
        let spec: Value = serde_json::from_str(document)
            .unwrap_or_else(|e| panic!("{name}: the document is not JSON: {e}"));
        assert_eq!(spec["openapi"], "3.1.0", "{name}: an OpenAPI 3.1 document");
        Self {
            name,
            spec,
            base: base.to_owned(),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            called: Mutex::new(BTreeSet::new()),
            answered: Mutex::new(BTreeSet::new()),
        }
    }

    /// Every operation: (operationId, method, path template).
    fn operations(&self) -> Vec<(String, String, String)> {
        let mut out = Vec::new();
        for (path, item) in self.spec["paths"].as_object().unwrap() {
            for (method, op) in item.as_object().unwrap() {
                let id = op["operationId"]
                    .as_str()
                    .unwrap_or_else(|| panic!("{}: {method} {path} has no operationId", self.name));
                out.push((id.to_owned(), method.to_uppercase(), path.clone()));
            }
        }
        out
    }

    fn operation(&self, id: &str) -> (Method, &Value) {
        for item in self.spec["paths"].as_object().unwrap().values() {
            for (method, op) in item.as_object().unwrap() {
                if op["operationId"] == id {
                    return (method.to_uppercase().parse().unwrap(), op);
                }
            }
        }
        panic!("{}: no operation {id} in the document", self.name)
    }

    /// Calls operation `id` at `path` (the template filled in) with
    /// `token`, after `build` added headers and a body; checks the answer
    /// against the document and returns its status and JSON body (`Null`
    /// when it is not JSON). A 429 (this test sends floods of refusals) is
    /// checked too, then the request is sent again after its Retry-After.
    async fn call(
        &self,
        id: &str,
        path: &str,
        token: Option<&str>,
        build: impl Fn(reqwest::RequestBuilder) -> reqwest::RequestBuilder,
    ) -> (u16, Value) {
        let (method, _) = self.operation(id);
        for _ in 0..10 {
            let mut request = self
                .http
                .request(method.clone(), format!("{}{path}", self.base));
            if let Some(token) = token {
                request = request.bearer_auth(token);
            }
            let response = build(request).send().await.unwrap();
            let status = response.status().as_u16();
            let retry_after = response
                .headers()
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<u64>().ok());
            let media = response
                .headers()
                .get(reqwest::header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_owned();
            let bytes = response.bytes().await.unwrap();
            self.check(id, path, status, &media, &bytes);
            self.called.lock().unwrap().insert(id.to_owned());
            self.answered
                .lock()
                .unwrap()
                .insert((id.to_owned(), status));
            if status == 429 {
                let wait = retry_after.expect("a 429 says when to come back (Retry-After)");
                tokio::time::sleep(Duration::from_secs(wait.clamp(1, 5))).await;
                continue;
            }
            let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
            return (status, body);
        }
        panic!("{} {id} ({path}): still 429 after ten tries", self.name)
    }

    /// Calls `id` with a JSON body.
    async fn json(&self, id: &str, path: &str, token: Option<&str>, body: Value) -> (u16, Value) {
        self.call(id, path, token, |r| r.json(&body)).await
    }

    /// Calls `id` with `body` sent as is, with `content_type`.
    async fn raw(
        &self,
        id: &str,
        path: &str,
        token: Option<&str>,
        content_type: &str,
        body: impl Into<String>,
    ) -> (u16, Value) {
        let body: String = body.into();
        let content_type = content_type.to_owned();
        self.call(id, path, token, move |r| {
            r.header(reqwest::header::CONTENT_TYPE, content_type.clone())
                .body(body.clone())
        })
        .await
    }

    /// The answer is one the document lists for the operation, in a media
    /// type it lists, and a JSON body validates against the listed schema.
    fn check(&self, id: &str, path: &str, status: u16, media: &str, bytes: &[u8]) {
        let name = self.name;
        let text = String::from_utf8_lossy(bytes);
        let (_, op) = self.operation(id);
        let response = &op["responses"][status.to_string()];
        assert!(
            response.is_object(),
            "{name} {id} ({path}) answered {status}, which its document does not list: {text}"
        );
        let content = &response["content"];
        if bytes.is_empty() {
            assert!(
                content.is_null(),
                "{name} {id} ({path}) answered {status} with no body; the document promises one"
            );
            return;
        }
        let listed = &content[media];
        assert!(
            listed.is_object(),
            "{name} {id} ({path}) answered {status} as `{media}`, which the document does not list: {text}"
        );
        let schema = &listed["schema"];
        let body: Value = if media == "application/json" {
            serde_json::from_slice(bytes)
                .unwrap_or_else(|e| panic!("{name} {id} ({path}) {status}: not JSON ({e}): {text}"))
        } else {
            Value::String(text.to_string())
        };
        let root = json!({
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "$ref": "#/$defs/answer",
            "$defs": { "answer": schema },
            "components": self.spec["components"],
        });
        let validator = jsonschema::validator_for(&root)
            .unwrap_or_else(|e| panic!("{name} {id} {status}: the schema does not compile: {e}"));
        let errors: Vec<String> = validator
            .iter_errors(&body)
            .map(|e| e.to_string())
            .collect();
        assert!(
            errors.is_empty(),
            "{name} {id} ({path}) {status}: the body does not match the document: {errors:?}\n{body}"
        );
    }

    /// The document is served, unauthenticated and cacheable, and is the
    /// one in the repository.
    async fn served_document(&self) {
        let response = self
            .http
            .get(format!("{}/api/v1/openapi.json", self.base))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{}", self.name);
        let cache = response.headers()[reqwest::header::CACHE_CONTROL]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(cache.contains("public"), "{}: {cache}", self.name);
        let served: Value = response.json().await.unwrap();
        assert_eq!(served, self.spec, "{}: the served document", self.name);
        let (status, _) = self
            .call("getOpenApi", "/api/v1/openapi.json", None, |r| r)
            .await;
        assert_eq!(status, 200);
        // Behind the shared ingress every document needs a path of its own.
        let own = self
            .operations()
            .into_iter()
            .find(|(id, _, _)| id == "getOpenApiByService");
        if let Some((_, _, path)) = own {
            let (status, served) = self.call("getOpenApiByService", &path, None, |r| r).await;
            assert_eq!(
                (status, &served),
                (200, &self.spec),
                "{}: {path}",
                self.name
            );
        }
    }

    /// Every route the router's source declares under `/api/` is in the
    /// document with the same method, and the other way round.
    fn matches_router(&self, router_source: &str) {
        let routed = routes_in(router_source);
        let documented: BTreeSet<(String, String)> = self
            .operations()
            .into_iter()
            .map(|(_, method, path)| (method, path))
            .collect();
        let undocumented: Vec<_> = routed.difference(&documented).collect();
        assert!(
            undocumented.is_empty(),
            "{}: routes the service serves that its OpenAPI document does not describe: {undocumented:?}",
            self.name
        );
        let unrouted: Vec<_> = documented.difference(&routed).collect();
        assert!(
            unrouted.is_empty(),
            "{}: operations in the document that the service does not route: {unrouted:?}",
            self.name
        );
    }

    /// Every operation of the document was called.
    fn all_called(&self) {
        let called = self.called.lock().unwrap();
        let missed: Vec<String> = self
            .operations()
            .into_iter()
            .map(|(id, _, _)| id)
            .filter(|id| !called.contains(id))
            .collect();
        assert!(
            missed.is_empty(),
            "{}: operations this test never called: {missed:?}",
            self.name
        );
    }

    /// The request body schema of operation `id`.
    fn request_schema(&self, id: &str) -> Value {
        let (_, op) = self.operation(id);
        let schema = op["requestBody"]["content"]["application/json"]["schema"].clone();
        self.resolve(&schema)
    }

    fn resolve(&self, schema: &Value) -> Value {
        match schema["$ref"].as_str() {
            Some(reference) => {
                let name = reference.trim_start_matches("#/components/schemas/");
                self.resolve(&self.spec["components"]["schemas"][name])
            }
            None => schema.clone(),
        }
    }
}

/// `(METHOD, path)` of every `.route("/api/…", get(…).post(…))` in a
/// router's source (and the OpenAPI document's own route).
fn routes_in(source: &str) -> BTreeSet<(String, String)> {
    let mut routes = BTreeSet::new();
    for (at, _) in source.match_indices(".route(") {
        let rest = &source[at + ".route(".len()..];
        let rest = rest.trim_start();
        let (path, after) = if let Some(quoted) = rest.strip_prefix('"') {
            let end = quoted.find('"').unwrap();
            (quoted[..end].to_owned(), &quoted[end + 1..])
        } else if let Some(after) = rest.strip_prefix("pf_web::OPENAPI_PATH") {
            (pf_web::OPENAPI_PATH.to_owned(), after)
        } else {
            continue;
        };
        if !path.starts_with("/api/") {
            continue;
        }
        // The handlers up to the end of this `.route(…)` call.
        let mut depth = 1;
        let mut end = 0;
        for (i, c) in after.char_indices() {
            match c {
                '(' => depth += 1,
                ')' => {
                    depth -= 1;
                    if depth == 0 {
                        end = i;
                        break;
                    }
                }
                _ => {}
            }
        }
        let handlers = &after[..end];
        for method in ["get", "post", "put", "patch", "delete"] {
            let called = handlers.match_indices(&format!("{method}(")).any(|(i, _)| {
                i == 0
                    || !handlers[..i]
                        .chars()
                        .last()
                        .is_some_and(|c| c.is_alphanumeric() || c == '_')
            });
            if called {
                routes.insert((method.to_uppercase(), path.clone()));
            }
        }
    }
    assert!(
        !routes.is_empty(),
        "no /api/ routes found in the router's source"
    );
    routes
}

fn bed_publisher(trust: &str) -> Principal {
    Principal::machine(format!("pas-{trust}"), format!("PAS of {trust}"), None)
        .with_grant(Grant::parse(Role::BedPublisher, &[trust]).unwrap())
}

fn coordinator(id: &str, ods: &str) -> Principal {
    Principal::person(id, format!("Coordinator {id}"), None)
        .with_grant(Grant::parse(Role::DischargeCoordinator, &[ods]).unwrap())
}

fn editor(id: &str, homes: &[&str]) -> Principal {
    Principal::person(id, format!("Editor {id}"), None)
        .with_grant(Grant::parse(Role::CareHomeEditor, homes).unwrap())
}

/// A token of `principal` that expired two hours ago.
fn expired(issuer: &LocalIssuer, principal: &Principal) -> String {
    issuer
        .issue_at(
            principal,
            SystemTime::now() - Duration::from_secs(2 * 3600),
            Duration::from_secs(600),
        )
        .unwrap()
}

/// A well-formed token from an issuer nobody trusts.
fn forged(principal: &Principal) -> String {
    let other = LocalIssuer::new(
        pf_access::Mode::Development,
        pf_access::LocalIssuerConfig {
            issuer: "https://someone-else.example".into(),
            ..Default::default()
        },
    )
    .unwrap();
    other.issue(principal, Duration::from_secs(600)).unwrap()
}

/// The same hostile credentials for every operation: none, garbage, an
/// expired token and one from an untrusted issuer; each must be a listed
/// refusal (401).
async fn hostile_credentials(api: &Api, issuer: &LocalIssuer, id: &str, path: &str) {
    let someone = demo("demo-system-admin");
    for token in [
        None,
        Some("not-a-token".to_owned()),
        Some(expired(issuer, &someone)),
        Some(forged(&someone)),
    ] {
        let (status, body) = api.call(id, path, token.as_deref(), |r| r).await;
        assert_eq!(status, 401, "{} {id} with {token:?}: {body}", api.name);
    }
}

/// Arbitrary JSON, nested a little: the hostile part of generated bodies.
fn any_json() -> impl Strategy<Value = Value> {
    use proptest::prelude::*;
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| json!(f)),
        ".{0,40}".prop_map(Value::String),
        "[a-z_]{0,12}".prop_map(Value::String),
    ];
    leaf.prop_recursive(2, 8, 3, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..3).prop_map(Value::Array),
            proptest::collection::btree_map("[a-z_]{1,8}", inner, 0..3)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Values that fit one property's schema (its enum or examples, or its
/// type), to mix with hostile ones.
fn fitting(schema: &Value) -> Vec<Value> {
    let mut out = Vec::new();
    for key in ["enum", "examples"] {
        if let Some(values) = schema[key].as_array() {
            out.extend(values.iter().cloned());
        }
    }
    let types: Vec<&str> = match &schema["type"] {
        Value::String(t) => vec![t.as_str()],
        Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    for t in types {
        match t {
            "string" => out.extend([json!(""), json!("a"), json!("2026-12-01T09:00:00Z")]),
            "integer" => out.extend([json!(0), json!(1), json!(-1)]),
            "number" => out.extend([json!(0.5), json!(30)]),
            "boolean" => out.extend([json!(true), json!(false)]),
            "null" => out.push(Value::Null),
            "array" => out.push(json!([])),
            _ => {}
        }
    }
    if out.is_empty() {
        out.push(json!("a"));
    }
    out
}

/// Request bodies generated from an object schema: each documented
/// property absent, a fitting value or any JSON, and sometimes a property
/// the schema does not have.
fn bodies_of(api: &Api, schema: &Value) -> impl Strategy<Value = Value> {
    use proptest::prelude::*;
    let properties: Vec<(String, Vec<Value>)> = schema["properties"]
        .as_object()
        .map(|p| {
            p.iter()
                .map(|(name, s)| {
                    let s = api.resolve(s);
                    let mut values = fitting(&s);
                    if let Some(any) = s["anyOf"].as_array() {
                        for alternative in any {
                            values.extend(fitting(&api.resolve(alternative)));
                        }
                    }
                    (name.clone(), values)
                })
                .collect()
        })
        .unwrap_or_default();
    let fields: Vec<BoxedStrategy<Option<(String, Value)>>> = properties
        .into_iter()
        .map(|(name, values)| {
            let fitting = proptest::sample::select(values);
            let name2 = name.clone();
            prop_oneof![
                2 => Just(None),
                5 => fitting.prop_map(move |v| Some((name.clone(), v))),
                2 => any_json().prop_map(move |v| Some((name2.clone(), v))),
            ]
            .boxed()
        })
        .collect();
    let extra = proptest::option::weighted(0.15, ("[a-z]{1,10}", any_json()));
    (fields, extra).prop_map(|(fields, extra)| {
        let mut object = serde_json::Map::new();
        for (name, value) in fields.into_iter().flatten() {
            object.insert(name, value);
        }
        if let Some((name, value)) = extra {
            object.entry(name).or_insert(value);
        }
        Value::Object(object)
    })
}

/// Sends `count` bodies generated from operation `id`'s request schema;
/// every answer must be one the document lists (checked by `call`), and
/// none a server error other than a listed 503.
async fn generated_bodies(api: &Api, id: &str, path: &str, token: &str, count: usize, seed: u8) {
    let schema = api.request_schema(id);
    let strategy = bodies_of(api, &schema);
    let mut runner = TestRunner::new_with_rng(
        proptest::test_runner::Config::default(),
        proptest::test_runner::TestRng::from_seed(
            proptest::test_runner::RngAlgorithm::ChaCha,
            &[seed; 32],
        ),
    );
    for _ in 0..count {
        let body = strategy.new_tree(&mut runner).unwrap().current();
        let (status, answer) = api.json(id, path, Some(token), body.clone()).await;
        assert!(
            status < 500,
            "{} {id}: {status} for the generated body {body}: {answer}",
            api.name
        );
    }
}

/// The bed API: every operation, valid and hostile.
async fn beds(platform: &Platform) -> Api {
    let api = Api::new("hospital-beds", BEDS_DOC, &platform.beds_url);
    api.matches_router(BEDS_ROUTER);
    api.served_document().await;
    let publisher = platform.token_for(&bed_publisher("RWE"));
    let rwe = Some(publisher.as_str());
    // A publisher of another trust (the test catalogue's beds are all UHL's).
    let rt5 = platform.token_for(&bed_publisher("RT5"));
    let issuer = &platform.issuer;

    let (status, body) = api.call("listSites", "/api/v1/sites", rwe, |r| r).await;
    assert_eq!(status, 200, "{body}");
    hostile_credentials(&api, issuer, "listSites", "/api/v1/sites").await;

    let bed = "/api/v1/beds/RWEAA/WD15/B18";
    let (status, body) = api
        .json("openBed", &format!("{bed}/open"), rwe, json!({}))
        .await;
    assert_eq!(status, 201, "{body}");
    let (status, _) = api
        .json("openBed", &format!("{bed}/open"), rwe, json!({}))
        .await;
    assert_eq!(status, 409, "already open");
    let (status, _) = api.call("getBed", bed, rwe, |r| r).await;
    assert_eq!(status, 200);
    for (path, expected) in [
        ("/api/v1/beds/ZZZ99/WD15/B18", 404),
        ("/api/v1/beds/RWEAA/NOWARD/B18", 404),
        ("/api/v1/beds/RWEAA/WD15/B999", 404),
        ("/api/v1/beds/RWEAA/WD15/%3Cscript%3E", 400),
    ] {
        let (status, body) = api.call("getBed", path, rwe, |r| r).await;
        assert_eq!(status, expected, "{path}: {body}");
    }
    let (status, _) = api.call("getBed", bed, Some(&rt5), |r| r).await;
    assert_eq!(status, 403, "another trust's bed");
    hostile_credentials(&api, issuer, "getBed", bed).await;

    let state = format!("{bed}/state");
    for (body, expected) in [
        (json!({"state": "occupied", "reason": "admitted"}), 200),
        (json!({"state": "closed"}), 409),
        (json!({"state": "flying"}), 422),
        (json!({"state": 5}), 400),
        (json!({}), 400),
        (json!({"state": "available", "colour": "red"}), 400),
        (
            json!({"state": "available", "reason": "x".repeat(600)}),
            422,
        ),
        (json!({"state": "available", "reason": "a\u{7}b"}), 422),
        (
            json!({"state": "available", "occurred_at": "yesterday"}),
            422,
        ),
        (
            json!({"state": "available", "occurred_at": "2999-01-01T00:00:00Z"}),
            422,
        ),
        (json!([1, 2]), 400),
        (
            json!({"state": "awaiting_clean", "occurred_at": "2026-12-01T09:00:00Z"}),
            200,
        ),
    ] {
        let (status, answer) = api.json("setBedState", &state, rwe, body.clone()).await;
        assert_eq!(status, expected, "{body}: {answer}");
    }
    let (status, _) = api
        .raw("setBedState", &state, rwe, "application/json", "")
        .await;
    assert_eq!(status, 400, "no body");
    let (status, _) = api
        .raw("setBedState", &state, rwe, "application/json", "{")
        .await;
    assert_eq!(status, 400, "not JSON");
    // The body is read as JSON whatever its declared type (documented).
    let (status, _) = api
        .raw(
            "setBedState",
            &state,
            rwe,
            "text/plain",
            r#"{"state":"available"}"#,
        )
        .await;
    assert_eq!(status, 200);
    let (status, _) = api
        .raw("setBedState", &state, rwe, "application/json", oversize())
        .await;
    assert_eq!(status, 413);
    let (status, _) = api
        .json(
            "setBedState",
            &state,
            Some(&rt5),
            json!({"state": "occupied"}),
        )
        .await;
    assert_eq!(status, 403, "another trust's bed");
    hostile_credentials(&api, issuer, "setBedState", &state).await;
    generated_bodies(&api, "setBedState", &state, &publisher, 40, 1).await;

    let withdraw = format!("{bed}/withdraw");
    // Whatever the generated bodies left it in, make it occupied.
    let _ = api
        .json("setBedState", &state, rwe, json!({"state": "occupied"}))
        .await;
    let (status, _) = api.json("withdrawBed", &withdraw, rwe, json!({})).await;
    assert_eq!(status, 409, "an occupied bed cannot be withdrawn");
    for next in ["awaiting_clean", "available"] {
        let (status, _) = api
            .json("setBedState", &state, rwe, json!({"state": next}))
            .await;
        assert_eq!(status, 200);
    }
    let (status, _) = api
        .json("withdrawBed", &withdraw, rwe, json!({"reason": 7}))
        .await;
    assert_eq!(status, 400);
    let (status, _) = api
        .raw(
            "withdrawBed",
            &withdraw,
            rwe,
            "application/json",
            oversize(),
        )
        .await;
    assert_eq!(status, 413);
    let (status, body) = api
        .raw("withdrawBed", &withdraw, rwe, "application/json", "")
        .await;
    assert_eq!(status, 200, "no body is fine: {body}");
    let (status, _) = api.json("withdrawBed", &withdraw, rwe, json!({})).await;
    assert_eq!(status, 409, "already withdrawn");
    let (status, _) = api
        .json("withdrawBed", &withdraw, Some(&rt5), json!({}))
        .await;
    assert_eq!(status, 403);
    hostile_credentials(&api, issuer, "withdrawBed", &withdraw).await;
    let open = format!("{bed}/open");
    let (status, _) = api
        .json("openBed", &open, rwe, json!({"reason": ["x"]}))
        .await;
    assert_eq!(status, 400);
    let (status, _) = api
        .json(
            "openBed",
            "/api/v1/beds/RWEAA/WD15/B999/open",
            rwe,
            json!({}),
        )
        .await;
    assert_eq!(status, 404);
    let (status, _) = api
        .raw("openBed", &open, rwe, "application/json", oversize())
        .await;
    assert_eq!(status, 413);
    hostile_credentials(&api, issuer, "openBed", &open).await;
    generated_bodies(
        &api,
        "openBed",
        "/api/v1/beds/RWEAA/WD15/B17/open",
        &publisher,
        20,
        2,
    )
    .await;
    api.all_called();
    api
}

/// The care-home and discharge APIs together: a hold placed through one is
/// answered through the other.
async fn care_homes_and_discharges(platform: &Platform) -> (Api, Api) {
    let homes = Api::new("care-homes", CARE_HOMES_DOC, &platform.care_homes_url);
    homes.matches_router(CARE_HOMES_ROUTER);
    homes.served_document().await;
    let discharges = Api::new("discharges", DISCHARGES_DOC, &platform.discharges_url);
    discharges.matches_router(DISCHARGES_ROUTER);
    discharges.served_document().await;
    let issuer = &platform.issuer;

    // Care homes.
    let editor_a = platform.token_for(&editor("ed-a", &[HOME_A]));
    let ed = Some(editor_a.as_str());
    let viewer = Some(platform.viewer_token.as_str());
    let (status, _) = homes
        .call("listHomes", "/api/v1/care-homes", ed, |r| r)
        .await;
    assert_eq!(status, 200);
    let (status, _) = homes
        .call("listHomes", "/api/v1/care-homes", viewer, |r| r)
        .await;
    assert_eq!(status, 403);
    hostile_credentials(&homes, issuer, "listHomes", "/api/v1/care-homes").await;
    let export = "/api/v1/care-homes/capacity-tracker.csv";
    let (status, _) = homes.call("exportCapacityTracker", export, ed, |r| r).await;
    assert_eq!(status, 200);
    let (status, _) = homes
        .call("exportCapacityTracker", export, viewer, |r| r)
        .await;
    assert_eq!(status, 403);
    hostile_credentials(&homes, issuer, "exportCapacityTracker", export).await;
    let home_a = format!("/api/v1/care-homes/{HOME_A}");
    for (path, expected) in [
        (home_a.clone(), 200),
        (format!("/api/v1/care-homes/{HOME_B}"), 403),
        ("/api/v1/care-homes/1-999999999".to_owned(), 403),
    ] {
        let (status, body) = homes.call("getHome", &path, ed, |r| r).await;
        assert_eq!(status, expected, "{path}: {body}");
    }
    let admin = platform.token_for(&demo("demo-system-admin"));
    let (status, _) = homes
        .call(
            "getHome",
            "/api/v1/care-homes/1-999999999",
            Some(&admin),
            |r| r,
        )
        .await;
    assert_eq!(status, 404);
    let (status, _) = homes
        .call(
            "getHome",
            "/api/v1/care-homes/not-a-home",
            Some(&admin),
            |r| r,
        )
        .await;
    assert_eq!(status, 404);
    hostile_credentials(&homes, issuer, "getHome", &home_a).await;

    let vacancies = format!("{home_a}/vacancies");
    let report =
        json!({"vacancies": {"residential": {"vacant": 3}, "residential_dementia": {"vacant": 1}}});
    let put = |key: &'static str, body: Value| {
        let vacancies = vacancies.clone();
        let homes = &homes;
        let editor_a = editor_a.clone();
        async move {
            homes
                .call("reportVacancies", &vacancies, Some(&editor_a), move |r| {
                    r.header("Idempotency-Key", key).json(&body)
                })
                .await
        }
    };
    let (status, body) = put("oa-key-0001", report.clone()).await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = put("oa-key-0001", report.clone()).await;
    assert_eq!(
        (status, body["saved"]["replayed"].clone()),
        (200, json!(true))
    );
    let (status, _) = put(
        "oa-key-0001",
        json!({"vacancies": {"residential": {"vacant": 2}, "residential_dementia": {"vacant": 1}}}),
    )
    .await;
    assert_eq!(status, 409, "the key was used for another update");
    // Schema-valid, but for categories this home is not registered for.
    let (status, body) = put(
        "oa-key-0002",
        json!({"vacancies": {"nursing": {"vacant": 2}}}),
    )
    .await;
    assert_eq!(status, 422, "{body}");
    let (status, _) = put("oa-key-0003", json!({"vacancies": {"residential": {"vacant": -1}, "residential_dementia": {"vacant": 1}}})).await;
    assert_eq!(status, 422);
    let (status, _) = put(
        "oa-key-0004",
        json!({"vacancies": {"residential": {"vacant": true}}}),
    )
    .await;
    assert_eq!(status, 422, "a boolean is not a number of beds");
    let (status, _) = put("oa-key-0005", json!({"vacancies": {}, "colour": "red"})).await;
    assert_eq!(status, 400);
    let (status, _) = put("oa-key-0006", json!({"closed_to_admissions": true})).await;
    assert_eq!(status, 400, "vacancies missing");
    let (status, _) = homes
        .call("reportVacancies", &vacancies, ed, |r| r.json(&report))
        .await;
    assert_eq!(status, 400, "no Idempotency-Key");
    let (status, _) = homes
        .call("reportVacancies", &vacancies, ed, |r| {
            r.header("Idempotency-Key", "oa-key-0007")
                .header("Content-Type", "text/plain")
                .body(report.to_string())
        })
        .await;
    assert_eq!(status, 400, "wrong content type");
    let (status, _) = homes
        .call("reportVacancies", &vacancies, ed, |r| {
            r.header("Idempotency-Key", "oa-key-0008")
                .header("Content-Type", "application/json")
                .body(oversize())
        })
        .await;
    assert_eq!(status, 413);
    let (status, _) = homes
        .call(
            "reportVacancies",
            &format!("/api/v1/care-homes/{HOME_B}/vacancies"),
            ed,
            |r| r.header("Idempotency-Key", "oa-key-0009").json(&report),
        )
        .await;
    assert_eq!(status, 403, "another home");
    hostile_credentials(&homes, issuer, "reportVacancies", &vacancies).await;
    // Generated bodies, each with a new key.
    {
        let schema = homes.request_schema("reportVacancies");
        let strategy = bodies_of(&homes, &schema);
        let mut runner = TestRunner::deterministic();
        // Its own identity: the generated updates use up its write budget.
        let generator = platform.token_for(&editor("ed-generated", &[HOME_A]));
        let ed = Some(generator.as_str());
        for n in 0..40 {
            let body = strategy.new_tree(&mut runner).unwrap().current();
            let key = format!("oa-generated-{n:04}");
            let (status, answer) = homes
                .call("reportVacancies", &vacancies, ed, |r| {
                    r.header("Idempotency-Key", key.clone()).json(&body)
                })
                .await;
            assert!(status < 500, "{status} for {body}: {answer}");
        }
    }
    let confirmation = format!("{home_a}/confirmation");
    let (status, _) = homes
        .call("confirmUnchanged", &confirmation, ed, |r| {
            r.header("Idempotency-Key", "oa-key-0100")
        })
        .await;
    assert_eq!(status, 200);
    let (status, _) = homes
        .call("confirmUnchanged", &confirmation, ed, |r| r)
        .await;
    assert_eq!(status, 400);
    let (status, _) = homes
        .call("confirmUnchanged", &confirmation, ed, |r| {
            r.header("Idempotency-Key", "no")
        })
        .await;
    assert_eq!(status, 400, "a malformed key");
    hostile_credentials(&homes, issuer, "confirmUnchanged", &confirmation).await;
    // Leave HOME_A with three free residential beds for the holds below.
    let (status, body) = put("oa-key-0200", report.clone()).await;
    assert_eq!(status, 200, "{body}");

    // Discharges.
    let rwe = platform.token_for(&coordinator("co-rwe", "RWE"));
    let rt5 = platform.token_for(&coordinator("co-rt5", "RT5"));
    let co = Some(rwe.as_str());
    // Generated requests use up a write budget: their own identity.
    let generator = platform.token_for(&coordinator("co-generated", "RWE"));
    let referral = |n: u32| {
        json!({
            "nhs_number": NhsNumber::test_number(n).as_str(),
            "sex": "female",
            "site": "RWEAA",
            "ward": "WD15",
            "discharge_ready_date": "2026-11-27",
            "pathway": 3,
            "care_needed": "residential",
            "search_postcode": "LE2 7LX",
            "delay_reason": "awaiting_care_home_place",
            "needs": "Walks with a frame"
        })
    };
    let list = "/api/v1/discharges";
    let (status, first) = discharges
        .json("createDischarge", list, co, referral(1))
        .await;
    assert_eq!(status, 201, "{first}");
    let (status, second) = discharges
        .json("createDischarge", list, co, referral(2))
        .await;
    assert_eq!(status, 201, "{second}");
    let first = first["discharge_id"].as_str().unwrap().to_owned();
    let second = second["discharge_id"].as_str().unwrap().to_owned();
    for (body, expected) in [
        (json!({}), 422),
        (json!({"site": "ZZZ"}), 422),
        (json!({"site": "RWEAA", "nhs_number": [1, 2]}), 422),
        (json!({"site": "RWEAA", "pathway": "nine"}), 422),
        (json!({"site": "RWEAA", "surname": "Smith"}), 400),
        (json!("a string"), 400),
    ] {
        let (status, answer) = discharges
            .json("createDischarge", list, co, body.clone())
            .await;
        assert_eq!(status, expected, "{body}: {answer}");
    }
    let (status, _) = discharges
        .raw(
            "createDischarge",
            list,
            co,
            "text/plain",
            referral(3).to_string(),
        )
        .await;
    assert_eq!(status, 400, "wrong content type");
    let (status, _) = discharges
        .raw("createDischarge", list, co, "application/json", oversize())
        .await;
    assert_eq!(status, 413);
    let (status, _) = discharges
        .json("createDischarge", list, Some(&rt5), referral(4))
        .await;
    assert_eq!(status, 403, "another trust's site");
    hostile_credentials(&discharges, issuer, "createDischarge", list).await;
    generated_bodies(&discharges, "createDischarge", list, &generator, 40, 3).await;

    let (status, _) = discharges.call("listDischarges", list, co, |r| r).await;
    assert_eq!(status, 200);
    let (status, _) = discharges.call("listDischarges", list, viewer, |r| r).await;
    assert_eq!(status, 403);
    hostile_credentials(&discharges, issuer, "listDischarges", list).await;

    let one = format!("{list}/{first}");
    for (path, token, expected) in [
        (one.clone(), co, 200),
        (one.clone(), Some(rt5.as_str()), 403),
        (format!("{list}/{}", uuid::Uuid::now_v7()), co, 404),
        (format!("{list}/not-a-uuid"), co, 404),
    ] {
        let (status, body) = discharges.call("openDischarge", &path, token, |r| r).await;
        assert_eq!(status, expected, "{path}: {body}");
    }
    hostile_credentials(&discharges, issuer, "openDischarge", &one).await;

    // The projection must have the home's figures before matching.
    let matches = format!("{one}/matches");
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let (status, body) = discharges.call("matchCareHomes", &matches, co, |r| r).await;
        assert_eq!(status, 200, "{body}");
        if body["homes"].as_array().is_some_and(|h| !h.is_empty()) {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "no match for {one}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for (query, expected) in [
        ("?radius_km=5", 200),
        ("?radius_km=abc", 400),
        ("?radius_km=NaN", 400),
        ("?radius_km=inf", 400),
    ] {
        let (status, body) = discharges
            .call("matchCareHomes", &format!("{matches}{query}"), co, |r| r)
            .await;
        assert_eq!(status, expected, "{query}: {body}");
    }
    let (status, _) = discharges
        .call("matchCareHomes", &matches, Some(&rt5), |r| r)
        .await;
    assert_eq!(status, 403);
    hostile_credentials(&discharges, issuer, "matchCareHomes", &matches).await;

    let holds = format!("{one}/holds");
    for (body, expected) in [
        (json!({}), 400),
        (json!({"cqc_location_id": 5}), 400),
        (json!({"cqc_location_id": "nope"}), 404),
        (
            json!({"cqc_location_id": HOME_A, "category": "flying"}),
            422,
        ),
        (
            json!({"cqc_location_id": HOME_A, "category": "nursing"}),
            422,
        ),
        (json!({"cqc_location_id": HOME_A}), 201),
        (json!({"cqc_location_id": HOME_A}), 409),
    ] {
        let (status, answer) = discharges.json("holdBed", &holds, co, body.clone()).await;
        assert_eq!(status, expected, "{body}: {answer}");
    }
    let (status, _) = discharges
        .json(
            "holdBed",
            &holds,
            Some(&rt5),
            json!({"cqc_location_id": HOME_A}),
        )
        .await;
    assert_eq!(status, 403);
    let (status, _) = discharges
        .raw("holdBed", &holds, co, "application/json", oversize())
        .await;
    assert_eq!(status, 413);
    hostile_credentials(&discharges, issuer, "holdBed", &holds).await;
    let (_, opened) = discharges.call("openDischarge", &one, co, |r| r).await;
    let hold_id = opened["hold"]["hold_id"].as_str().unwrap().to_owned();

    // The home answers through the care-home API.
    let answer = |verb: &str| format!("{home_a}/holds/{hold_id}/{verb}");
    let (status, _) = homes
        .json("answerHold", &answer("maybe"), ed, json!({}))
        .await;
    assert_eq!(status, 404, "an answer other than accept or decline");
    let (status, _) = homes
        .json(
            "answerHold",
            &format!("{home_a}/holds/no-such-hold/accept"),
            ed,
            json!({}),
        )
        .await;
    assert_eq!(status, 404);
    let (status, _) = homes
        .json("answerHold", &answer("decline"), ed, json!({"reason": 5}))
        .await;
    assert_eq!(status, 400);
    let (status, _) = homes
        .json(
            "answerHold",
            &answer("decline"),
            ed,
            json!({"reason": "x".repeat(201)}),
        )
        .await;
    assert_eq!(status, 400);
    let (status, _) = homes
        .raw("answerHold", &answer("decline"), ed, "text/plain", "{}")
        .await;
    assert_eq!(status, 400);
    let editor_b = platform.token_for(&editor("ed-b", &[HOME_B]));
    let (status, _) = homes
        .json("answerHold", &answer("accept"), Some(&editor_b), json!({}))
        .await;
    assert_eq!(status, 403, "another home's editor");
    hostile_credentials(&homes, issuer, "answerHold", &answer("accept")).await;
    let (status, body) = homes
        .raw("answerHold", &answer("accept"), ed, "application/json", "")
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, _) = homes
        .raw("answerHold", &answer("accept"), ed, "application/json", "")
        .await;
    assert_eq!(status, 400, "already accepted");

    let release = |hold: &str| format!("{one}/holds/{hold}/release");
    let (status, _) = discharges
        .json("releaseHold", &release("no-such-hold"), co, json!({}))
        .await;
    assert_eq!(status, 404);
    let (status, _) = discharges
        .json(
            "releaseHold",
            &release(&hold_id),
            co,
            json!({"reason": "NHS number 943 476 5919"}),
        )
        .await;
    assert_eq!(
        status, 422,
        "an identifier in a reason shared with the home"
    );
    let (status, _) = discharges
        .json("releaseHold", &release(&hold_id), co, json!({"why": "x"}))
        .await;
    assert_eq!(status, 400);
    let (status, _) = discharges
        .json("releaseHold", &release(&hold_id), Some(&rt5), json!({}))
        .await;
    assert_eq!(status, 403);
    hostile_credentials(&discharges, issuer, "releaseHold", &release(&hold_id)).await;

    let delay = format!("{one}/delay-reason");
    for (body, expected) in [
        (json!({"delay_reason": "awaiting_care_home_place"}), 200),
        (json!({"delay_reason": "bored"}), 422),
        (json!({"delay_reason": 3}), 400),
        (json!({}), 400),
    ] {
        let (status, answer) = discharges
            .json("setDelayReason", &delay, co, body.clone())
            .await;
        assert_eq!(status, expected, "{body}: {answer}");
    }
    hostile_credentials(&discharges, issuer, "setDelayReason", &delay).await;
    generated_bodies(&discharges, "setDelayReason", &delay, &generator, 20, 4).await;

    let discharge = format!("{one}/discharge");
    for (body, expected) in [
        (json!({"destination": "the moon"}), 422),
        (json!({}), 400),
        (
            json!({"destination": "care_home", "destination_home": HOME_B}),
            409,
        ),
        (
            json!({"destination": "care_home", "destination_home": HOME_A}),
            200,
        ),
        (json!({"destination": "usual_residence"}), 409),
    ] {
        let (status, answer) = discharges
            .json("confirmDischarge", &discharge, co, body.clone())
            .await;
        assert_eq!(status, expected, "{body}: {answer}");
    }
    hostile_credentials(&discharges, issuer, "confirmDischarge", &discharge).await;
    // The hold ended with the discharge.
    let (status, _) = discharges
        .json("releaseHold", &release(&hold_id), co, json!({}))
        .await;
    assert_eq!(status, 404);
    let (status, _) = discharges
        .json("holdBed", &holds, co, json!({"cqc_location_id": HOME_A}))
        .await;
    assert_eq!(status, 409, "the patient no longer waits");

    // A second patient: hold, release, cancel.
    let two = format!("{list}/{second}");
    let (status, held) = discharges
        .json(
            "holdBed",
            &format!("{two}/holds"),
            co,
            json!({"cqc_location_id": HOME_A}),
        )
        .await;
    assert_eq!(status, 201, "{held}");
    let hold = held["hold_id"].as_str().unwrap();
    let (status, _) = discharges
        .raw(
            "releaseHold",
            &format!("{two}/holds/{hold}/release"),
            co,
            "application/json",
            "",
        )
        .await;
    assert_eq!(status, 200);
    let cancel = format!("{two}/cancel");
    let (status, _) = discharges
        .json("cancelDischarge", &cancel, co, json!({"reason": 1}))
        .await;
    assert_eq!(status, 400);
    let (status, _) = discharges
        .json("cancelDischarge", &cancel, Some(&rt5), json!({}))
        .await;
    assert_eq!(status, 403);
    let (status, _) = discharges
        .raw(
            "cancelDischarge",
            &cancel,
            co,
            "application/json",
            oversize(),
        )
        .await;
    assert_eq!(status, 413);
    hostile_credentials(&discharges, issuer, "cancelDischarge", &cancel).await;
    let (status, body) = discharges
        .json(
            "cancelDischarge",
            &cancel,
            co,
            json!({"reason": "went home"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, _) = discharges
        .json("cancelDischarge", &cancel, co, json!({}))
        .await;
    assert_eq!(status, 409, "no longer waits");
    let (status, _) = discharges
        .json(
            "cancelDischarge",
            &format!("{list}/{}/cancel", uuid::Uuid::now_v7()),
            co,
            json!({}),
        )
        .await;
    assert_eq!(status, 404);

    // What a trust's PAS says through its ADT feed (RWE's bed publisher).
    let (status, third) = discharges
        .json("createDischarge", list, co, referral(9))
        .await;
    assert_eq!(status, 201, "{third}");
    platform.wait_until_projected().await;
    let feed = platform.token_for(&bed_publisher("RWE"));
    let pas = Some(feed.as_str());
    let other_feed = platform.token_for(&bed_publisher("RT5"));
    let nine = NhsNumber::test_number(9).as_str().to_owned();
    let discharged = "/api/v1/discharges/pas/discharged";
    let body = |nhs: &str, org: &str| {
        json!({"nhs_number": nhs, "organisation": org,
               "discharged_at": "2026-11-28T10:00:00Z", "destination": "usual_residence"})
    };
    for (token, request, expected) in [
        (co, body(&nine, "RWE"), 403),
        (Some(other_feed.as_str()), body(&nine, "RWE"), 403),
        (pas, body(&nine, "RT5"), 403),
        (pas, body("943 476 5918", "RWE"), 422),
        (pas, body(&nine, "not an ods code"), 422),
        (pas, json!({"nhs_number": nine, "organisation": "RWE"}), 400),
        (
            pas,
            json!({"nhs_number": nine, "organisation": "RWE",
                     "discharged_at": "yesterday"}),
            422,
        ),
        (
            pas,
            json!({"nhs_number": nine, "organisation": "RWE",
                     "discharged_at": "2026-11-28T10:00:00Z", "destination": "moon"}),
            422,
        ),
        (pas, body(NhsNumber::test_number(10).as_str(), "RWE"), 404),
        (pas, body(&nine, "RWE"), 200),
    ] {
        let (status, answer) = discharges
            .json("recordPasDischarge", discharged, token, request.clone())
            .await;
        assert_eq!(status, expected, "{request}: {answer}");
        assert!(!answer.to_string().contains(&nine[..6]), "{answer}");
    }
    let (status, _) = discharges
        .raw(
            "recordPasDischarge",
            discharged,
            pas,
            "application/json",
            oversize(),
        )
        .await;
    assert_eq!(status, 413);
    hostile_credentials(&discharges, issuer, "recordPasDischarge", discharged).await;
    generated_bodies(&discharges, "recordPasDischarge", discharged, &feed, 20, 5).await;
    platform.wait_until_projected().await;
    let cancelled = "/api/v1/discharges/pas/discharge-cancelled";
    for (token, request, expected) in [
        (co, json!({"nhs_number": nine, "organisation": "RWE"}), 403),
        (pas, json!({"nhs_number": nine}), 400),
        (pas, json!({"nhs_number": "1", "organisation": "RWE"}), 422),
        (
            pas,
            json!({"nhs_number": NhsNumber::test_number(10).as_str(), "organisation": "RWE"}),
            404,
        ),
        (pas, json!({"nhs_number": nine, "organisation": "RWE"}), 200),
    ] {
        let (status, answer) = discharges
            .json("cancelPasDischarge", cancelled, token, request.clone())
            .await;
        assert_eq!(status, expected, "{request}: {answer}");
    }
    hostile_credentials(&discharges, issuer, "cancelPasDischarge", cancelled).await;
    generated_bodies(&discharges, "cancelPasDischarge", cancelled, &feed, 20, 6).await;
    homes.all_called();
    discharges.all_called();
    (homes, discharges)
}

/// The identity service's administration and audit API.
async fn identity(platform: &Platform, shutdown: &CancellationToken) -> Api {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let mut config = IdentityConfig::local(
        &platform.redis.url(),
        &platform.nats.url(),
        dashboards_dir(),
    );
    config.public_url = url.clone();
    config.control_room_url = format!("{}/control-room", platform.gateway_url);
    let service = Identity::build(config).await.unwrap();
    let issuer = service.issuer.clone().unwrap();
    tokio::spawn(service.serve(listener, shutdown.clone()));
    let api = Api::new("identity", IDENTITY_DOC, &url);
    api.matches_router(IDENTITY_ROUTER);
    api.served_document().await;
    let admin = issuer
        .issue(&demo("demo-system-admin"), Duration::from_secs(600))
        .unwrap();
    let ad = Some(admin.as_str());
    let viewer = issuer
        .issue(&demo("demo-control-room"), Duration::from_secs(600))
        .unwrap();
    let vw = Some(viewer.as_str());

    let (status, _) = api.call("whoAmI", "/api/v1/me", vw, |r| r).await;
    assert_eq!(status, 200);
    hostile_credentials(&api, &issuer, "whoAmI", "/api/v1/me").await;

    let links = "/api/v1/access/links";
    let person = json!({"name": "Sam Carer", "person_id": "sam.carer", "care_homes": [HOME_A]});
    for (token, body, expected) in [
        (ad, person.clone(), 201),
        (vw, person.clone(), 403),
        (ad, json!({}), 400),
        (
            ad,
            json!({"name": 5, "person_id": "x", "care_homes": []}),
            400,
        ),
        (
            ad,
            json!({"name": "x".repeat(101), "person_id": "x", "care_homes": [HOME_A]}),
            422,
        ),
        (
            ad,
            json!({"name": "Sam", "person_id": "sam", "care_homes": []}),
            422,
        ),
        (
            ad,
            json!({"name": "Sam", "person_id": "sam", "care_homes": ["not-cqc"]}),
            422,
        ),
        (
            ad,
            json!({"name": "Sam", "person_id": "has space", "care_homes": [HOME_A]}),
            422,
        ),
    ] {
        let (status, answer) = api
            .json("issueCareHomeLink", links, token, body.clone())
            .await;
        assert_eq!(status, expected, "{body}: {answer}");
    }
    let (status, _) = api
        .raw(
            "issueCareHomeLink",
            links,
            ad,
            "text/plain",
            person.to_string(),
        )
        .await;
    assert_eq!(status, 400, "wrong content type");
    let (status, _) = api
        .raw(
            "issueCareHomeLink",
            links,
            ad,
            "application/json",
            oversize(),
        )
        .await;
    assert_eq!(status, 413);
    hostile_credentials(&api, &issuer, "issueCareHomeLink", links).await;
    generated_bodies(&api, "issueCareHomeLink", links, &admin, 30, 5).await;

    let kiosks = "/api/v1/access/kiosks";
    let (status, _) = api.call("listKiosks", kiosks, ad, |r| r).await;
    assert_eq!(status, 200);
    let (status, _) = api.call("listKiosks", kiosks, vw, |r| r).await;
    assert_eq!(status, 403);
    hostile_credentials(&api, &issuer, "listKiosks", kiosks).await;
    let wall = json!({"kiosk_id": "oa-wall-1", "name": "Wall 1"});
    for (token, body, expected) in [
        (ad, wall.clone(), 201),
        (ad, wall.clone(), 409),
        (vw, json!({"kiosk_id": "oa-wall-2", "name": "Wall 2"}), 403),
        (ad, json!({"kiosk_id": "bad id!", "name": "Wall"}), 422),
        (ad, json!({"kiosk_id": 5}), 400),
        // (serde reads a struct from an array too: both fields absent.)
        (ad, json!([]), 422),
    ] {
        let (status, answer) = api.json("registerKiosk", kiosks, token, body.clone()).await;
        assert_eq!(status, expected, "{body}: {answer}");
    }
    let (status, _) = api
        .raw("registerKiosk", kiosks, ad, "application/json", "{")
        .await;
    assert_eq!(status, 400);
    hostile_credentials(&api, &issuer, "registerKiosk", kiosks).await;
    generated_bodies(&api, "registerKiosk", kiosks, &admin, 30, 6).await;
    let (status, _) = api.call("listKiosks", kiosks, ad, |r| r).await;
    assert_eq!(status, 200, "generated kiosks are listed");

    let devices = "/api/v1/access/devices";
    let (status, _) = api.call("listDevices", devices, ad, |r| r).await;
    assert_eq!(status, 200);
    let (status, _) = api.call("listDevices", devices, vw, |r| r).await;
    assert_eq!(status, 403);
    hostile_credentials(&api, &issuer, "listDevices", devices).await;
    let revoke_device = "/api/v1/access/devices/no-such-device/revoke";
    let (status, _) = api.call("revokeDevice", revoke_device, ad, |r| r).await;
    assert_eq!(status, 404);
    let (status, _) = api.call("revokeDevice", revoke_device, vw, |r| r).await;
    assert_eq!(status, 403);
    hostile_credentials(&api, &issuer, "revokeDevice", revoke_device).await;

    let link = "/api/v1/access/kiosks/oa-wall-1/link";
    let (status, _) = api.call("reissueKioskLink", link, ad, |r| r).await;
    assert_eq!(status, 201);
    let (status, _) = api
        .call(
            "reissueKioskLink",
            "/api/v1/access/kiosks/no-such-wall/link",
            ad,
            |r| r,
        )
        .await;
    assert_eq!(status, 404);
    let (status, _) = api.call("reissueKioskLink", link, vw, |r| r).await;
    assert_eq!(status, 403);
    hostile_credentials(&api, &issuer, "reissueKioskLink", link).await;

    let revoke = "/api/v1/access/revoke";
    for (token, body, expected) in [
        (ad, json!({"person_id": "sam.carer"}), 200),
        (ad, json!({"kiosk_id": "oa-wall-1"}), 200),
        (ad, json!({"person_id": "a", "kiosk_id": "b"}), 422),
        (ad, json!({}), 422),
        (ad, json!({"person_id": "x".repeat(129)}), 422),
        (ad, json!({"person_id": 5}), 400),
        (vw, json!({"person_id": "sam.carer"}), 403),
    ] {
        let (status, answer) = api.json("revokeAccess", revoke, token, body.clone()).await;
        assert_eq!(status, expected, "{body}: {answer}");
    }
    hostile_credentials(&api, &issuer, "revokeAccess", revoke).await;
    let (status, _) = api.call("reissueKioskLink", link, ad, |r| r).await;
    assert_eq!(status, 409, "a revoked kiosk");

    let reinstate = "/api/v1/access/reinstate";
    for (token, body, expected) in [
        (ad, json!({"person_id": "sam.carer"}), 200),
        (ad, json!({"kiosk_id": "oa-wall-1"}), 409),
        (ad, json!({}), 422),
        (ad, json!("x"), 400),
        (vw, json!({"person_id": "sam.carer"}), 403),
    ] {
        let (status, answer) = api
            .json("reinstateAccess", reinstate, token, body.clone())
            .await;
        assert_eq!(status, expected, "{body}: {answer}");
    }
    hostile_credentials(&api, &issuer, "reinstateAccess", reinstate).await;

    for (query, token, expected) in [
        ("", ad, 200),
        ("?format=csv", ad, 200),
        ("?person=demo-system-admin&limit=5", ad, 200),
        (
            "?from=2026-01-01T00:00:00Z&to=2999-01-01T00:00:00Z",
            ad,
            200,
        ),
        ("?format=xml", ad, 400),
        ("?from=yesterday", ad, 400),
        ("?limit=many", ad, 400),
        ("?limit=-1", ad, 400),
        ("", vw, 403),
    ] {
        let path = format!("/api/v1/audit{query}");
        let (status, answer) = api.call("queryAudit", &path, token, |r| r).await;
        assert_eq!(status, expected, "{query}: {answer}");
    }
    hostile_credentials(&api, &issuer, "queryAudit", "/api/v1/audit").await;
    api.all_called();
    api
}

/// The OPEL levels: the gateway's API for the wall and pf-pressure's own.
async fn opel(platform: &Platform, shutdown: &CancellationToken) -> (Api, Api) {
    let gateway = Api::new("gateway", GATEWAY_DOC, &platform.gateway_url);
    gateway.matches_router(GATEWAY_ROUTER);
    gateway.served_document().await;
    let issuer = &platform.issuer;
    let viewer = Some(platform.viewer_token.as_str());
    let (status, _) = gateway.call("getOpel", "/api/v1/opel", viewer, |r| r).await;
    assert_eq!(status, 200);
    let editor = platform.token_for(&editor("ed-opel", &[HOME_A]));
    let (status, _) = gateway
        .call("getOpel", "/api/v1/opel", Some(&editor), |r| r)
        .await;
    assert_eq!(
        status, 403,
        "a care-home editor does not see the control room"
    );
    hostile_credentials(&gateway, issuer, "getOpel", "/api/v1/opel").await;
    let (status, _) = gateway
        .call("getActions", "/api/v1/actions", viewer, |r| r)
        .await;
    assert_eq!(status, 200);
    let (status, _) = gateway
        .call("getActions", "/api/v1/actions", Some(&editor), |r| r)
        .await;
    assert_eq!(
        status, 403,
        "a care-home editor does not see the wall's actions"
    );
    hostile_credentials(&gateway, issuer, "getActions", "/api/v1/actions").await;
    gateway.all_called();

    let sign_in =
        pf_sign_in::SignInSettings::local(platform.issuer.issuer_config(), &platform.redis.url());
    let config =
        pf_pressure::PressureConfig::local(&platform.nats.url(), &platform.redis.url(), sign_in);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let catalogue =
        pf_hospital_model::Catalogue::from_json(pf_integration_tests::TEST_CATALOGUE).unwrap();
    tokio::spawn(pf_pressure::run(
        listener,
        config,
        catalogue,
        std::sync::Arc::new(pf_care_home_log::ManualClock::new(
            time::OffsetDateTime::now_utc(),
        )),
        shutdown.clone(),
    ));
    let pressure = Api::new("pressure", PRESSURE_DOC, &url);
    pressure.matches_router(PRESSURE_ROUTER);
    // Its API answers once it is serving.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while pressure
        .http
        .get(format!("{url}/readyz"))
        .send()
        .await
        .map_or(true, |r| !r.status().is_success())
    {
        assert!(
            std::time::Instant::now() < deadline,
            "pressure did not become ready"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    pressure.served_document().await;
    let (status, _) = pressure
        .call("getOpelBoard", "/api/v1/opel", viewer, |r| r)
        .await;
    assert_eq!(status, 200);
    let (status, _) = pressure
        .call("getOpelBoard", "/api/v1/opel", Some(&editor), |r| r)
        .await;
    assert_eq!(status, 403);
    hostile_credentials(&pressure, issuer, "getOpelBoard", "/api/v1/opel").await;
    pressure.all_called();
    (gateway, pressure)
}

/// The tasks API: every operation, valid and hostile.
async fn tasks(platform: &Platform) -> Api {
    let api = Api::new("tasks", TASKS_DOC, &platform.tasks_url);
    api.matches_router(TASKS_ROUTER);
    api.served_document().await;
    let issuer = &platform.issuer;
    let admin = platform.token_for(&demo("demo-system-admin"));
    let lead = platform.token_for(
        &Principal::person("lead-oa", "Lead", pf_access::OrgId::parse("QK1").ok())
            .with_grant(Grant::parse(Role::ControlRoomLead, &[]).unwrap()),
    );
    let co = platform.token_for(&coordinator("co-tasks", "RWE"));
    let teams = "/api/v1/teams/RWE";
    let (status, _) = api
        .json(
            "setTeams",
            teams,
            Some(&admin),
            json!({"teams": [{"name": "Site team", "description": ""}]}),
        )
        .await;
    assert_eq!(status, 200);
    let (status, _) = api
        .json("setTeams", teams, Some(&co), json!({"teams": []}))
        .await;
    assert_eq!(status, 403);
    let (status, _) = api
        .json(
            "setTeams",
            teams,
            Some(&admin),
            json!({"teams": [{"name": "A", "description": ""}, {"name": "a", "description": ""}]}),
        )
        .await;
    assert_eq!(status, 422);
    let (status, _) = api
        .raw("setTeams", teams, Some(&admin), "text/plain", "x")
        .await;
    assert_eq!(status, 400);
    hostile_credentials(&api, issuer, "setTeams", teams).await;
    let (status, _) = api.call("getTeams", teams, Some(&co), |r| r).await;
    assert_eq!(status, 200);
    let (status, _) = api
        .call("getTeams", "/api/v1/teams/not%20ods", Some(&co), |r| r)
        .await;
    assert_eq!(status, 404);
    hostile_credentials(&api, issuer, "getTeams", teams).await;
    let (status, _) = api
        .call("listTaskTypes", "/api/v1/task-types", Some(&co), |r| r)
        .await;
    assert_eq!(status, 200);
    hostile_credentials(&api, issuer, "listTaskTypes", "/api/v1/task-types").await;

    let items = "/api/v1/items";
    let due = (time::OffsetDateTime::now_utc() + time::Duration::hours(1))
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    let action = json!({"kind": "system_action", "text": "Open the discharge lounge",
        "owner": {"organisation": "RWE", "team": "Site team"}, "due": due});
    // The register is folded before it can name an owner.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let created = loop {
        let (status, body) = api
            .json("createItem", items, Some(&lead), action.clone())
            .await;
        if status == 201 {
            break body;
        }
        assert_eq!(status, 422, "{body}");
        assert!(
            std::time::Instant::now() < deadline,
            "the team register was not folded"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let (status, _) = api
        .json("createItem", items, Some(&co), action.clone())
        .await;
    assert_eq!(status, 403);
    let (status, _) = api
        .json("createItem", items, Some(&lead), json!({"kind": "x"}))
        .await;
    assert_eq!(status, 400);
    let (status, _) = api
        .raw(
            "createItem",
            items,
            Some(&lead),
            "application/json",
            oversize(),
        )
        .await;
    assert_eq!(status, 413);
    let (status, _) = api
        .json(
            "createItem",
            items,
            Some(&co),
            json!({"kind": "discharge_task", "task_type": "transport",
            "owner": {"organisation": "RWE", "person": "co-tasks"}, "due": due,
            "discharge_id": uuid::Uuid::now_v7().to_string()}),
        )
        .await;
    assert_eq!(status, 404);
    hostile_credentials(&api, issuer, "createItem", items).await;
    let (status, _) = api.call("listItems", items, Some(&lead), |r| r).await;
    assert_eq!(status, 200);
    let (status, _) = api
        .call(
            "listItems",
            "/api/v1/items?kind=nonsense",
            Some(&lead),
            |r| r,
        )
        .await;
    assert_eq!(status, 400);
    hostile_credentials(&api, issuer, "listItems", items).await;

    let id = created["item_id"].as_str().unwrap();
    let unknown = uuid::Uuid::now_v7().to_string();
    let path = |what: &str, id: &str| format!("/api/v1/items/{id}/{what}");
    let (status, _) = api
        .json(
            "assignItem",
            &path("assign", id),
            Some(&lead),
            json!({"owner": {"organisation": "RWE", "person": "lead-oa"}}),
        )
        .await;
    assert_eq!(status, 200);
    let (status, _) = api
        .json(
            "assignItem",
            &path("assign", id),
            Some(&lead),
            json!({"owner": {"organisation": "RWE", "team": "No such team"}}),
        )
        .await;
    assert_eq!(status, 422);
    hostile_credentials(&api, issuer, "assignItem", &path("assign", id)).await;
    let (status, _) = api
        .json(
            "setItemDue",
            &path("due", id),
            Some(&lead),
            json!({"due": due}),
        )
        .await;
    assert_eq!(status, 200);
    let (status, _) = api
        .json(
            "setItemDue",
            &path("due", id),
            Some(&co),
            json!({"due": due}),
        )
        .await;
    assert_eq!(status, 403);
    let (status, _) = api
        .json(
            "setItemDue",
            &path("due", &unknown),
            Some(&lead),
            json!({"due": due}),
        )
        .await;
    assert_eq!(status, 404);
    hostile_credentials(&api, issuer, "setItemDue", &path("due", id)).await;
    let (status, _) = api
        .json(
            "completeItem",
            &path("done", id),
            Some(&lead),
            json!({"note": "Opened at 8"}),
        )
        .await;
    assert_eq!(status, 200);
    hostile_credentials(&api, issuer, "completeItem", &path("done", id)).await;
    let (status, _) = api
        .json("cancelItem", &path("cancel", id), Some(&lead), json!({}))
        .await;
    assert_eq!(status, 409);
    hostile_credentials(&api, issuer, "cancelItem", &path("cancel", id)).await;
    let log = "/api/v1/actions/log";
    let (status, _) = api.call("exportActionsLog", log, Some(&lead), |r| r).await;
    assert_eq!(status, 200);
    let (status, _) = api.call("exportActionsLog", log, Some(&co), |r| r).await;
    assert_eq!(status, 403);
    let (status, _) = api
        .call(
            "exportActionsLog",
            "/api/v1/actions/log?date=yesterday",
            Some(&lead),
            |r| r,
        )
        .await;
    assert_eq!(status, 422);
    hostile_credentials(&api, issuer, "exportActionsLog", log).await;
    api.all_called();
    api
}

/// The forecasts: pf-forecast on the platform's own (short) history.
async fn forecast(platform: &Platform, shutdown: &CancellationToken) -> Api {
    let sign_in =
        pf_sign_in::SignInSettings::local(platform.issuer.issuer_config(), &platform.redis.url());
    let config =
        pf_forecast::ForecastConfig::local(&platform.nats.url(), &platform.redis.url(), sign_in);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let catalogue =
        pf_hospital_model::Catalogue::from_json(pf_integration_tests::TEST_CATALOGUE).unwrap();
    tokio::spawn(pf_forecast::run(
        listener,
        config,
        catalogue,
        shutdown.clone(),
    ));
    let api = Api::new("forecast", FORECAST_DOC, &url);
    api.matches_router(FORECAST_ROUTER);
    api.served_document().await;
    let viewer = Some(platform.viewer_token.as_str());
    // Before the first fit the API says so (503, documented); the first fit
    // of a short history comes whenever the machine gets to it.
    let deadline = std::time::Instant::now() + Duration::from_secs(600);
    loop {
        let (status, _) = api
            .call("getForecastSummary", "/api/v1/forecast", viewer, |r| r)
            .await;
        if status == 200 {
            break;
        }
        assert_eq!(status, 503);
        assert!(
            std::time::Instant::now() < deadline,
            "no forecast was fitted"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let (status, answer) = api
        .call("getScopeForecast", "/api/v1/forecast/system", viewer, |r| r)
        .await;
    assert_eq!(status, 200, "{answer}");
    let (status, _) = api
        .call(
            "getScopeForecast",
            "/api/v1/forecast/NOT-A-SITE",
            viewer,
            |r| r,
        )
        .await;
    assert_eq!(status, 404);
    let (status, _) = api
        .call(
            "getForecastBacktest",
            "/api/v1/forecast/backtest",
            viewer,
            |r| r,
        )
        .await;
    assert!(status == 200 || status == 503, "{status}");
    let editor = platform.token_for(&editor("ed-forecast", &[HOME_A]));
    let (status, _) = api
        .call(
            "getForecastSummary",
            "/api/v1/forecast",
            Some(&editor),
            |r| r,
        )
        .await;
    assert_eq!(
        status, 403,
        "a care-home editor does not see the control room"
    );
    for (id, path) in [
        ("getForecastSummary", "/api/v1/forecast"),
        ("getScopeForecast", "/api/v1/forecast/system"),
        ("getForecastBacktest", "/api/v1/forecast/backtest"),
    ] {
        hostile_credentials(&api, &platform.issuer, id, path).await;
    }
    api.all_called();
    api
}

/// The urgent-care API: every operation, valid and hostile.
async fn urgent_care(platform: &Platform) -> Api {
    let api = Api::new("urgent-care", URGENT_CARE_DOC, &platform.urgent_care_url);
    api.matches_router(URGENT_CARE_ROUTER);
    api.served_document().await;
    let feed = platform.token_for(&bed_publisher("RWE"));
    let other = platform.token_for(&bed_publisher("RT5"));
    let ed = |step: &str| format!("/api/v1/ed/RWEAA/oa-1/{step}");
    let amb = |step: &str| format!("/api/v1/ambulance/RWEAA/oa-v1/{step}");
    for (id, path, body, want) in [
        ("edArrival", ed("arrival"), json!({}), 201),
        ("edDecisionToAdmit", ed("decision-to-admit"), json!({}), 200),
        (
            "edDeparture",
            ed("departure"),
            json!({"outcome": "admitted"}),
            200,
        ),
        (
            "edDeparture",
            ed("departure"),
            json!({"outcome": "home"}),
            422,
        ),
        (
            "edDecisionToAdmit",
            "/api/v1/ed/RWEAA/oa-2/decision-to-admit".to_owned(),
            json!({}),
            409,
        ),
        (
            "edArrival",
            "/api/v1/ed/NOPE1/oa-1/arrival".to_owned(),
            json!({}),
            404,
        ),
        ("ambulanceArrival", amb("arrival"), json!({}), 201),
        ("ambulanceClear", amb("clear"), json!({}), 409),
        ("ambulanceHandover", amb("handover"), json!({}), 200),
        ("ambulanceClear", amb("clear"), json!({}), 200),
    ] {
        let (status, answer) = api.json(id, &path, Some(&feed), body).await;
        assert_eq!(status, want, "{id} {path}: {answer}");
    }
    // The ambulance service's own feed sets its escalation level.
    let ambulance_service = platform.token_for(&bed_publisher("RX9"));
    let escalation = "/api/v1/ambulance-service/RX9/escalation";
    for (token, body, want) in [
        (
            &ambulance_service,
            json!({"scale": "reap", "level": 3}),
            200,
        ),
        (
            &ambulance_service,
            json!({"scale": "reap", "level": 9}),
            422,
        ),
        (&ambulance_service, json!({"scale": "red", "level": 1}), 422),
        (&ambulance_service, json!({"level": 1}), 400),
        (&feed, json!({"scale": "opel", "level": 2}), 403),
    ] {
        let (status, answer) = api
            .json("ambulanceEscalation", escalation, Some(token), body)
            .await;
        assert_eq!(status, want, "{escalation}: {answer}");
    }
    let (status, _) = api
        .json(
            "edArrival",
            "/api/v1/ed/RWEAA/oa-3/arrival",
            Some(&other),
            json!({}),
        )
        .await;
    assert_eq!(status, 403);
    let (status, _) = api
        .raw(
            "edArrival",
            "/api/v1/ed/RWEAA/oa-3/arrival",
            Some(&feed),
            "text/plain",
            "x",
        )
        .await;
    assert_eq!(status, 400);
    hostile_credentials(
        &api,
        &platform.issuer,
        "edArrival",
        "/api/v1/ed/RWEAA/oa-4/arrival",
    )
    .await;
    api.all_called();
    api
}

/// Every operation of every document answered as documented, and a
/// status the documents list for hostile input is really given.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_json_api_answers_as_its_openapi_document_says() {
    let platform = Platform::start().await;
    let shutdown = CancellationToken::new();
    let beds = beds(&platform).await;
    let (homes, discharges) = care_homes_and_discharges(&platform).await;
    let identity = identity(&platform, &shutdown).await;
    let (gateway, pressure) = opel(&platform, &shutdown).await;
    let tasks = tasks(&platform).await;
    let urgent_care = urgent_care(&platform).await;
    let forecast = forecast(&platform, &shutdown).await;
    shutdown.cancel();
    // The statuses each API was seen to give, for the failure message of
    // a later change.
    for api in [
        &beds,
        &homes,
        &discharges,
        &identity,
        &gateway,
        &pressure,
        &tasks,
        &urgent_care,
        &forecast,
    ] {
        let answered = api.answered.lock().unwrap();
        assert!(
            answered.iter().any(|(_, s)| *s == 401) && answered.iter().any(|(_, s)| *s == 403),
            "{}: hostile callers were refused",
            api.name
        );
    }
}

/// The router scan finds routes, with their methods, as the services
/// declare them.
#[test]
fn routes_are_read_from_the_routers() {
    let routes = routes_in(DISCHARGES_ROUTER);
    assert!(routes.contains(&("GET".to_owned(), "/api/v1/discharges".to_owned())));
    assert!(routes.contains(&("POST".to_owned(), "/api/v1/discharges".to_owned())));
    let routes = routes_in(
        r#".route("/api/v1/new", get(handler).delete(other)) .route("/sign-in", get(page))"#,
    );
    assert_eq!(
        routes,
        [
            ("DELETE".to_owned(), "/api/v1/new".to_owned()),
            ("GET".to_owned(), "/api/v1/new".to_owned())
        ]
        .into_iter()
        .collect()
    );
}

/// Each document is a usable OpenAPI 3.1 document: unique operation ids,
/// every path parameter declared, every response described, every schema
/// compiles (so every `$ref` resolves), every refusal is the error body,
/// and every operation but the document itself says how it refuses a
/// caller who is not signed in.
#[test]
fn the_documents_are_well_formed() {
    for (name, document) in [
        ("hospital-beds", BEDS_DOC),
        ("care-homes", CARE_HOMES_DOC),
        ("discharges", DISCHARGES_DOC),
        ("identity", IDENTITY_DOC),
        ("gateway", GATEWAY_DOC),
        ("pressure", PRESSURE_DOC),
        ("tasks", TASKS_DOC),
        ("urgent-care", URGENT_CARE_DOC),
        ("forecast", FORECAST_DOC),
    ] {
        let api = Api::new(name, document, "http://unused.invalid");
        assert!(api.spec["info"]["title"].is_string(), "{name}");
        assert!(api.spec["info"]["version"].is_string(), "{name}");
        let compile = |what: &str, schema: &Value| {
            let root = json!({
                "$schema": "https://json-schema.org/draft/2020-12/schema",
                "$ref": "#/$defs/s",
                "$defs": { "s": schema },
                "components": api.spec["components"],
            });
            let validator = jsonschema::validator_for(&root)
                .unwrap_or_else(|e| panic!("{name} {what}: the schema does not compile: {e}"));
            // A `$ref` to a missing schema only fails when it is followed.
            let _ = validator.is_valid(&json!({}));
            let mut refs = Vec::new();
            collect_refs(schema, &mut refs);
            for reference in refs {
                let pointer = reference.trim_start_matches('#');
                assert!(
                    api.spec.pointer(pointer).is_some(),
                    "{name} {what}: `{reference}` points at nothing"
                );
            }
        };
        for (_, schema) in api.spec["components"]["schemas"].as_object().unwrap() {
            compile("components", schema);
        }
        let mut ids = BTreeSet::new();
        for (id, method, path) in api.operations() {
            assert!(ids.insert(id.clone()), "{name}: operationId {id} twice");
            let (_, op) = api.operation(&id);
            let what = format!("{method} {path} ({id})");
            let declared: BTreeSet<String> = op["parameters"]
                .as_array()
                .map(|ps| {
                    ps.iter()
                        .filter(|p| p["in"] == "path")
                        .map(|p| p["name"].as_str().unwrap().to_owned())
                        .collect()
                })
                .unwrap_or_default();
            let templated: BTreeSet<String> = path
                .split('/')
                .filter_map(|segment| segment.strip_prefix('{')?.strip_suffix('}'))
                .map(str::to_owned)
                .collect();
            assert_eq!(declared, templated, "{name} {what}: path parameters");
            for parameter in op["parameters"].as_array().into_iter().flatten() {
                compile(&what, &parameter["schema"]);
            }
            if let Some(content) = op["requestBody"]["content"].as_object() {
                for media in content.values() {
                    compile(&what, &media["schema"]);
                }
            }
            let responses = op["responses"].as_object().unwrap();
            assert!(
                responses.keys().any(|s| s.starts_with('2')),
                "{name} {what}: no success"
            );
            for (status, response) in responses {
                assert!(
                    response["description"].is_string(),
                    "{name} {what} {status}: no description"
                );
                for media in response["content"].as_object().into_iter().flatten() {
                    compile(&format!("{what} {status}"), &media.1["schema"]);
                }
                let refusal = &response["content"]["application/json"]["schema"]["$ref"];
                if status.starts_with('4') && status != "413" || status.starts_with('5') {
                    assert_eq!(
                        refusal, "#/components/schemas/Error",
                        "{name} {what} {status}: a refusal is the error body"
                    );
                }
            }
            if id == "getOpenApiByService" {
                assert!(
                    INGRESS.contains(&format!("(list \"{path}\" \"Exact\")")),
                    "{name}: the chart's ingress does not route {path}"
                );
            }
            if !id.starts_with("getOpenApi") {
                assert!(
                    responses.contains_key("401"),
                    "{name} {what}: every operation needs a signed-in caller"
                );
            }
        }
    }
}

fn collect_refs(schema: &Value, out: &mut Vec<String>) {
    match schema {
        Value::Object(map) => {
            for (key, value) in map {
                match (key.as_str(), value) {
                    ("$ref", Value::String(r)) => out.push(r.clone()),
                    _ => collect_refs(value, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| collect_refs(v, out)),
        _ => {}
    }
}
