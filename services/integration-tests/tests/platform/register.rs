//! The care-home register kept on the administration pages, with the rest
//! of the platform: every change is the home's next event in JetStream;
//! the care-homes service picks up an added, edited or retired home
//! without a restart; a retired home is refused when it reports and drops
//! out of matching and the control room, its history kept; the register
//! file read at start no longer undoes an administrator's change; and a
//! CQC file with good and bad rows imports nothing until confirmed, then
//! exactly the good rows.

#![allow(clippy::unwrap_used)] // test code: a failure should stop the test loudly

use std::time::Duration;

use futures::StreamExt as _;
use pf_access::{Grant, Principal, Role};
use pf_identity::{Identity, IdentityConfig};
use pf_integration_tests::{ControlRoomClient, Platform, dashboards_dir};
use reqwest::header::{CONTENT_TYPE, COOKIE, LOCATION, SET_COOKIE};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

const NEW_HOME: &str = "1-900000001";

/// Signs `person` in at the demo sign-in page: the `Cookie` header value.
async fn sign_in(http: &reqwest::Client, identity: &str, person: &str) -> String {
    let page = http
        .get(format!("{identity}/sign-in"))
        .send()
        .await
        .unwrap();
    let csrf = page
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| v.strip_prefix("pf_csrf="))
        .and_then(|v| v.split(';').next())
        .unwrap()
        .to_owned();
    let response = http
        .post(format!("{identity}/sign-in"))
        .header(COOKIE, format!("pf_csrf={csrf}"))
        .form(&[
            ("csrf_token", csrf.as_str()),
            ("person", person),
            ("return_to", "/"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 303);
    let session = response
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| v.strip_prefix("pf_session="))
        .and_then(|v| v.split(';').next())
        .unwrap()
        .to_owned();
    format!("pf_session={session}")
}

/// The identity service on the platform's Redis and NATS: its address.
async fn identity(platform: &Platform, shutdown: &CancellationToken) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let identity = format!("http://{}", listener.local_addr().unwrap());
    let mut config = IdentityConfig::local(
        &platform.redis.url(),
        &platform.nats.url(),
        dashboards_dir(),
    );
    config.public_url = identity.clone();
    tokio::spawn(
        Identity::build(config)
            .await
            .unwrap()
            .serve(listener, shutdown.clone()),
    );
    identity
}

struct Admin {
    http: reqwest::Client,
    identity: String,
    cookie: String,
    csrf: String,
}

impl Admin {
    async fn sign_in(identity: &str) -> Self {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let cookie = sign_in(&http, identity, "demo-system-admin").await;
        let me: Value = http
            .get(format!("{identity}/api/v1/me"))
            .header(COOKIE, &cookie)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let csrf = me["csrf_token"].as_str().unwrap().to_owned();
        Self {
            http,
            identity: identity.to_owned(),
            cookie,
            csrf,
        }
    }

    async fn get(&self, path: &str) -> (u16, String) {
        let response = self
            .http
            .get(format!("{}{path}", self.identity))
            .header(COOKIE, &self.cookie)
            .send()
            .await
            .unwrap();
        (response.status().as_u16(), response.text().await.unwrap())
    }

    /// Posts a form (with the session's CSRF token): status, page, redirect.
    async fn post(&self, path: &str, form: &[(&str, &str)]) -> (u16, String, Option<String>) {
        let mut fields: Vec<(&str, &str)> = vec![("csrf_token", &self.csrf)];
        fields.extend_from_slice(form);
        let response = self
            .http
            .post(format!("{}{path}", self.identity))
            .header(COOKIE, &self.cookie)
            .form(&fields)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        let location = response
            .headers()
            .get(LOCATION)
            .map(|v| v.to_str().unwrap().to_owned());
        (status, response.text().await.unwrap(), location)
    }

    /// Uploads `csv` to the import form, as a browser does.
    async fn upload(&self, csv: &str) -> (u16, String) {
        let boundary = "----pf-test-boundary-7f3a";
        let body = format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"csrf_token\"\r\n\r\n{}\r\n\
             --{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"cqc.csv\"\r\n\
             Content-Type: text/csv\r\n\r\n{csv}\r\n--{boundary}--\r\n",
            self.csrf
        );
        let response = self
            .http
            .post(format!("{}/admin/care-homes/import", self.identity))
            .header(COOKIE, &self.cookie)
            .header(
                CONTENT_TYPE,
                format!("multipart/form-data; boundary={boundary}"),
            )
            .body(body)
            .send()
            .await
            .unwrap();
        (response.status().as_u16(), response.text().await.unwrap())
    }
}

/// The events stored for one home, oldest first.
async fn events_of(platform: &Platform, home: &str) -> Vec<pf_proto::v1::EventEnvelope> {
    let js = platform.jetstream().await;
    let stream = js.get_stream("PF_CARE_HOMES").await.unwrap();
    let consumer = stream
        .create_consumer(async_nats::jetstream::consumer::pull::OrderedConfig {
            filter_subject: format!("pf.care-homes.{home}"),
            ..Default::default()
        })
        .await
        .unwrap();
    let pending = consumer.clone().info().await.unwrap().num_pending;
    let mut messages = consumer.messages().await.unwrap();
    let mut events = Vec::new();
    for _ in 0..pending {
        let message = messages.next().await.unwrap().unwrap();
        events.push(pf_proto::v1::EventEnvelope::decode_checked(&message.payload).unwrap());
    }
    events
}

fn editor_of(homes: &[&str]) -> Principal {
    Principal::person("nurse-new", "Nurse New", None)
        .with_grant(Grant::parse(Role::CareHomeEditor, homes).unwrap())
}

/// `GET /api/v1/care-homes` for a token: status and body.
async fn my_homes(platform: &Platform, token: &str) -> (u16, Value) {
    let response = platform
        .http
        .get(format!("{}/api/v1/care-homes", platform.care_homes_url))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// Waits (generously) until `check` holds; panics with `what` otherwise.
async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while !check().await {
        assert!(tokio::time::Instant::now() < deadline, "{what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Reports two vacant beds in each of `categories`.
async fn report(
    platform: &Platform,
    token: &str,
    home: &str,
    key: &str,
    categories: &[&str],
) -> (u16, Value) {
    let vacancies: serde_json::Map<String, Value> = categories
        .iter()
        .map(|c| {
            (
                (*c).to_owned(),
                json!({ "vacant": 2, "unavailable": 0, "sex": "either" }),
            )
        })
        .collect();
    let response = platform
        .http
        .put(format!(
            "{}/api/v1/care-homes/{home}/vacancies",
            platform.care_homes_url
        ))
        .bearer_auth(token)
        .header("Idempotency-Key", key)
        .json(&json!({
            "vacancies": vacancies,
            "accepting_hospital_discharges": true,
            "note": ""
        }))
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn homes_on_the_wall(platform: &Platform) -> u64 {
    let mut room = ControlRoomClient::connect(platform, None).await;
    let snapshot = room.next().await;
    room.close().await;
    snapshot["care_homes"]["system"]["homes"].as_u64().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_home_added_edited_and_retired_on_the_pages_goes_through_jetstream_and_is_picked_up_live()
{
    let platform = Platform::start().await;
    let shutdown = CancellationToken::new();
    let identity = identity(&platform, &shutdown).await;
    let admin = Admin::sign_in(&identity).await;
    let token = platform.token_for(&editor_of(&[NEW_HOME]));
    assert_eq!(homes_on_the_wall(&platform).await, 3);
    let (status, _) = my_homes(&platform, &token).await;
    assert_eq!(status, 403, "not on the register yet");

    // Bad input is refused on its fields, and nothing is published.
    let (status, page, _) = admin
        .post(
            "/admin/care-homes/home",
            &[
                ("cqc", NEW_HOME),
                ("name", "Fell View (demo)"),
                ("postcode", "DE1 1AA"),
                ("beds", "none"),
            ],
        )
        .await;
    assert_eq!(status, 422, "{page}");
    assert!(page.contains("is not in any of its localities"), "{page}");
    assert!(page.contains("a whole number from 1 to 1000"), "{page}");
    assert!(page.contains("Choose at least one category"), "{page}");
    assert!(events_of(&platform, NEW_HOME).await.is_empty());

    // Added: the home's first event, made by the administrator.
    let (status, page, location) = admin
        .post(
            "/admin/care-homes/home",
            &[
                ("cqc", NEW_HOME),
                ("name", "Fell View (demo)"),
                ("address", "9 Fell Road, Leicester"),
                ("postcode", "le2 1ab"),
                ("beds", "20"),
                ("categories", "nursing"),
                ("phone", "0116 496 0999"),
            ],
        )
        .await;
    assert_eq!(status, 303, "{page}");
    assert_eq!(
        location.as_deref(),
        Some("/admin/care-homes?saved=1-900000001")
    );
    let events = events_of(&platform, NEW_HOME).await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].event_type, "care_home.registered");
    assert_eq!(events[0].actor.as_ref().unwrap().id, "demo-system-admin");

    // The care-homes service picks it up without a restart: its staff see
    // it and report; the report reaches the wall.
    eventually("the care-homes service lists the new home", || async {
        my_homes(&platform, &token).await.0 == 200
    })
    .await;
    let (status, body) = report(&platform, &token, NEW_HOME, "key-new-0001", &["nursing"]).await;
    assert_eq!(status, 200, "{body}");
    eventually("the wall counts the new home", || async {
        homes_on_the_wall(&platform).await == 4
    })
    .await;

    // Edited: more beds and another category; the figures reported stay.
    let (status, page, _) = admin
        .post(
            "/admin/care-homes/home",
            &[
                ("editing", NEW_HOME),
                ("name", "Fell View (demo)"),
                ("address", "9 Fell Road, Leicester"),
                ("postcode", "LE2 1AB"),
                ("beds", "26"),
                ("categories", "nursing"),
                ("categories", "nursing_dementia"),
            ],
        )
        .await;
    assert_eq!(status, 303, "{page}");
    let (_, body) = my_homes(&platform, &token).await;
    let home = &body["homes"][0];
    assert_eq!(home["registered_beds"], 26, "{body}");
    assert_eq!(home["vacancies"][0]["available"], 2, "{body}");
    let (_, list) = admin.get("/admin/care-homes?q=fell").await;
    assert!(
        list.contains("Fell View (demo)") && list.contains("Nursing dementia"),
        "{list}"
    );

    // A retirement needs a reason.
    let (status, page, _) = admin
        .post(
            "/admin/care-homes/retire",
            &[("cqc", NEW_HOME), ("reason", "")],
        )
        .await;
    assert_eq!(status, 422, "{page}");
    assert!(
        page.contains("Say why the home is leaving the register"),
        "{page}"
    );
    // Retired: refused when it reports, gone from matching, the wall and
    // its staff's list; its events are kept.
    let (status, page, _) = admin
        .post(
            "/admin/care-homes/retire",
            &[("cqc", NEW_HOME), ("reason", "Closed in March 2027")],
        )
        .await;
    assert_eq!(status, 303, "{page}");
    let events = events_of(&platform, NEW_HOME).await;
    let types: Vec<_> = events.iter().map(|e| e.event_type.as_str()).collect();
    assert_eq!(
        types,
        [
            "care_home.registered",
            "care_home.vacancies_reported",
            "care_home.registered",
            "care_home.retired"
        ]
    );
    let (status, body) = report(
        &platform,
        &token,
        NEW_HOME,
        "key-new-0002",
        &["nursing", "nursing_dementia"],
    )
    .await;
    assert_eq!(status, 410, "{body}");
    assert!(
        body.to_string()
            .contains("was retired from the register, so it can no longer report"),
        "{body}"
    );
    eventually("the wall leaves the retired home out", || async {
        homes_on_the_wall(&platform).await == 3
    })
    .await;
    eventually("matching leaves the retired home out", || async {
        let homes = platform
            .live_state("pf:")
            .await
            .all_care_homes()
            .await
            .unwrap();
        homes.len() == 3 && homes.iter().all(|h| h.cqc().as_str() != NEW_HOME)
    })
    .await;
    eventually("its staff no longer see it", || async {
        my_homes(&platform, &token).await.0 == 403
    })
    .await;
    // A retired home cannot be edited back.
    let (status, page, _) = admin
        .post(
            "/admin/care-homes/home",
            &[
                ("editing", NEW_HOME),
                ("name", "Fell View (demo)"),
                ("postcode", "LE2 1AB"),
                ("beds", "26"),
                ("categories", "nursing"),
            ],
        )
        .await;
    assert_eq!(status, 409, "{page}");

    // Every change is in the audit trail with its event.
    let (_, audit) = admin.get("/admin/audit?action=care_home.retired").await;
    assert!(audit.contains(NEW_HOME), "{audit}");

    // The register file read at start undoes nothing an administrator did:
    // an edited home keeps its edit, a retired home stays retired.
    let (status, page, _) = admin
        .post(
            "/admin/care-homes/home",
            &[
                ("editing", "1-000000003"),
                ("name", "Cedar Court (demo)"),
                ("address", "3 Test Street, Oakham"),
                ("postcode", "LE15 3CC"),
                ("beds", "14"),
                ("categories", "residential"),
            ],
        )
        .await;
    assert_eq!(status, 303, "{page}");
    let mut file =
        pf_care_home_model::Register::from_json(pf_integration_tests::TEST_REGISTER).unwrap();
    let retired = pf_care_home_model::Registration {
        cqc_location_id: pf_care_home_model::CqcLocationId::parse(NEW_HOME).unwrap(),
        name: "Fell View (demo)".into(),
        address: String::new(),
        postcode: "LE2 1AB".into(),
        latitude: 52.6,
        longitude: -1.1,
        locality: pf_care_home_model::LocalityCode::parse("leicester_city").unwrap(),
        registered_beds: 20,
        categories: vec![pf_care_home_model::CareCategory::Nursing],
        phone: None,
    };
    file.insert(retired);
    let log = pf_care_home_log::HomeLog::new(platform.jetstream().await, "care-homes");
    let published = log
        .register(&file, &pf_care_homes::register_keeper())
        .await
        .unwrap();
    assert_eq!(
        published, 0,
        "the file changes nothing an administrator set"
    );
    let cedar = log
        .current(&pf_care_home_model::CqcLocationId::parse("1-000000003").unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(cedar.record.registration.registered_beds, 14);
    shutdown.cancel();
}

/// A CQC download: two good rows, two refused, one outside the region and
/// one location that is not a care home.
const CQC_FILE: &str = "Location ID,Location Name,Care home?,Care homes beds,Location Street Address,Location City,Location Postal Code,Location Telephone Number,Location Local Authority,Service type - Care home service with nursing,Service type - Care home service without nursing,Service user band - Dementia\n\
1-900000011,Quorn Meadows (demo),Y,38,12 Meeting Street,Quorn,LE12 8EX,0116 496 0911,Leicestershire,Y,,Y\n\
1-900000012,Braunstone Lodge (demo),Y,24,5 Narborough Road,Leicester,LE3 2FL,0116 496 0912,Leicester,,Y,\n\
1-900000013,Hinckley Fields (demo),Y,many,9 Coventry Road,Hinckley,LE10 0JT,,Leicestershire,Y,,\n\
1-9001,Wigston Court (demo),Y,30,4 Bull Head Street,Wigston,LE18 1PA,,Leicestershire,,Y,\n\
1-900000015,Trent Bridge House (demo),Y,40,3 Radcliffe Road,Nottingham,NG2 5FF,,Nottingham,Y,,\n\
1-900000016,Melton Surgery (demo),N,,1 Burton Street,Melton Mowbray,LE13 1AE,,Leicestershire,,,\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cqc_file_with_good_and_bad_rows_imports_nothing_until_confirmed_then_exactly_the_good_rows()
 {
    let platform = Platform::start().await;
    let shutdown = CancellationToken::new();
    let identity = identity(&platform, &shutdown).await;
    let admin = Admin::sign_in(&identity).await;

    let (status, page) = admin.upload(CQC_FILE).await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("Nothing has been imported yet"), "{page}");
    assert!(
        page.contains("will add 2 and change 0 care homes"),
        "{page}"
    );
    assert!(
        page.contains("Care homes beds is &quot;many&quot;, which is not a whole number."),
        "{page}"
    );
    assert!(
        page.contains("&quot;1-9001&quot; is not a CQC location ID"),
        "{page}"
    );
    assert!(page.contains("1 rows for places outside"), "{page}");
    for home in ["1-900000011", "1-900000012", "1-900000013", "1-900000015"] {
        assert!(
            events_of(&platform, home).await.is_empty(),
            "{home} before confirming"
        );
    }
    // The confirm form carries the file and the plan's digest.
    let digest = between(&page, "name=\"digest\" value=\"", "\"");
    let csv = html_unescape(&between(&page, "name=\"csv\" value=\"", "\""));
    assert_eq!(csv, CQC_FILE);

    // A forged or stale plan imports nothing.
    let (status, page, _) = admin
        .post(
            "/admin/care-homes/import/confirm",
            &[("csv", &csv), ("digest", "not-the-plan")],
        )
        .await;
    assert_eq!(status, 409, "{page}");
    assert!(page.contains("so nothing was imported"), "{page}");
    assert!(events_of(&platform, "1-900000011").await.is_empty());

    let (status, page, location) = admin
        .post(
            "/admin/care-homes/import/confirm",
            &[("csv", &csv), ("digest", &digest)],
        )
        .await;
    assert_eq!(status, 303, "{page}");
    assert_eq!(location.as_deref(), Some("/admin/care-homes?imported=2"));
    for home in ["1-900000011", "1-900000012"] {
        let events = events_of(&platform, home).await;
        assert_eq!(events.len(), 1, "{home}");
        assert_eq!(events[0].event_type, "care_home.registered");
    }
    for home in ["1-900000013", "1-900000015", "1-900000016"] {
        assert!(
            events_of(&platform, home).await.is_empty(),
            "{home} was refused"
        );
    }
    let quorn = pf_care_home_log::record_of(&events_of(&platform, "1-900000011").await[0]).unwrap();
    assert_eq!(quorn.registration.registered_beds, 38);
    assert_eq!(quorn.registration.locality.as_str(), "leicestershire");
    assert_eq!(
        quorn.registration.categories,
        vec![
            pf_care_home_model::CareCategory::Nursing,
            pf_care_home_model::CareCategory::NursingDementia
        ]
    );
    // The same file again changes nothing.
    let (status, page) = admin.upload(CQC_FILE).await;
    assert_eq!(status, 200, "{page}");
    assert!(
        page.contains("will add 0 and change 0 care homes"),
        "{page}"
    );
    assert!(
        page.contains("There is nothing to import from this file."),
        "{page}"
    );
    // The administrator's home page lists the new homes as never reported.
    let (_, home) = admin.get("/admin").await;
    assert!(
        home.contains("Quorn Meadows (demo)") && home.contains("Never reported"),
        "{home}"
    );
    shutdown.cancel();
}

fn between(text: &str, start: &str, end: &str) -> String {
    let from = text.find(start).unwrap() + start.len();
    let to = from + text[from..].find(end).unwrap();
    text[from..to].to_owned()
}

fn html_unescape(text: &str) -> String {
    text.replace("&#x2f;", "/")
        .replace("&#x27;", "'")
        .replace("&#39;", "'")
        .replace("&quot;", "\"")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&#10;", "\n")
        .replace("&amp;", "&")
}
