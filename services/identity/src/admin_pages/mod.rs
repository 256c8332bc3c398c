//! The administration pages: what an ICB's system administrator uses
//! instead of the JSON API (server-rendered, NHS.UK design system, working
//! without JavaScript).
//!
//! Every page and every action is for system administrators only, and only
//! in a browser session: anyone else signed in gets a 403 page, and the
//! refusal is in the audit trail; nobody signed in is sent to sign in.
//! Every form carries the session's CSRF token and a post without it is
//! refused (and recorded). The actions call the same code as the JSON API
//! (`links::issue_for`, `kiosks::register`, `admin::revoke_person`…), so
//! each is audited exactly as the API's.
//!
//! # Layout
//! - [`guard`]: who may see the pages, and the CSRF check of their forms.
//! - [`home`]: `/admin`, what needs attention.
//! - [`care_homes`]: `/admin/care-homes`, the register of care homes:
//!   search, add, edit, retire, and import from a CQC download.
//! - [`kiosks`]: `/admin/kiosks`, wall screens: register (with the setup
//!   link as a QR code), last seen, revoke.
//! - [`links`]: `/admin/links`, care-home sign-in links for one or many.
//! - [`people`]: `/admin/people`, revoking and reinstating a person.
//! - [`audit`]: `/admin/audit`, searching and exporting the audit trail.
//! - [`notify`]: delivering links through GOV.UK Notify.
//! - [`notify_stand_in`]: a local stand-in for Notify's API (tests, demos).
//! - [`qr`]: a link as an inline SVG QR code.
//! - [`register`]: the register of issued sign-in links (pending, used,
//!   expired, withdrawn).

pub mod audit;
pub mod care_homes;
pub mod guard;
pub mod home;
pub mod kiosks;
pub mod links;
pub mod notify;
pub mod notify_stand_in;
pub mod people;
pub mod qr;
pub mod register;

use axum::Router;
use axum::routing::{get, post};

use crate::state::AppState;

/// The administration pages' templates (under `dashboards/templates`); each
/// must compile at start.
pub const TEMPLATES: [&str; 9] = [
    "admin/home.html",
    "admin/care-homes.html",
    "admin/care-home.html",
    "admin/care-home-import.html",
    "admin/kiosks.html",
    "admin/links.html",
    "admin/people.html",
    "admin/audit.html",
    "admin/refused.html",
];

/// Every administration page and action, as `(method, path)`: the access
/// tests walk this list, so a new route is covered by them the day it is
/// added.
pub const ROUTES: [(&str, &str); 16] = [
    ("GET", "/admin"),
    ("GET", "/admin/care-homes"),
    ("GET", "/admin/care-homes/home"),
    ("POST", "/admin/care-homes/home"),
    ("POST", "/admin/care-homes/retire"),
    ("GET", "/admin/care-homes/import"),
    ("POST", "/admin/care-homes/import"),
    ("POST", "/admin/care-homes/import/confirm"),
    ("GET", "/admin/kiosks"),
    ("POST", "/admin/kiosks"),
    ("POST", "/admin/kiosks/revoke"),
    ("GET", "/admin/links"),
    ("POST", "/admin/links"),
    ("GET", "/admin/people"),
    ("POST", "/admin/people"),
    ("GET", "/admin/audit"),
];

/// The routes of the administration pages (the import's are apart:
/// [`import_routes`]).
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/admin", get(home::show))
        .route("/admin/care-homes", get(care_homes::show))
        .route(
            care_homes::HOME_PATH,
            get(care_homes::show_home).post(care_homes::save_home),
        )
        .route(care_homes::RETIRE_PATH, post(care_homes::retire))
        .route("/admin/kiosks", get(kiosks::show).post(kiosks::register))
        .route("/admin/kiosks/revoke", post(kiosks::revoke))
        .route("/admin/links", get(links::show).post(links::issue))
        .route("/admin/people", get(people::show).post(people::change))
        .route("/admin/audit", get(audit::show))
}

/// The import's upload and confirmation, whose bodies carry a whole CSV
/// file: outside the service's small body limit, with their own
/// ([`care_homes::IMPORT_BODY_LIMIT`]).
pub fn import_routes() -> Router<AppState> {
    Router::new()
        .route(
            care_homes::IMPORT_PATH,
            get(care_homes::show_import).post(care_homes::preview),
        )
        .route(care_homes::CONFIRM_PATH, post(care_homes::confirm))
        .layer(axum::extract::DefaultBodyLimit::max(
            care_homes::IMPORT_BODY_LIMIT,
        ))
        .layer(tower_http::limit::RequestBodyLimitLayer::new(
            care_homes::IMPORT_BODY_LIMIT,
        ))
}
