//! `/admin/care-homes`: the register of care homes. Search it, add a home,
//! edit a home's categories, registered beds and details, retire a home,
//! and import homes from a CSV in the shape of CQC's download (a preview
//! first: what will be added or changed and which rows are refused and
//! why; nothing is imported until the administrator confirms).
//!
//! The register is the homes' events in JetStream (`PF_CARE_HOMES`): every
//! change here is the home's next event ([`HomeLog::administer`],
//! [`HomeLog::retire`]), which the care-homes service follows (no restart),
//! the projection folds into the live state, and which replays with the
//! rest. Every change is first recorded as an attempt in the audit trail;
//! if that cannot be stored nothing changes.
//!
//! An import applies exactly the rows accepted in the preview the
//! administrator saw: the preview carries the file and a digest of its
//! plan; on confirm the file is checked again against the register as it
//! is then, and if the plan differs (someone changed the register
//! meanwhile) nothing is imported and the new preview is shown instead.
//! Refused rows never block the good ones: each is listed with its reason.

use std::collections::{BTreeMap, HashMap};

use axum::body::Bytes;
use axum::extract::{FromRequest as _, Multipart, Query, Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use pf_care_home_log::{RegisterChange, RegisterChangeError, RegisteredHome};
use pf_care_home_model::cqc_import::{self, ImportError, RowOutcome};
use pf_care_home_model::{CareCategory, CqcLocationId, PhoneNumber, Registration};
use serde::Serialize;
use serde_json::json;
use sha2::{Digest as _, Sha256};
use time::OffsetDateTime;

use super::guard::{self, Admin};
use super::kiosks::{form_fields, uk};
use crate::caller::Source;
use crate::pages;
use crate::sign_in::FormError;
use crate::state::AppState;
use crate::trail;

/// The register's page.
pub const PATH: &str = "/admin/care-homes";
/// One home's page (add when no `cqc`).
pub const HOME_PATH: &str = "/admin/care-homes/home";
/// Retiring a home.
pub const RETIRE_PATH: &str = "/admin/care-homes/retire";
/// The import's page.
pub const IMPORT_PATH: &str = "/admin/care-homes/import";
/// Confirming an import.
pub const CONFIRM_PATH: &str = "/admin/care-homes/import/confirm";

/// The audit action of adding a home or changing its registration.
pub const REGISTRATION_CHANGED: &str = "care_home.registration_changed";
/// The audit action of retiring a home.
pub const RETIRED: &str = "care_home.retired";
/// The audit action of a confirmed import (its entity names the file's
/// digest; each home's change is recorded on its own too).
pub const IMPORTED: &str = "care_home.register_imported";

/// The largest body of the import's forms: the file, form-encoded again
/// by the confirmation (commas, spaces and line ends become `%2C`, `+`,
/// `%0A`: at most three bytes each), and a little more.
pub const IMPORT_BODY_LIMIT: usize = 3 * cqc_import::MAX_BYTES + 64 * 1024;

/// The longest name or address kept.
const MAX_TEXT: usize = 200;

/// A home as the register's page lists it.
#[derive(Debug, Clone, Serialize)]
pub struct HomeRow {
    /// CQC location id.
    pub cqc: String,
    /// Name.
    pub name: String,
    /// Postcode.
    pub postcode: String,
    /// Its locality's name.
    pub locality: String,
    /// Registered beds.
    pub beds: u32,
    /// Categories in words.
    pub categories: Vec<&'static str>,
    /// `retired`, `never` (never reported), `stale` or `reporting`.
    pub status: &'static str,
    /// When it last gave its figures, in UK time.
    pub last_report: Option<String>,
}

/// The register as the pages read it, from the homes' events.
async fn homes(app: &AppState) -> Result<Vec<RegisteredHome>, Response> {
    app.care_home_log.all_homes().await.map_err(|err| {
        tracing::error!(cause = %err, "could not read the care-home register");
        guard::refused_page(
            app,
            StatusCode::SERVICE_UNAVAILABLE,
            "The care-home register cannot be read right now. Try again in a few minutes.",
        )
    })
}

/// A home's row: its status against the control room's staleness
/// threshold.
pub fn row(app: &AppState, home: &RegisteredHome, now: OffsetDateTime) -> HomeRow {
    let record = &home.record;
    let r = &record.registration;
    let status = match (&record.retired, &record.confirmed) {
        (Some(_), _) => "retired",
        (None, None) => "never",
        (None, Some(c)) if now - c.at > app.config.care_home_stale_after => "stale",
        (None, Some(_)) => "reporting",
    };
    HomeRow {
        cqc: r.cqc_location_id.to_string(),
        name: r.name.clone(),
        postcode: r.postcode.clone(),
        locality: app
            .config
            .region
            .locality_name(r.locality.as_str())
            .to_owned(),
        beds: r.registered_beds,
        categories: r.categories.iter().map(|c| c.label()).collect(),
        status,
        last_report: record.confirmed.as_ref().map(|c| uk(c.at.unix_timestamp())),
    }
}

/// Homes on the register that have never reported or whose figures are
/// stale (for the administrator's home page), or the reason they cannot
/// be read.
pub async fn needing_attention(app: &AppState) -> Result<Vec<HomeRow>, String> {
    let now = OffsetDateTime::now_utc();
    let homes = app
        .care_home_log
        .all_homes()
        .await
        .map_err(|e| e.to_string())?;
    Ok(homes
        .iter()
        .map(|home| row(app, home, now))
        .filter(|row| row.status == "never" || row.status == "stale")
        .collect())
}

fn render(
    app: &AppState,
    admin: &Admin,
    status: StatusCode,
    name: &str,
    mut context: serde_json::Value,
) -> Response {
    if let Some(map) = context.as_object_mut() {
        map.insert("nav".into(), json!("care-homes"));
        map.insert("person".into(), json!(admin.principal.name));
        map.insert("csrf_token".into(), json!(admin.csrf_token));
        map.insert(
            "stale_hours".into(),
            json!(app.config.care_home_stale_after.as_secs() / 3600),
        );
    }
    pages::render(&app.templates, status, name, context)
}

/// `GET /admin/care-homes`: the register, searched by name, CQC location
/// id or postcode (`q`).
pub async fn show(
    State(app): State<AppState>,
    source: Source,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let admin = match guard::admin(&app, &headers, &source, PATH).await {
        Ok(admin) => admin,
        Err(answer) => return answer,
    };
    let all = match homes(&app).await {
        Ok(homes) => homes,
        Err(answer) => return answer,
    };
    let q = guard::field(query.get("q")).unwrap_or_default();
    let needle = q.to_lowercase();
    let compact = |s: &str| s.to_lowercase().replace(' ', "");
    let now = OffsetDateTime::now_utc();
    let mut rows: Vec<HomeRow> = all
        .iter()
        .map(|home| row(&app, home, now))
        .filter(|row| {
            needle.is_empty()
                || row.name.to_lowercase().contains(&needle)
                || row.cqc.to_lowercase() == needle
                || compact(&row.postcode).starts_with(&compact(&needle))
        })
        .collect();
    // On the register first, by name; retired homes after.
    rows.sort_by(|a, b| {
        (a.status == "retired", a.name.to_lowercase())
            .cmp(&(b.status == "retired", b.name.to_lowercase()))
    });
    let notice = match (
        query.get("saved"),
        query.get("retired"),
        query.get("imported"),
    ) {
        (Some(cqc), _, _) => Some(format!("Care home {cqc} was saved.")),
        (_, Some(cqc), _) => Some(format!(
            "Care home {cqc} was retired. It can no longer report, and discharge teams no longer see it."
        )),
        (_, _, Some(count)) => Some(format!(
            "The import is done: {count} care homes were added or changed."
        )),
        _ => None,
    };
    render(
        &app,
        &admin,
        StatusCode::OK,
        "admin/care-homes.html",
        json!({
            "homes": rows,
            "q": q,
            "total": all.len(),
            "notice": notice,
        }),
    )
}

/// The categories as the form's checkboxes.
fn category_options(chosen: &[CareCategory]) -> Vec<serde_json::Value> {
    CareCategory::ALL
        .iter()
        .map(|c| json!({ "value": c.as_str(), "label": c.label(), "checked": chosen.contains(c) }))
        .collect()
}

/// The form as typed (or as the register has it).
#[derive(Debug, Clone, Default, Serialize)]
struct HomeForm {
    cqc: String,
    name: String,
    address: String,
    postcode: String,
    beds: String,
    phone: String,
    categories: Vec<String>,
}

impl HomeForm {
    fn of(registration: &Registration) -> Self {
        Self {
            cqc: registration.cqc_location_id.to_string(),
            name: registration.name.clone(),
            address: registration.address.clone(),
            postcode: registration.postcode.clone(),
            beds: registration.registered_beds.to_string(),
            phone: registration
                .phone
                .as_ref()
                .map(PhoneNumber::spaced)
                .unwrap_or_default(),
            categories: registration
                .categories
                .iter()
                .map(|c| c.to_string())
                .collect(),
        }
    }

    fn chosen(&self) -> Vec<CareCategory> {
        self.categories
            .iter()
            .filter_map(|c| c.parse().ok())
            .collect()
    }
}

/// The home's page: `existing` is the home as the register has it (`None`:
/// adding one).
#[allow(clippy::too_many_arguments)]
fn home_page(
    app: &AppState,
    admin: &Admin,
    status: StatusCode,
    existing: Option<&RegisteredHome>,
    form: &HomeForm,
    errors: Vec<FormError>,
    retire_errors: Vec<FormError>,
) -> Response {
    let now = OffsetDateTime::now_utc();
    let mut all_errors = errors.clone();
    all_errors.extend(retire_errors.iter().cloned());
    render(
        app,
        admin,
        status,
        "admin/care-home.html",
        json!({
            "adding": existing.is_none(),
            "home": existing.map(|h| row(app, h, now)),
            "retirement": existing.and_then(|h| h.record.retired.as_ref()).map(|r| json!({
                "at": uk(r.at.unix_timestamp()),
                "by": r.by_name,
                "reason": r.reason,
            })),
            "form": form,
            "categories": category_options(&form.chosen()),
            "errors": all_errors,
            "example_postcode": app.config.region.example_postcode,
        }),
    )
}

/// `GET /admin/care-homes/home?cqc=…`: a home's page, or the form to add
/// one.
pub async fn show_home(
    State(app): State<AppState>,
    source: Source,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let admin = match guard::admin(&app, &headers, &source, HOME_PATH).await {
        Ok(admin) => admin,
        Err(answer) => return answer,
    };
    let Some(cqc) = guard::field(query.get("cqc")) else {
        return home_page(
            &app,
            &admin,
            StatusCode::OK,
            None,
            &HomeForm::default(),
            Vec::new(),
            Vec::new(),
        );
    };
    match find(&app, &cqc).await {
        Ok(Some(home)) => {
            let form = HomeForm::of(&home.record.registration);
            home_page(
                &app,
                &admin,
                StatusCode::OK,
                Some(&home),
                &form,
                Vec::new(),
                Vec::new(),
            )
        }
        Ok(None) => guard::refused_page(
            &app,
            StatusCode::NOT_FOUND,
            "There is no care home with that CQC location ID on the register.",
        ),
        Err(answer) => answer,
    }
}

/// The home with this CQC location id, retired ones included.
async fn find(app: &AppState, cqc: &str) -> Result<Option<RegisteredHome>, Response> {
    let Ok(cqc) = CqcLocationId::parse(cqc) else {
        return Ok(None);
    };
    let current = app.care_home_log.current(&cqc).await.map_err(|err| {
        tracing::error!(cause = %err, "could not read a care home");
        guard::refused_page(
            app,
            StatusCode::SERVICE_UNAVAILABLE,
            "The care-home register cannot be read right now. Try again in a few minutes.",
        )
    })?;
    Ok(current.map(|c| RegisteredHome {
        record: c.record,
        recorded_at: c.recorded_at,
    }))
}

/// Checks the form against the region: the registration it asks for, or
/// every problem on the field it is about.
fn registration_of(
    app: &AppState,
    form: &HomeForm,
    existing: Option<&Registration>,
) -> Result<Registration, Vec<FormError>> {
    let mut errors = Vec::new();
    let cqc = match existing {
        Some(existing) => Some(existing.cqc_location_id.clone()),
        None => match CqcLocationId::parse(&form.cqc) {
            Ok(cqc) => Some(cqc),
            Err(_) => {
                errors.push(FormError::new(
                    if form.cqc.is_empty() {
                        "Enter the home's CQC location ID, for example 1-123456789".to_owned()
                    } else {
                        "Enter a CQC location ID in the right shape: 1- followed by numbers, for example 1-123456789".to_owned()
                    },
                    "cqc",
                ));
                None
            }
        },
    };
    if form.name.is_empty() {
        errors.push(FormError::new("Enter the home's name", "name"));
    } else if form.name.chars().count() > MAX_TEXT {
        errors.push(FormError::new(
            "The home's name must be 200 characters or fewer",
            "name",
        ));
    }
    if form.address.chars().count() > MAX_TEXT {
        errors.push(FormError::new(
            "The address must be 200 characters or fewer",
            "address",
        ));
    }
    let region = &app.config.region;
    let place = region.district_of(&form.postcode);
    if place.is_none() {
        errors.push(FormError::new(
            if form.postcode.is_empty() {
                format!(
                    "Enter the home's postcode, for example {}",
                    region.example_postcode
                )
            } else {
                format!(
                    "Enter a postcode in {}: {} is not in any of its localities",
                    region.ics.name, form.postcode
                )
            },
            "postcode",
        ));
    }
    let beds = match form.beds.parse::<u32>() {
        Ok(beds) if (1..=cqc_import::MAX_BEDS).contains(&beds) => Some(beds),
        _ => {
            errors.push(FormError::new(
                "Enter the number of beds the home is registered for, a whole number from 1 to 1000",
                "beds",
            ));
            None
        }
    };
    let categories = form.chosen();
    if categories.is_empty() || categories.len() != form.categories.len() {
        errors.push(FormError::new(
            "Choose at least one category of care the home offers",
            "categories",
        ));
    }
    let phone = match form.phone.as_str() {
        "" => None,
        text => match PhoneNumber::parse(text) {
            Ok(phone) => Some(phone),
            Err(_) => {
                errors.push(FormError::new(
                    "Enter a UK telephone number with digits and spaces only, for example 0116 496 0123",
                    "phone",
                ));
                None
            }
        },
    };
    let (Some(cqc), Some((locality, district)), Some(beds), true) =
        (cqc, place, beds, errors.is_empty())
    else {
        return Err(errors);
    };
    let postcode = pf_region::normalise(&form.postcode);
    // A home that keeps its postcode keeps its place (it may be more
    // precise than the postcode district's centre).
    let (latitude, longitude) = match existing {
        Some(e) if pf_region::normalise(&e.postcode) == postcode => (e.latitude, e.longitude),
        _ => (district.latitude, district.longitude),
    };
    Ok(Registration {
        cqc_location_id: cqc,
        name: form.name.clone(),
        address: form.address.clone(),
        postcode,
        latitude,
        longitude,
        locality: locality.code.clone(),
        registered_beds: beds,
        categories: CareCategory::ALL
            .iter()
            .copied()
            .filter(|c| categories.contains(c))
            .collect(),
        phone,
    })
}

/// The form's fields, categories as a list.
fn home_form(body: &Bytes) -> (HomeForm, HashMap<String, String>) {
    let mut form = HomeForm::default();
    let mut rest = HashMap::new();
    for (name, value) in form_urlencoded::parse(body) {
        let value = value.trim().to_owned();
        match name.as_ref() {
            "cqc" => form.cqc = value,
            "name" => form.name = value,
            "address" => form.address = value,
            "postcode" => form.postcode = value,
            "beds" => form.beds = value,
            "phone" => form.phone = value,
            "categories" => form.categories.push(value),
            other => {
                rest.insert(other.to_owned(), value);
            }
        }
    }
    (form, rest)
}

fn entity(cqc: &str) -> String {
    format!("care-home/{}", trail::clip(cqc))
}

fn unavailable(app: &AppState) -> Response {
    guard::refused_page(
        app,
        StatusCode::SERVICE_UNAVAILABLE,
        "The change could not be recorded in the audit trail, so nothing was changed. Try again in a few minutes.",
    )
}

/// `POST /admin/care-homes/home`: adds a home or saves its changes.
pub async fn save_home(
    State(app): State<AppState>,
    source: Source,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (form, rest) = home_form(&body);
    let editing = rest.get("editing").cloned().filter(|e| !e.is_empty());
    let target = editing.clone().unwrap_or_else(|| form.cqc.clone());
    let admin = match guard::admin_form(
        &app,
        &headers,
        &source,
        HOME_PATH,
        rest.get("csrf_token").map(String::as_str),
        REGISTRATION_CHANGED,
        &entity(&target),
    )
    .await
    {
        Ok(admin) => admin,
        Err(answer) => return answer,
    };
    let existing = match &editing {
        Some(cqc) => match find(&app, cqc).await {
            Ok(Some(home)) => Some(home),
            Ok(None) => {
                return guard::refused_page(
                    &app,
                    StatusCode::NOT_FOUND,
                    "There is no care home with that CQC location ID on the register.",
                );
            }
            Err(answer) => return answer,
        },
        None => None,
    };
    let mut registration = registration_of(
        &app,
        &form,
        existing.as_ref().map(|h| &h.record.registration),
    );
    if existing.is_none()
        && let Ok(wanted) = &registration
    {
        match find(&app, wanted.cqc_location_id.as_str()).await {
            Ok(Some(_)) => {
                registration = Err(vec![FormError::new(
                    format!(
                        "Care home {} is already on the register: find it in the list and edit it there",
                        wanted.cqc_location_id
                    ),
                    "cqc",
                )]);
            }
            Ok(None) => {}
            Err(answer) => return answer,
        }
    }
    let registration = match registration {
        Ok(registration) => registration,
        Err(errors) => {
            let refused = errors
                .iter()
                .map(|e| e.text.as_str())
                .collect::<Vec<_>>()
                .join("; ");
            trail::refused(
                &app,
                trail::actor(&admin.principal),
                REGISTRATION_CHANGED,
                &entity(&target),
                &refused,
                &source,
            )
            .await;
            return home_page(
                &app,
                &admin,
                StatusCode::UNPROCESSABLE_ENTITY,
                existing.as_ref(),
                &form,
                errors,
                Vec::new(),
            );
        }
    };
    let cqc = registration.cqc_location_id.to_string();
    let Ok(attempt) = trail::attempt(
        &app,
        trail::actor(&admin.principal),
        REGISTRATION_CHANGED,
        &entity(&cqc),
        &source,
    )
    .await
    else {
        return unavailable(&app);
    };
    match app
        .care_home_log
        .administer(&registration, &admin.principal)
        .await
    {
        Ok((_, event_id)) => {
            attempt.accepted(event_id.as_deref()).await;
            let id: String = form_urlencoded::byte_serialize(cqc.as_bytes()).collect();
            pages::see_other(&format!("{PATH}?saved={id}"), &[])
        }
        Err(err) => {
            attempt.refused(&err.to_string()).await;
            let status = change_status(&err);
            home_page(
                &app,
                &admin,
                status,
                existing.as_ref(),
                &form,
                vec![FormError::new(err.to_string(), "name")],
                Vec::new(),
            )
        }
    }
}

fn change_status(err: &RegisterChangeError) -> StatusCode {
    match err {
        RegisterChangeError::UnknownHome(_) => StatusCode::NOT_FOUND,
        RegisterChangeError::Retired(_) | RegisterChangeError::Contended(_) => StatusCode::CONFLICT,
        RegisterChangeError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
    }
}

/// `POST /admin/care-homes/retire`: retires a home (for good), with the
/// reason the administrator gives.
pub async fn retire(
    State(app): State<AppState>,
    source: Source,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let fields = form_fields(&body);
    let cqc = guard::field(fields.get("cqc")).unwrap_or_default();
    let admin = match guard::admin_form(
        &app,
        &headers,
        &source,
        RETIRE_PATH,
        fields.get("csrf_token").map(String::as_str),
        RETIRED,
        &entity(&cqc),
    )
    .await
    {
        Ok(admin) => admin,
        Err(answer) => return answer,
    };
    let home = match find(&app, &cqc).await {
        Ok(Some(home)) => home,
        Ok(None) => {
            return guard::refused_page(
                &app,
                StatusCode::NOT_FOUND,
                "There is no care home with that CQC location ID on the register.",
            );
        }
        Err(answer) => return answer,
    };
    let form = HomeForm::of(&home.record.registration);
    let reason = guard::field(fields.get("reason")).unwrap_or_default();
    if reason.is_empty() || reason.chars().count() > MAX_TEXT {
        let text = if reason.is_empty() {
            "Say why the home is leaving the register, for example Closed in March 2027"
        } else {
            "The reason must be 200 characters or fewer"
        };
        trail::refused(
            &app,
            trail::actor(&admin.principal),
            RETIRED,
            &entity(&cqc),
            text,
            &source,
        )
        .await;
        return home_page(
            &app,
            &admin,
            StatusCode::UNPROCESSABLE_ENTITY,
            Some(&home),
            &form,
            Vec::new(),
            vec![FormError::new(text, "reason")],
        );
    }
    let Ok(attempt) = trail::attempt(
        &app,
        trail::actor(&admin.principal),
        RETIRED,
        &entity(&cqc),
        &source,
    )
    .await
    else {
        return unavailable(&app);
    };
    match app
        .care_home_log
        .retire(home.record.cqc(), &reason, &admin.principal)
        .await
    {
        Ok(event_id) => {
            attempt.accepted(Some(&event_id)).await;
            let id: String = form_urlencoded::byte_serialize(cqc.as_bytes()).collect();
            pages::see_other(&format!("{PATH}?retired={id}"), &[])
        }
        Err(err) => {
            attempt.refused(&err.to_string()).await;
            home_page(
                &app,
                &admin,
                change_status(&err),
                Some(&home),
                &form,
                Vec::new(),
                vec![FormError::new(err.to_string(), "reason")],
            )
        }
    }
}

/// One row of an import's plan, as the preview lists it.
#[derive(Debug, Clone, Serialize)]
struct PlannedRow {
    line: usize,
    cqc: String,
    name: String,
    /// `add`, `change` or `same`.
    change: &'static str,
    /// What changes, in words.
    details: Vec<String>,
    notes: Vec<String>,
}

/// A refused row, as the preview lists it.
#[derive(Debug, Clone, Serialize)]
struct RefusedRow {
    line: usize,
    location_id: String,
    name: String,
    reason: String,
}

/// What an import would do against the register as it is.
#[derive(Debug, Default)]
struct Plan {
    rows: Vec<PlannedRow>,
    refused: Vec<RefusedRow>,
    /// The registrations to publish (added or changed), in file order.
    apply: Vec<Registration>,
    outside_region: usize,
    not_care_homes: usize,
}

impl Plan {
    /// A digest of what it would change: the confirm form carries it, so
    /// that exactly the previewed changes are made.
    fn digest(&self) -> String {
        let mut hasher = Sha256::new();
        for registration in &self.apply {
            hasher.update(serde_json::to_vec(registration).unwrap_or_default());
            hasher.update([0]);
        }
        hasher
            .finalize()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }
}

fn describe(before: &Registration, after: &Registration) -> Vec<String> {
    let mut details = Vec::new();
    if before.name != after.name {
        details.push(format!("Name: {} becomes {}", before.name, after.name));
    }
    if before.registered_beds != after.registered_beds {
        details.push(format!(
            "Registered beds: {} becomes {}",
            before.registered_beds, after.registered_beds
        ));
    }
    let added: Vec<_> = after
        .categories
        .iter()
        .filter(|c| !before.categories.contains(c))
        .map(|c| c.label())
        .collect();
    let removed: Vec<_> = before
        .categories
        .iter()
        .filter(|c| !after.categories.contains(c))
        .map(|c| c.label())
        .collect();
    if !added.is_empty() {
        details.push(format!("Adds {}", added.join(", ")));
    }
    if !removed.is_empty() {
        details.push(format!("No longer offers {}", removed.join(", ")));
    }
    if before.postcode != after.postcode {
        details.push(format!(
            "Postcode: {} becomes {}",
            before.postcode, after.postcode
        ));
    }
    if before.address != after.address {
        details.push("Address changes".to_owned());
    }
    if before.phone != after.phone {
        details.push("Telephone number changes".to_owned());
    }
    details
}

/// The plan of an import of `bytes` against the register as it is now.
async fn plan_of(app: &AppState, bytes: &[u8]) -> Result<Result<Plan, ImportError>, Response> {
    let parsed = match cqc_import::parse(bytes, &app.config.region) {
        Ok(parsed) => parsed,
        Err(err) => return Ok(Err(err)),
    };
    let register: BTreeMap<CqcLocationId, RegisteredHome> = homes(app)
        .await?
        .into_iter()
        .map(|h| (h.record.cqc().clone(), h))
        .collect();
    let mut plan = Plan {
        outside_region: parsed.outside_region,
        not_care_homes: parsed.not_care_homes,
        ..Plan::default()
    };
    for row in parsed.rows {
        let home = match row.outcome {
            RowOutcome::Refused(reason) => {
                plan.refused.push(RefusedRow {
                    line: row.line,
                    location_id: row.location_id,
                    name: row.name,
                    reason,
                });
                continue;
            }
            RowOutcome::Home(home) => *home,
        };
        let cqc = home.cqc_location_id.to_string();
        match register.get(&home.cqc_location_id) {
            None => {
                plan.rows.push(PlannedRow {
                    line: row.line,
                    cqc,
                    name: home.name.clone(),
                    change: "add",
                    details: Vec::new(),
                    notes: row.notes,
                });
                plan.apply.push(home);
            }
            Some(current) if current.record.is_retired() => {
                plan.refused.push(RefusedRow {
                    line: row.line,
                    location_id: row.location_id,
                    name: row.name,
                    reason: format!(
                        "{} was retired from the register; an import does not bring a retired home back.",
                        current.record.registration.name
                    ),
                });
            }
            Some(current) => {
                let before = &current.record.registration;
                // What CQC does not know is kept: the short-stay categories
                // set on the register's page, the telephone number and the
                // address when the file has none, and a precise place.
                let mut merged = home;
                let short_stay = [
                    CareCategory::ShortStayDischargeToAssess,
                    CareCategory::ShortStayIntermediateCare,
                    CareCategory::ShortStayReablement,
                    CareCategory::ShortStayRespite,
                ];
                let mut categories = merged.categories.clone();
                categories.extend(before.categories.iter().filter(|c| short_stay.contains(c)));
                merged.categories = CareCategory::ALL
                    .iter()
                    .copied()
                    .filter(|c| categories.contains(c))
                    .collect();
                if merged.phone.is_none() {
                    merged.phone = before.phone.clone();
                }
                if merged.address.is_empty() {
                    merged.address = before.address.clone();
                }
                if merged.postcode == before.postcode {
                    merged.latitude = before.latitude;
                    merged.longitude = before.longitude;
                }
                let details = describe(before, &merged);
                let change = if details.is_empty() { "same" } else { "change" };
                plan.rows.push(PlannedRow {
                    line: row.line,
                    cqc,
                    name: merged.name.clone(),
                    change,
                    details,
                    notes: row.notes,
                });
                if change == "change" {
                    plan.apply.push(merged);
                }
            }
        }
    }
    Ok(Ok(plan))
}

fn import_page(
    app: &AppState,
    admin: &Admin,
    status: StatusCode,
    plan: Option<(&Plan, &str)>,
    errors: Vec<FormError>,
    notice: Option<String>,
) -> Response {
    let preview = plan.map(|(plan, csv)| {
        json!({
            "rows": plan.rows,
            "refused": plan.refused,
            "adding": plan.rows.iter().filter(|r| r.change == "add").count(),
            "changing": plan.rows.iter().filter(|r| r.change == "change").count(),
            "same": plan.rows.iter().filter(|r| r.change == "same").count(),
            "outside_region": plan.outside_region,
            "not_care_homes": plan.not_care_homes,
            "digest": plan.digest(),
            "csv": csv,
            "nothing_to_do": plan.apply.is_empty(),
        })
    });
    render(
        app,
        admin,
        status,
        "admin/care-home-import.html",
        json!({
            "preview": preview,
            "errors": errors,
            "notice": notice,
            "region": app.config.region.ics.name,
        }),
    )
}

/// `GET /admin/care-homes/import`: the upload form.
pub async fn show_import(
    State(app): State<AppState>,
    source: Source,
    headers: HeaderMap,
) -> Response {
    let admin = match guard::admin(&app, &headers, &source, IMPORT_PATH).await {
        Ok(admin) => admin,
        Err(answer) => return answer,
    };
    import_page(&app, &admin, StatusCode::OK, None, Vec::new(), None)
}

/// `POST /admin/care-homes/import` (a file upload): the preview. Nothing is
/// changed. Who is asking is checked before the upload is read; a body that
/// is not a form upload carries no CSRF token and is refused as such.
pub async fn preview(State(app): State<AppState>, source: Source, request: Request) -> Response {
    let headers = request.headers().clone();
    if let Err(answer) = guard::admin(&app, &headers, &source, IMPORT_PATH).await {
        return answer;
    }
    let mut csrf = None;
    let mut file: Option<Vec<u8>> = None;
    match Multipart::from_request(request, &()).await {
        Ok(mut multipart) => loop {
            match multipart.next_field().await {
                Ok(Some(field)) => {
                    let name = field.name().unwrap_or_default().to_owned();
                    match field.bytes().await {
                        Ok(bytes) if name == "csrf_token" => {
                            csrf = Some(String::from_utf8_lossy(&bytes).into_owned());
                        }
                        Ok(bytes) if name == "file" => file = Some(bytes.to_vec()),
                        Ok(_) => {}
                        Err(err) => {
                            tracing::info!(cause = %err, "an import upload could not be read");
                            break;
                        }
                    }
                }
                Ok(None) => break,
                Err(err) => {
                    tracing::info!(cause = %err, "an import upload could not be read");
                    break;
                }
            }
        },
        Err(err) => tracing::info!(cause = %err, "an import that is not a form upload"),
    }
    let admin = match guard::admin_form(
        &app,
        &headers,
        &source,
        IMPORT_PATH,
        csrf.as_deref(),
        IMPORTED,
        "care-home-register",
    )
    .await
    {
        Ok(admin) => admin,
        Err(answer) => return answer,
    };
    let bytes = file.unwrap_or_default();
    previewed(&app, &admin, &bytes, None).await
}

async fn previewed(
    app: &AppState,
    admin: &Admin,
    bytes: &[u8],
    notice: Option<String>,
) -> Response {
    match plan_of(app, bytes).await {
        Err(answer) => answer,
        Ok(Err(err)) => import_page(
            app,
            admin,
            StatusCode::UNPROCESSABLE_ENTITY,
            None,
            vec![FormError::new(err.to_string(), "file")],
            None,
        ),
        Ok(Ok(plan)) => {
            let csv = String::from_utf8_lossy(bytes);
            import_page(
                app,
                admin,
                StatusCode::OK,
                Some((&plan, &csv)),
                Vec::new(),
                notice,
            )
        }
    }
}

/// `POST /admin/care-homes/import/confirm`: imports exactly the rows the
/// preview accepted, or, when the register changed since, nothing (and the
/// new preview).
pub async fn confirm(
    State(app): State<AppState>,
    source: Source,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let fields = form_fields(&body);
    let csv = fields.get("csv").cloned().unwrap_or_default();
    let digest = fields.get("digest").cloned().unwrap_or_default();
    let admin = match guard::admin_form(
        &app,
        &headers,
        &source,
        CONFIRM_PATH,
        fields.get("csrf_token").map(String::as_str),
        IMPORTED,
        "care-home-register",
    )
    .await
    {
        Ok(admin) => admin,
        Err(answer) => return answer,
    };
    let plan = match plan_of(&app, csv.as_bytes()).await {
        Err(answer) => return answer,
        Ok(Err(err)) => {
            return import_page(
                &app,
                &admin,
                StatusCode::UNPROCESSABLE_ENTITY,
                None,
                vec![FormError::new(err.to_string(), "file")],
                None,
            );
        }
        Ok(Ok(plan)) => plan,
    };
    if plan.digest() != digest {
        return import_page(
            &app,
            &admin,
            StatusCode::CONFLICT,
            Some((&plan, &csv)),
            Vec::new(),
            Some("The register changed since you checked this file, so nothing was imported. Check the changes below again, then confirm.".to_owned()),
        );
    }
    let import_entity = format!(
        "care-home-register/import/{}",
        &digest[..digest.len().min(16)]
    );
    let Ok(import_attempt) = trail::attempt(
        &app,
        trail::actor(&admin.principal),
        IMPORTED,
        &import_entity,
        &source,
    )
    .await
    else {
        return unavailable(&app);
    };
    // Every home's attempt is in the audit trail before any home changes:
    // an audit trail that stops accepting records part way changes nothing.
    let mut attempts = Vec::with_capacity(plan.apply.len());
    for registration in &plan.apply {
        let cqc = registration.cqc_location_id.to_string();
        match trail::attempt(
            &app,
            trail::actor(&admin.principal),
            REGISTRATION_CHANGED,
            &entity(&cqc),
            &source,
        )
        .await
        {
            Ok(attempt) => attempts.push(attempt),
            Err(_) => {
                let reason = "the audit trail stopped accepting records; nothing was imported";
                for attempt in attempts {
                    attempt.refused(reason).await;
                }
                import_attempt.refused(reason).await;
                return unavailable(&app);
            }
        }
    }
    let mut applied = 0usize;
    let mut attempts = attempts.into_iter();
    for registration in &plan.apply {
        let cqc = registration.cqc_location_id.to_string();
        let Some(attempt) = attempts.next() else {
            break;
        };
        match app
            .care_home_log
            .administer(registration, &admin.principal)
            .await
        {
            Ok((RegisterChange::Unchanged, _)) => trail::outcome(attempt).await,
            Ok((_, event_id)) => {
                applied += 1;
                attempt.accepted(event_id.as_deref()).await;
            }
            Err(err) => {
                attempt.refused(&err.to_string()).await;
                let reason = format!("stopped at {cqc}: {err}");
                for rest in attempts {
                    rest.refused(&reason).await;
                }
                import_attempt.refused(&reason).await;
                return guard::refused_page(
                    &app,
                    change_status(&err),
                    &format!(
                        "The import stopped at care home {cqc} ({err}). {applied} homes before it were saved. Go back and confirm again: homes already saved are not changed twice."
                    ),
                );
            }
        }
    }
    trail::outcome(import_attempt).await;
    pages::see_other(&format!("{PATH}?imported={applied}"), &[])
}
