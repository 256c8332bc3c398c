//! The simulator's care-home feed against a tiny axum server on 127.0.0.1:0
//! that plays the care-homes API: it lists three homes (one with figures
//! from before), answers the first write with a 503 after storing it, and
//! refuses every report of one home with a 422.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use pf_simulator::care_home_feed::Feed;
use pf_simulator::care_homes::CareHomesClient;
use rand::SeedableRng;
use rand::rngs::StdRng;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

/// A home that refuses every report.
const REFUSING: &str = "1-000000003";
/// A home with figures from a previous run.
const RESUMED: &str = "1-000000002";

#[derive(Default)]
struct Fake {
    /// Every write: (home, idempotency key, kind, stored).
    writes: Vec<(String, String, &'static str, bool)>,
    /// Homes read one by one.
    reads: Vec<String>,
    /// Whether the 503 was given already.
    failed_once: bool,
}

type Shared = Arc<Mutex<Fake>>;

fn lock(fake: &Shared) -> std::sync::MutexGuard<'_, Fake> {
    fake.lock().expect("fake state")
}

fn home(cqc: &str) -> Value {
    let reported = cqc == RESUMED;
    json!({
        "cqc_location_id": cqc, "name": format!("Home {cqc} (demo)"), "address": "1 Test Lane",
        "postcode": "LE1 1AA", "locality": "leicester_city", "latitude": 52.6, "longitude": -1.1,
        "registered_beds": 3,
        "vacancies": [
            {"category": "nursing", "label": "Nursing", "vacant": if reported { 1 } else { 0 },
             "unavailable": 0, "available": 1, "sex": "either"},
            {"category": "short_stay_respite", "label": "Respite", "vacant": 0, "unavailable": 0,
             "available": 0, "sex": "either"}
        ],
        "closed_to_admissions": false, "closure_reason": null, "closure_detail": "",
        "accepting_hospital_discharges": true, "note": "",
        "last_updated_at": if reported { json!("2025-01-01T08:00:00Z") } else { Value::Null },
        "last_updated_by": null, "stale": !reported, "version": if reported { 2 } else { 1 }
    })
}

async fn list() -> Json<Value> {
    Json(json!({"homes": [home("1-000000001"), home(RESUMED), home(REFUSING)]}))
}

async fn read(State(fake): State<Shared>, Path(cqc): Path<String>) -> Json<Value> {
    lock(&fake).reads.push(cqc.clone());
    Json(home(&cqc))
}

fn write(fake: &Shared, cqc: String, headers: &HeaderMap, kind: &'static str) -> Response {
    let key = headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let mut fake = lock(fake);
    if kind == "report" && cqc == REFUSING {
        fake.writes.push((cqc, key, kind, false));
        return (
            StatusCode::UNPROCESSABLE_ENTITY,
            Json(
                json!({"error": "the update breaks the rules below and was not saved",
                "problems": [{"field": "vacancies.nursing.vacant",
                              "message": "Vacant Nursing beds must be 3 or fewer"}]}),
            ),
        )
            .into_response();
    }
    let replayed = fake
        .writes
        .iter()
        .any(|(_, k, _, stored)| *k == key && *stored);
    fake.writes.push((cqc, key, kind, !replayed));
    if !fake.failed_once {
        // Stored, but the answer is lost: the client must send it again
        // with the same key.
        fake.failed_once = true;
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"error": "the update could not be confirmed as saved"})),
        )
            .into_response();
    }
    Json(json!({
        "saved": {"event_id": "e", "event_type": "care_home.vacancies_reported",
                  "entity_version": 2, "recorded_at": "2025-01-01T08:00:00Z", "replayed": replayed},
        "home": null
    }))
    .into_response()
}

async fn report(
    State(fake): State<Shared>,
    Path(cqc): Path<String>,
    headers: HeaderMap,
    Json(_body): Json<Value>,
) -> Response {
    write(&fake, cqc, &headers, "report")
}

async fn confirm(
    State(fake): State<Shared>,
    Path(cqc): Path<String>,
    headers: HeaderMap,
) -> Response {
    write(&fake, cqc, &headers, "confirmation")
}

async fn start() -> (String, Shared) {
    let fake: Shared = Arc::default();
    let app = Router::new()
        .route("/api/v1/care-homes", get(list))
        .route("/api/v1/care-homes/{cqc}", get(read))
        .route("/api/v1/care-homes/{cqc}/vacancies", put(report))
        .route("/api/v1/care-homes/{cqc}/confirmation", post(confirm))
        .with_state(fake.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("address");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (format!("http://{addr}"), fake)
}

#[tokio::test]
async fn homes_report_with_one_key_per_update_and_refusals_are_not_retried() {
    let (base, fake) = start().await;
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .expect("client");
    let client = CareHomesClient::new(&base, http);
    let mut feed = Feed::new(client, StdRng::seed_from_u64(3));
    let cancel = CancellationToken::new();
    let stop = cancel.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(1500)).await;
        stop.cancel();
    });
    // Speed 100: an update every 50 ms once the first reports are in.
    feed.run(100.0, &cancel).await;

    let stats = feed.stats().clone();
    assert_eq!(stats.homes, 3);
    assert_eq!(
        stats.resumed, 1,
        "the home with figures is not reported again"
    );
    assert_eq!(stats.first_reports, 1, "{stats:?}");
    assert!(stats.refused >= 1, "{stats:?}");
    assert!(stats.reports + stats.confirmations > 5, "{stats:?}");

    let fake = lock(&fake);
    // The first write was stored but answered 503: sent again with the same key.
    let (first_home, first_key, _, _) = fake.writes[0].clone();
    let same_key: Vec<_> = fake.writes.iter().filter(|w| w.1 == first_key).collect();
    assert_eq!(same_key.len(), 2, "{:?}", fake.writes);
    assert_eq!(same_key[1].0, first_home);
    assert!(!same_key[1].3, "the resend stored nothing new");
    assert_eq!(stats.replayed, 1);
    // Every other write has its own key.
    let mut keys: Vec<&str> = fake.writes.iter().map(|w| w.1.as_str()).collect();
    let all = keys.len();
    keys.sort_unstable();
    keys.dedup();
    assert_eq!(keys.len(), all - 1, "a new key per update");
    assert!(keys.iter().all(|k| uuid_like(k)), "{keys:?}");
    // Both never-reported homes were given a first report; the refusing one
    // was refused once per report, never retried, and read again.
    let reports_to = |cqc: &str| {
        fake.writes
            .iter()
            .filter(|w| w.0 == cqc && w.2 == "report")
            .count()
    };
    assert!(reports_to("1-000000001") >= 1);
    assert!(reports_to(REFUSING) >= 1);
    assert_eq!(
        fake.reads.iter().filter(|r| *r == REFUSING).count() as u64,
        stats.refused
    );
}

fn uuid_like(key: &str) -> bool {
    key.len() == 36 && key.chars().all(|c| c.is_ascii_hexdigit() || c == '-')
}
