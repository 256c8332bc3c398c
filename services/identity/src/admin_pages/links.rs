//! `/admin/links`: care-home sign-in links. Issue one for a person, or many
//! at once (one person a line, every line checked before any link is
//! made); see which are pending, used, expired or withdrawn; reissue one
//! (the earlier link stops working) or withdraw it. When GOV.UK Notify is
//! configured ([`super::notify`]) a link can be sent by email or text
//! message; otherwise, and always after issuing, it is shown to copy.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::Serialize;
use serde_json::json;
use time::OffsetDateTime;

use super::guard::{self, Admin};
use super::kiosks::{form_fields, uk};
use super::notify::{NotifyError, Recipient};
use crate::admin::{self, PersonRequest};
use crate::api::ApiError;
use crate::caller::Source;
use crate::links::{LINK_ISSUED, LinkRequest, issue_for};
use crate::pages;
use crate::sign_in::FormError;
use crate::state::AppState;
use crate::trail;

/// The page's path.
pub const PATH: &str = "/admin/links";

/// The audit action of delivering a link through GOV.UK Notify.
pub const LINK_DELIVERED: &str = "access.link_delivered";

/// The audit action of withdrawing a person's unused links.
pub const LINK_WITHDRAWN: &str = "access.link_withdrawn";

/// At most this many people in one "many at once" request.
pub const MAX_BATCH: usize = 200;

/// A link pending for less than this is "about to expire" (6 hours).
pub const EXPIRING_SECS: i64 = 6 * 60 * 60;

/// One person's request, from the single form or a line of the many.
#[derive(Debug, Clone)]
struct Wanted {
    line: usize,
    name: String,
    person_id: String,
    care_homes: Vec<String>,
    send_to: Option<Recipient>,
}

/// A link just issued, as the page shows it.
#[derive(Debug, Serialize)]
struct Issued {
    name: String,
    person_id: String,
    link: String,
    delivered: Option<String>,
    delivery_problem: Option<String>,
}

/// A link in the register, as the page lists it.
#[derive(Debug, Serialize)]
pub struct LinkRow {
    /// The person's id.
    pub person_id: String,
    /// Their name.
    pub name: String,
    /// Their homes.
    pub care_homes: String,
    /// Issued, in UK time.
    pub issued: String,
    /// Expires, in UK time.
    pub expires: String,
    /// Status in words.
    pub status: &'static str,
    /// Pending and expiring within [`EXPIRING_SECS`].
    pub expiring: bool,
    /// How it was delivered.
    pub delivered: Option<String>,
}

/// Every link in the register, newest first.
pub async fn rows(app: &AppState) -> Result<Vec<LinkRow>, String> {
    let now = OffsetDateTime::now_utc().unix_timestamp();
    let links = app.link_register.all().await.map_err(|e| e.to_string())?;
    Ok(links
        .into_iter()
        .map(|(link, withdrawn)| {
            let status = link.status(now, withdrawn);
            LinkRow {
                expiring: status == super::register::LinkStatus::Pending
                    && link.expires_at - now <= EXPIRING_SECS,
                status: status.label(),
                issued: uk(link.issued_at),
                expires: uk(link.expires_at),
                care_homes: link.care_homes.join(", "),
                person_id: link.person_id,
                name: link.name,
                delivered: link.delivered,
            }
        })
        .collect())
}

async fn page(
    app: &AppState,
    admin: &Admin,
    status: StatusCode,
    errors: Vec<FormError>,
    issued: Vec<Issued>,
    form: &HashMap<String, String>,
    notice: Option<String>,
) -> Response {
    let links = match rows(app).await {
        Ok(rows) => rows,
        Err(cause) => {
            tracing::error!(%cause, "could not list sign-in links");
            return guard::refused_page(
                app,
                StatusCode::SERVICE_UNAVAILABLE,
                "The list of sign-in links cannot be read right now. Try again in a few minutes.",
            );
        }
    };
    pages::render(
        &app.templates,
        status,
        "admin/links.html",
        json!({
            "nav": "links",
            "person": admin.principal.name,
            "csrf_token": admin.csrf_token,
            "links": links,
            "issued": issued,
            "errors": errors,
            "form": form,
            "notice": notice,
            "notify": app.notify.is_some(),
            "lifetime_hours": app.store().policy().link.as_secs() / 3600,
        }),
    )
}

/// `GET /admin/links`.
pub async fn show(State(app): State<AppState>, source: Source, headers: HeaderMap) -> Response {
    let admin = match guard::admin(&app, &headers, &source, PATH).await {
        Ok(admin) => admin,
        Err(answer) => return answer,
    };
    page(
        &app,
        &admin,
        StatusCode::OK,
        Vec::new(),
        Vec::new(),
        &HashMap::new(),
        None,
    )
    .await
}

/// Splits a list of CQC location ids typed with spaces, commas or `;`.
fn homes(value: &str) -> Vec<String> {
    value
        .split([' ', ',', ';', '\t'])
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Checks one person's request: what is wrong, in words, else nothing.
fn check(wanted: &Wanted) -> Result<(), String> {
    let request = LinkRequest {
        name: wanted.name.clone(),
        person_id: wanted.person_id.clone(),
        care_homes: wanted.care_homes.clone(),
    };
    request
        .principal()
        .map(|_| ())
        .map_err(|err| err.to_string().replace("person_id", "The person's ID"))
}

/// Reads the "many at once" box: one person a line, `name, person ID,
/// CQC location IDs (space between), email or mobile (optional)`.
fn read_many(text: &str) -> (Vec<Wanted>, Vec<FormError>) {
    let mut wanted = Vec::new();
    let mut errors = Vec::new();
    let lines: Vec<(usize, &str)> = text
        .lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l.trim()))
        .filter(|(_, l)| !l.is_empty())
        .collect();
    if lines.len() > MAX_BATCH {
        errors.push(FormError::new(
            format!("Enter at most {MAX_BATCH} people at once"),
            "many",
        ));
        return (wanted, errors);
    }
    for (line, text) in lines {
        let parts: Vec<&str> = text.split(',').map(str::trim).collect();
        if parts.len() < 3 || parts.len() > 4 {
            errors.push(FormError::new(
                format!(
                    "Line {line}: write the name, the person's ID, their homes' CQC location IDs \
                     and (if it is to be sent) their email or mobile, separated by commas"
                ),
                "many",
            ));
            continue;
        }
        let send_to = match parts.get(3).filter(|v| !v.is_empty()) {
            None => None,
            Some(v) => match Recipient::parse(v) {
                Ok(r) => Some(r),
                Err(err) => {
                    errors.push(FormError::new(format!("Line {line}: {err}"), "many"));
                    continue;
                }
            },
        };
        let one = Wanted {
            line,
            name: parts[0].to_owned(),
            person_id: parts[1].to_owned(),
            care_homes: homes(parts[2]),
            send_to,
        };
        match check(&one) {
            Ok(()) => wanted.push(one),
            Err(problem) => errors.push(FormError::new(format!("Line {line}: {problem}"), "many")),
        }
    }
    if wanted.is_empty() && errors.is_empty() {
        errors.push(FormError::new(
            "Enter at least one person, one a line",
            "many",
        ));
    }
    (wanted, errors)
}

/// Reads the single form.
fn read_one(fields: &HashMap<String, String>) -> (Vec<Wanted>, Vec<FormError>) {
    let get = |name: &str| guard::field(fields.get(name)).unwrap_or_default();
    let mut errors = Vec::new();
    let name = get("name");
    let person_id = get("person_id");
    let care_homes = homes(&get("care_homes"));
    if name.is_empty() {
        errors.push(FormError::new("Enter the person's name", "name"));
    }
    if person_id.is_empty() {
        errors.push(FormError::new(
            "Enter an ID for the person, for example their work email address",
            "person-id",
        ));
    }
    if care_homes.is_empty() {
        errors.push(FormError::new(
            "Enter the CQC location ID of at least one care home, for example 1-000000001",
            "care-homes",
        ));
    }
    let send_to = match guard::field(fields.get("send_to")) {
        None => None,
        Some(v) => match Recipient::parse(&v) {
            Ok(r) => Some(r),
            Err(err) => {
                errors.push(FormError::new(err.to_string(), "send-to"));
                None
            }
        },
    };
    let one = Wanted {
        line: 1,
        name,
        person_id,
        care_homes,
        send_to,
    };
    if errors.is_empty()
        && let Err(problem) = check(&one)
    {
        let field = if problem.contains("ID") && !problem.contains("CQC") {
            "person-id"
        } else if problem.contains("name") {
            "name"
        } else {
            "care-homes"
        };
        errors.push(FormError::new(problem, field));
    }
    (vec![one], errors)
}

/// Sends a link through Notify, recording the delivery (or its failure) in
/// the audit trail: how it went, in words.
async fn deliver(
    app: &AppState,
    admin: &Admin,
    source: &Source,
    wanted: &Wanted,
    link: &str,
    expires_in: u64,
) -> Result<Option<String>, String> {
    let Some(recipient) = &wanted.send_to else {
        return Ok(None);
    };
    let Some(notify) = &app.notify else {
        return Err(
            "GOV.UK Notify is not set up here, so the link was not sent: copy it to the person"
                .to_owned(),
        );
    };
    let entity = format!("person/{}", trail::clip(&wanted.person_id));
    let actor = trail::actor(&admin.principal);
    let expires =
        uk(OffsetDateTime::now_utc().unix_timestamp() + i64::try_from(expires_in).unwrap_or(0));
    let sent = notify
        .send_link(recipient, &wanted.name, link, &expires, &entity)
        .await;
    match sent {
        Ok(_) => {
            let how = recipient.describe();
            let _ = trail::accepted(app, actor, LINK_DELIVERED, &entity, source).await;
            if let Err(err) = app.link_register.delivered(&wanted.person_id, &how).await {
                tracing::warn!(cause = %err, "could not record a link's delivery in the register");
            }
            Ok(Some(how))
        }
        Err(err) => {
            let reason = match &err {
                NotifyError::Refused { status, .. } => {
                    format!("GOV.UK Notify refused it ({status})")
                }
                _ => "GOV.UK Notify could not be reached".to_owned(),
            };
            trail::refused(app, actor, LINK_DELIVERED, &entity, &reason, source).await;
            tracing::warn!(cause = %err, "could not deliver a sign-in link");
            Err(format!("{err}. Copy the link to the person instead."))
        }
    }
}

/// `POST /admin/links`: `op=one` (the single form), `op=many` (one person
/// a line), `op=reissue` or `op=withdraw` (a `person_id` in the list).
pub async fn issue(
    State(app): State<AppState>,
    source: Source,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let fields = form_fields(&body);
    let op = fields.get("op").map(String::as_str).unwrap_or("one");
    let person = guard::field(fields.get("person_id"));
    let entity = person
        .as_deref()
        .map(|id| format!("person/{}", trail::clip(id)))
        .unwrap_or_default();
    let action = if op == "withdraw" {
        LINK_WITHDRAWN
    } else {
        LINK_ISSUED
    };
    let admin = match guard::admin_form(
        &app,
        &headers,
        &source,
        PATH,
        fields.get("csrf_token").map(String::as_str),
        action,
        &entity,
    )
    .await
    {
        Ok(admin) => admin,
        Err(answer) => return answer,
    };
    let unprocessable = |errors| {
        page(
            &app,
            &admin,
            StatusCode::UNPROCESSABLE_ENTITY,
            errors,
            Vec::new(),
            &fields,
            None,
        )
    };
    let (wanted, void_earlier) = match op {
        "withdraw" => return withdraw(&app, &admin, &source, person, &fields).await,
        "reissue" => {
            let found = match &person {
                Some(id) => app.link_register.get(id).await,
                None => Ok(None),
            };
            match found {
                Ok(Some(link)) => (
                    vec![Wanted {
                        line: 1,
                        name: link.name,
                        person_id: link.person_id,
                        care_homes: link.care_homes,
                        send_to: None,
                    }],
                    true,
                ),
                Ok(None) => {
                    let error = FormError::new(
                        "There is no sign-in link for that person in the list",
                        "links",
                    );
                    return unprocessable(vec![error]).await;
                }
                Err(err) => {
                    tracing::error!(cause = %err, "could not read the register of links");
                    return guard::refused_page(
                        &app,
                        StatusCode::SERVICE_UNAVAILABLE,
                        "The list of sign-in links cannot be read right now. Try again in a few minutes.",
                    );
                }
            }
        }
        "many" => {
            let (wanted, errors) = read_many(fields.get("many").map_or("", String::as_str));
            if !errors.is_empty() {
                // Nothing is issued unless every line is right.
                return unprocessable(errors).await;
            }
            (wanted, false)
        }
        _ => {
            let (wanted, errors) = read_one(&fields);
            if !errors.is_empty() {
                return unprocessable(errors).await;
            }
            (wanted, false)
        }
    };
    let mut issued = Vec::new();
    for one in &wanted {
        let entity = format!("person/{}", trail::clip(&one.person_id));
        let request = LinkRequest {
            name: one.name.clone(),
            person_id: one.person_id.clone(),
            care_homes: one.care_homes.clone(),
        };
        let answer = issue_for(
            &app,
            &admin.principal,
            &source,
            &entity,
            Ok(request),
            void_earlier,
        )
        .await;
        let answer = match answer {
            Ok(answer) => answer,
            Err(err) => {
                let status = match &err {
                    ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
                    _ => StatusCode::UNPROCESSABLE_ENTITY,
                };
                let done = if issued.is_empty() {
                    String::new()
                } else {
                    format!(" The links above line {} were issued.", one.line)
                };
                let error = FormError::new(format!("Line {}: {err}.{done}", one.line), "many");
                return page(&app, &admin, status, vec![error], issued, &fields, None).await;
            }
        };
        let (delivered, delivery_problem) =
            match deliver(&app, &admin, &source, one, &answer.link, answer.expires_in).await {
                Ok(how) => (how, None),
                Err(problem) => (None, Some(problem)),
            };
        issued.push(Issued {
            name: one.name.clone(),
            person_id: one.person_id.clone(),
            link: answer.link,
            delivered,
            delivery_problem,
        });
    }
    page(
        &app,
        &admin,
        StatusCode::CREATED,
        Vec::new(),
        issued,
        &HashMap::new(),
        None,
    )
    .await
}

/// Withdraws a person's unused links: their access is withdrawn and at
/// once reinstated, which voids every link issued to them so far (and ends
/// their sessions); a new link works again.
async fn withdraw(
    app: &AppState,
    admin: &Admin,
    source: &Source,
    person: Option<String>,
    fields: &HashMap<String, String>,
) -> Response {
    let Some(id) = person else {
        let error = FormError::new("Choose whose link to withdraw", "links");
        return page(
            app,
            admin,
            StatusCode::UNPROCESSABLE_ENTITY,
            vec![error],
            Vec::new(),
            fields,
            None,
        )
        .await;
    };
    let request = || PersonRequest {
        person_id: Some(id.clone()),
        kiosk_id: None,
    };
    let entity = format!("person/{}", trail::clip(&id));
    let actor = trail::actor(&admin.principal);
    let done = async {
        admin::revoke_person(app, &admin.principal, source, Ok(request())).await?;
        admin::reinstate_person(app, &admin.principal, source, Ok(request())).await
    }
    .await;
    match done {
        Ok(_) => {
            let _ = trail::accepted(app, actor, LINK_WITHDRAWN, &entity, source).await;
            if let Err(err) = app.link_register.withdrawn(&id).await {
                tracing::warn!(cause = %err, "could not mark a link withdrawn in the register");
            }
            let notice = format!("{id}'s sign-in link was withdrawn: it no longer works.");
            page(
                app,
                admin,
                StatusCode::OK,
                Vec::new(),
                Vec::new(),
                &HashMap::new(),
                Some(notice),
            )
            .await
        }
        Err(err) => {
            let error = FormError::new(err.to_string(), "links");
            page(
                app,
                admin,
                StatusCode::SERVICE_UNAVAILABLE,
                vec![error],
                Vec::new(),
                fields,
                None,
            )
            .await
        }
    }
}
