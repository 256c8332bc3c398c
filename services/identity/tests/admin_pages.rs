//! The administration pages against a real identity service, Redis and
//! NATS: only a system administrator in a browser session reaches any page
//! or action, every form needs the session's CSRF token, and the pages do
//! what they say (a wall screen's QR code, sign-in links delivered through
//! a GOV.UK Notify stand-in, withdrawing a person, the audit search).
#![allow(clippy::unwrap_used)]

mod helpers;

use helpers::{App, demo, spawn, spawn_with};
use pf_identity::admin_pages::ROUTES;
use pf_identity::admin_pages::notify::NotifyConfig;
use pf_identity::admin_pages::notify_stand_in::NotifyStandIn;
use reqwest::header::{COOKIE, LOCATION};
use serde_json::Value;

/// The session's CSRF token (as every admin page puts in its forms).
async fn csrf_of(app: &App, cookie: &str) -> String {
    let me: Value = app
        .get_with_cookie("/api/v1/me", cookie)
        .await
        .json()
        .await
        .unwrap();
    me["csrf_token"].as_str().unwrap().to_owned()
}

/// Posts a form with a session cookie: status and page.
async fn post_form(
    app: &App,
    cookie: &str,
    path: &str,
    form: &[(&str, &str)],
) -> (u16, String, Option<String>) {
    let response = app
        .http
        .post(app.url(path))
        .header(COOKIE, cookie)
        .form(form)
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

/// Whatever a form of each action would carry, to be sure a refusal is
/// the guard's and not the form's.
fn form_for(path: &str, csrf: &str) -> Vec<(&'static str, String)> {
    let mut form = vec![("csrf_token", csrf.to_owned())];
    match path {
        "/admin/kiosks" => {
            form.push(("kiosk_id", "sneaky-wall".to_owned()));
            form.push(("name", "Sneaky wall".to_owned()));
        }
        "/admin/kiosks/revoke" => form.push(("kiosk_id", "wall-1".to_owned())),
        "/admin/links" => {
            form.push(("name", "Sneaky Person".to_owned()));
            form.push(("person_id", "sneaky".to_owned()));
            form.push(("care_homes", "1-000000001".to_owned()));
        }
        "/admin/people" => form.push(("person_id", "demo-system-admin".to_owned())),
        "/admin/care-homes/home" => {
            form.push(("cqc", "1-999999999".to_owned()));
            form.push(("name", "Sneaky House".to_owned()));
            form.push(("postcode", "LE1 1AA".to_owned()));
            form.push(("beds", "10".to_owned()));
            form.push(("categories", "residential".to_owned()));
        }
        "/admin/care-homes/retire" => {
            form.push(("cqc", "1-000000001".to_owned()));
            form.push(("reason", "Sneaky".to_owned()));
        }
        "/admin/care-homes/import/confirm" => {
            form.push(("csv", "Location ID,Location Name,Care homes beds,Location Postal Code,Service type - Care home service without nursing\n1-999999998,Sneaky Court,10,LE1 1AA,Y\n".to_owned()));
            form.push(("digest", "x".to_owned()));
        }
        _ => {}
    }
    form
}

async fn request(
    app: &App,
    method: &str,
    path: &str,
    auth: Auth<'_>,
    form: &[(&str, String)],
) -> reqwest::Response {
    let builder = match method {
        "GET" => app.http.get(app.url(path)),
        _ => app.http.post(app.url(path)).form(form),
    };
    let builder = match auth {
        Auth::Cookie(cookie) => builder.header(COOKIE, cookie),
        Auth::Bearer(token) => builder.bearer_auth(token),
        Auth::Nobody => builder,
    };
    builder.send().await.unwrap()
}

#[derive(Clone, Copy)]
enum Auth<'a> {
    Cookie(&'a str),
    Bearer(&'a str),
    Nobody,
}

#[tokio::test]
async fn no_other_role_reaches_any_admin_page_or_action() {
    let app = spawn().await;
    // A screen to try to revoke.
    let admin = app.session_of("demo-system-admin").await;
    let admin_csrf = csrf_of(&app, &admin).await;
    let (status, _, _) = post_form(
        &app,
        &admin,
        "/admin/kiosks",
        &[
            ("csrf_token", &admin_csrf),
            ("kiosk_id", "wall-1"),
            ("name", "Wall 1"),
        ],
    )
    .await;
    assert_eq!(status, 201);

    for person in [
        "demo-care-home-editor",
        "demo-discharge-coordinator",
        "demo-control-room",
    ] {
        let cookie = app.session_of(person).await;
        let csrf = csrf_of(&app, &cookie).await;
        for (method, path) in ROUTES {
            let response = request(
                &app,
                method,
                path,
                Auth::Cookie(&cookie),
                &form_for(path, &csrf),
            )
            .await;
            assert_eq!(response.status(), 403, "{person} {method} {path}");
            let page = response.text().await.unwrap();
            assert!(
                page.contains("Only a system administrator"),
                "{person} {method} {path}: {page}"
            );
        }
    }
    // Machines and people with tokens, the administrator's own included:
    // the pages are for a browser session.
    for principal in [
        "demo-vacancy-feed",
        "demo-control-room",
        "demo-system-admin",
    ] {
        let token = app.token_for(&demo(principal));
        for (method, path) in ROUTES {
            let response = request(
                &app,
                method,
                path,
                Auth::Bearer(&token),
                &form_for(path, "x"),
            )
            .await;
            assert_eq!(
                response.status(),
                403,
                "{principal}'s token {method} {path}"
            );
        }
    }
    // Nobody signed in is sent to sign in, and back.
    for (method, path) in ROUTES {
        let response = request(&app, method, path, Auth::Nobody, &form_for(path, "x")).await;
        assert_eq!(response.status(), 303, "{method} {path}");
        let location = response.headers()[LOCATION].to_str().unwrap();
        assert!(
            location.starts_with("/sign-in?return_to=%2Fadmin"),
            "{location}"
        );
    }
    // Nothing was done: no screen registered, wall-1 not revoked, no link.
    let register = app
        .get_with_cookie("/admin/care-homes", &admin)
        .await
        .text()
        .await
        .unwrap();
    assert!(
        register.contains("0 care homes") && !register.contains("Sneaky"),
        "nothing reached the care-home register: {register}"
    );
    let listing = app
        .get_with_cookie("/admin/kiosks", &admin)
        .await
        .text()
        .await
        .unwrap();
    assert!(!listing.contains("sneaky-wall"));
    assert!(
        listing.contains("Waiting for setup") && !listing.contains(">Revoked<"),
        "wall-1 is not revoked"
    );
    let links = app
        .get_with_cookie("/admin/links", &admin)
        .await
        .text()
        .await
        .unwrap();
    assert!(!links.contains("sneaky"));
    // Every refusal is in the audit trail.
    let refusals = app
        .audit("person=demo-discharge-coordinator&limit=1000")
        .await;
    let refused_pages = refusals
        .iter()
        .filter(|r| r["action"] == "admin.page" && r["outcome"]["result"] == "refused")
        .count();
    assert_eq!(refused_pages, ROUTES.len());
}

#[tokio::test]
async fn every_admin_form_needs_the_sessions_csrf_token() {
    let app = spawn().await;
    let admin = app.session_of("demo-system-admin").await;
    for (method, path) in ROUTES.iter().filter(|(m, _)| *m == "POST") {
        for token in ["", "not-the-token"] {
            let response = request(
                &app,
                method,
                path,
                Auth::Cookie(&admin),
                &form_for(path, token),
            )
            .await;
            assert_eq!(response.status(), 403, "{path} with {token:?}");
            let page = response.text().await.unwrap();
            assert!(page.contains("nothing was changed"), "{page}");
        }
    }
    let listing = app
        .get_with_cookie("/admin/kiosks", &admin)
        .await
        .text()
        .await
        .unwrap();
    assert!(!listing.contains("sneaky-wall"));
    // The administrator was not revoked by the forged people form.
    assert_eq!(app.get_with_cookie("/admin", &admin).await.status(), 200);
}

#[tokio::test]
async fn a_screen_is_registered_with_a_qr_code_and_revoked_from_the_page() {
    let app = spawn().await;
    let admin = app.session_of("demo-system-admin").await;
    let csrf = csrf_of(&app, &admin).await;
    // A bad id is refused on its field, with what was typed kept.
    let (status, page, _) = post_form(
        &app,
        &admin,
        "/admin/kiosks",
        &[
            ("csrf_token", &csrf),
            ("kiosk_id", "wall 1"),
            ("name", "Wall one"),
        ],
    )
    .await;
    assert_eq!(status, 422);
    assert!(page.contains("There is a problem") && page.contains("href=\"#kiosk-id\""));
    assert!(page.contains("value=\"Wall one\""));

    let (status, page, _) = post_form(
        &app,
        &admin,
        "/admin/kiosks",
        &[
            ("csrf_token", &csrf),
            ("kiosk_id", "wall-2"),
            ("name", "Control room wall 2"),
        ],
    )
    .await;
    assert_eq!(status, 201, "{page}");
    assert!(page.contains("<svg"), "the setup link as a QR code");
    let start = page.find("id=\"setup-link\">").unwrap() + "id=\"setup-link\">".len();
    let link = page[start..]
        .split('<')
        .next()
        .unwrap()
        .replace("&#x2f;", "/");
    let path = link.strip_prefix(&app.base).unwrap().to_owned();
    // The screen opens the link and is set up.
    let set_up = app.use_link(&path).await;
    assert_eq!(set_up.status(), 303);
    let screen = format!(
        "pf_session={}",
        helpers::cookie_value(&set_up, "pf_session").unwrap()
    );
    assert_eq!(
        app.get_with_cookie("/api/v1/me", &screen).await.status(),
        200
    );
    let listing = app
        .get_with_cookie("/admin/kiosks", &admin)
        .await
        .text()
        .await
        .unwrap();
    assert!(listing.contains("Control room wall 2") && listing.contains("Working"));

    let (status, _, location) = post_form(
        &app,
        &admin,
        "/admin/kiosks/revoke",
        &[("csrf_token", &csrf), ("kiosk_id", "wall-2")],
    )
    .await;
    assert_eq!(status, 303);
    assert_eq!(location.as_deref(), Some("/admin/kiosks?revoked=wall-2"));
    assert_eq!(
        app.get_with_cookie("/api/v1/me", &screen).await.status(),
        401
    );
    let listing = app
        .get_with_cookie("/admin/kiosks?revoked=wall-2", &admin)
        .await
        .text()
        .await
        .unwrap();
    assert!(listing.contains("Revoked") && listing.contains("was revoked"));
    let records = app.audit("entity=kiosk/wall-2").await;
    assert!(
        records
            .iter()
            .any(|r| r["action"] == "access.revoked" && r["actor"]["id"] == "demo-system-admin")
    );
}

#[tokio::test]
async fn links_are_issued_for_one_or_many_and_delivered_through_notify() {
    let notify = NotifyStandIn::start().await.unwrap();
    let config = NotifyConfig::new(
        &notify.base_url,
        &notify.api_key,
        Some("f33517ff-2a88-4f6e-b855-c550268ce08a".to_owned()),
        Some("a1b2c3d4-2a88-4f6e-b855-c550268ce08a".to_owned()),
    )
    .unwrap();
    let app = spawn_with(|c| c.notify = Some(config)).await;
    let admin = app.session_of("demo-system-admin").await;
    let csrf = csrf_of(&app, &admin).await;

    // Many at once, one line wrong: nothing is issued.
    let many =
        "Jo Bloggs, jo.bloggs, 1-000000001, jo@example.nhs.uk\nAl Smith, al smith, 1-000000002\n";
    let (status, page, _) = post_form(
        &app,
        &admin,
        "/admin/links",
        &[("csrf_token", &csrf), ("op", "many"), ("many", many)],
    )
    .await;
    assert_eq!(status, 422);
    assert!(page.contains("Line 2:"), "{page}");
    assert!(notify.sent().is_empty());
    assert!(page.contains("No sign-in links have been issued yet"));

    let many = "Jo Bloggs, jo.bloggs, 1-000000001, jo@example.nhs.uk\nAl Smith, al.smith, 1-000000002 1-000000003, 07700 900123\nSam Lee, sam.lee, 1-000000004\n";
    let (status, page, _) = post_form(
        &app,
        &admin,
        "/admin/links",
        &[("csrf_token", &csrf), ("op", "many"), ("many", many)],
    )
    .await;
    assert_eq!(status, 201, "{page}");
    assert!(page.contains("3 links issued"));
    let sent = notify.sent();
    assert_eq!(sent.len(), 2);
    assert_eq!(
        (sent[0].kind.as_str(), sent[0].to.as_str()),
        ("email", "jo@example.nhs.uk")
    );
    assert_eq!(
        (sent[1].kind.as_str(), sent[1].to.as_str()),
        ("sms", "07700900123")
    );
    assert_eq!(sent[0].personalisation["name"], "Jo Bloggs");
    // The link Notify carried works, once.
    let link = sent[0].personalisation["link"].as_str().unwrap();
    let path = link.strip_prefix(&app.base).unwrap();
    assert_eq!(app.use_link(path).await.status(), 303);
    let listing = app
        .get_with_cookie("/admin/links", &admin)
        .await
        .text()
        .await
        .unwrap();
    let row = |person: &str| {
        let start = listing
            .find(&format!(
                "<tr class=\"nhsuk-table__row\" data-person=\"{person}\""
            ))
            .unwrap();
        listing[start..start + listing[start..].find("</tr>").unwrap()].to_owned()
    };
    assert!(row("jo.bloggs").contains(">Used<"), "{}", row("jo.bloggs"));
    assert!(
        row("al.smith").contains(">Pending<")
            && row("al.smith").contains("Text message to 07700900123")
    );
    assert!(row("sam.lee").contains(">Pending<"));

    // Withdrawn: Sam's link no longer works.
    let sam_link = page
        .split("data-person=\"sam.lee\"")
        .nth(1)
        .and_then(|rest| rest.split("<code class=\"pf-admin-link\">").nth(1))
        .and_then(|rest| rest.split('<').next())
        .unwrap()
        .replace("&#x2f;", "/");
    let (status, _, _) = post_form(
        &app,
        &admin,
        "/admin/links",
        &[
            ("csrf_token", &csrf),
            ("op", "withdraw"),
            ("person_id", "sam.lee"),
        ],
    )
    .await;
    assert_eq!(status, 200);
    let sam_path = sam_link.strip_prefix(&app.base).unwrap();
    assert_eq!(app.use_link(sam_path).await.status(), 410);
    // Reissued: a new link that works.
    let (status, page, _) = post_form(
        &app,
        &admin,
        "/admin/links",
        &[
            ("csrf_token", &csrf),
            ("op", "reissue"),
            ("person_id", "sam.lee"),
        ],
    )
    .await;
    assert_eq!(status, 201);
    let new_link = page
        .split("<code class=\"pf-admin-link\">")
        .nth(1)
        .and_then(|rest| rest.split('<').next())
        .unwrap()
        .replace("&#x2f;", "/");
    assert_ne!(new_link, sam_link);
    assert_eq!(
        app.use_link(new_link.strip_prefix(&app.base).unwrap())
            .await
            .status(),
        303
    );
    let delivered = app.audit("person=demo-system-admin&limit=1000").await;
    assert_eq!(
        delivered
            .iter()
            .filter(
                |r| r["action"] == "access.link_delivered" && r["outcome"]["result"] == "accepted"
            )
            .count(),
        2
    );
}

#[tokio::test]
async fn without_notify_a_link_is_shown_to_copy() {
    let app = spawn().await;
    let admin = app.session_of("demo-system-admin").await;
    let csrf = csrf_of(&app, &admin).await;
    let (status, page, _) = post_form(
        &app,
        &admin,
        "/admin/links",
        &[
            ("csrf_token", &csrf),
            ("op", "one"),
            ("name", "Jo Bloggs"),
            ("person_id", "jo.bloggs"),
            ("care_homes", "1-000000001"),
            ("send_to", "jo@example.nhs.uk"),
        ],
    )
    .await;
    assert_eq!(status, 201, "{page}");
    assert!(page.contains("GOV.UK Notify is not set up here"));
    assert!(page.contains(&format!("{}/sign-in/link/", app.base).replace('/', "&#x2f;")));
}

#[tokio::test]
async fn withdrawing_a_person_from_the_page_ends_their_sessions() {
    let app = spawn().await;
    let admin = app.session_of("demo-system-admin").await;
    let csrf = csrf_of(&app, &admin).await;
    let coordinator = app.session_of("demo-discharge-coordinator").await;
    assert_eq!(
        app.get_with_cookie("/api/v1/me", &coordinator)
            .await
            .status(),
        200
    );
    let (status, _, location) = post_form(
        &app,
        &admin,
        "/admin/people",
        &[
            ("csrf_token", &csrf),
            ("person_id", "demo-discharge-coordinator"),
            ("change", "revoke"),
        ],
    )
    .await;
    assert_eq!(status, 303);
    assert_eq!(
        location.as_deref(),
        Some("/admin/people?done=revoked&person=demo-discharge-coordinator")
    );
    assert_eq!(
        app.get_with_cookie("/api/v1/me", &coordinator)
            .await
            .status(),
        401
    );
    let page = app
        .get_with_cookie("/admin/people", &admin)
        .await
        .text()
        .await
        .unwrap();
    let start = page
        .find("data-person=\"demo-discharge-coordinator\"")
        .unwrap();
    assert!(
        page[start..]
            .split("</tr>")
            .next()
            .unwrap()
            .contains("Withdrawn")
    );
    let (status, _, _) = post_form(
        &app,
        &admin,
        "/admin/people",
        &[
            ("csrf_token", &csrf),
            ("person_id", "demo-discharge-coordinator"),
            ("change", "reinstate"),
        ],
    )
    .await;
    assert_eq!(status, 303);
    // Reinstated: they can sign in again.
    assert!(
        !app.session_of("demo-discharge-coordinator")
            .await
            .is_empty()
    );
}

#[tokio::test]
async fn the_audit_page_finds_who_did_what_and_records_the_search() {
    let app = spawn().await;
    let admin = app.session_of("demo-system-admin").await;
    let csrf = csrf_of(&app, &admin).await;
    post_form(
        &app,
        &admin,
        "/admin/kiosks",
        &[
            ("csrf_token", &csrf),
            ("kiosk_id", "wall-9"),
            ("name", "Wall 9"),
        ],
    )
    .await;
    let page = app
        .get_with_cookie(
            "/admin/audit?entity=kiosk%2Fwall-9&action=access.kiosk",
            &admin,
        )
        .await
        .text()
        .await
        .unwrap();
    assert!(page.contains("record"), "{page}");
    assert!(page.contains("access.kiosk_issued") && page.contains("demo-system-admin"));
    assert!(
        // (The page escapes `/` in attributes as `&#x2f;`.)
        page.contains("&#x2f;api&#x2f;v1&#x2f;audit?entity=kiosk%2Fwall-9&amp;"),
        "the export keeps the search: {page}"
    );
    // A bad date is refused on its field.
    let response = app
        .get_with_cookie("/admin/audit?from=2026-02-31", &admin)
        .await;
    assert_eq!(response.status(), 422);
    assert!(response.text().await.unwrap().contains("href=\"#from\""));
    let reads = app.audit("person=demo-system-admin").await;
    assert!(reads.iter().any(|r| r["action"] == "audit.read"));
}

#[tokio::test]
async fn an_nhs_number_typed_into_the_audit_search_is_refused_not_answered_with_nothing() {
    // The trail never holds an NHS number (pf-audit refuses one), so a
    // search for one would find no records and read as "nobody opened this
    // patient's record": the page says why and what to search by instead.
    let app = spawn().await;
    let admin = app.session_of("demo-system-admin").await;
    for (field, value) in [
        ("entity", "943%20476%205919"),
        ("entity", "discharge%2F9434765919"),
        ("person", "9434765919"),
        ("organisation", "943-476-5919"),
    ] {
        let response = app
            .get_with_cookie(
                &format!("/admin/audit?{field}={value}&action=discharge.open"),
                &admin,
            )
            .await;
        assert_eq!(response.status(), 422, "{field}={value}");
        let page = response.text().await.unwrap();
        assert!(page.contains(&format!("href=\"#{field}\"")), "{page}");
        assert!(page.contains("never holds NHS numbers"), "{page}");
        assert!(page.contains("nhsuk-form-group--error"), "{page}");
        assert!(!page.contains("id=\"results\""), "no results are shown");
    }
    // A ten-digit number failing the NHS number check is searched as typed.
    let response = app
        .get_with_cookie("/admin/audit?entity=1234567890", &admin)
        .await;
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn the_people_page_shows_how_the_staff_providers_roles_become_ours() {
    // Entra ID's mapping as docs/sign-in/entra.json gives it.
    let mapping = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/sign-in/entra.json"),
    )
    .unwrap();
    let app = spawn_with(|c| {
        let mut issuer = pf_access::IssuerConfig::new(
            "https://login.microsoftonline.com/example-tenant/v2.0",
            "api://patient-flow",
            pf_access::JwksSource::Url("http://127.0.0.1:9/keys".to_owned()),
        );
        issuer.claims = pf_access::ClaimMapping::from_json(&mapping).unwrap();
        c.staff_issuer = Some(issuer);
    })
    .await;
    let admin = app.session_of("demo-system-admin").await;
    let page = app
        .get_with_cookie("/admin/people", &admin)
        .await
        .text()
        .await
        .unwrap();
    let table = page
        .split("id=\"role-mapping\"")
        .nth(1)
        .and_then(|rest| rest.split("</table>").next())
        .unwrap_or_else(|| panic!("no role mapping on the page: {page}"));
    assert!(
        table.contains("https:&#x2f;&#x2f;login.microsoftonline.com&#x2f;example-tenant&#x2f;v2.0"),
        "{table}"
    );
    let rows: Vec<&str> = table.split("<tr").skip(2).collect();
    assert_eq!(rows.len(), 3, "{table}");
    assert!(rows[0].contains("PatientFlow.DischargeCoordinator"));
    assert!(rows[0].contains("Discharge coordinator") && rows[0].contains("RWE"));
    assert!(rows[1].contains("PatientFlow.ControlRoom"));
    assert!(rows[2].contains("7d1c2a9e-5b7a-4c1e-9f00-00000000a001"));
    assert!(rows[2].contains("System administrator"));

    // Without a staff provider there is nothing to show.
    let app = spawn().await;
    let admin = app.session_of("demo-system-admin").await;
    let page = app
        .get_with_cookie("/admin/people", &admin)
        .await
        .text()
        .await
        .unwrap();
    assert!(!page.contains("id=\"role-mapping\""));
}
