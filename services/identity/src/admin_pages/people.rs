//! `/admin/people`: who holds which role where, and withdrawing or
//! reinstating a person's access. Staff who sign in through their
//! organisation's identity provider get their roles from its mapping,
//! shown here rule by rule (it is configuration, not editable here). Withdrawing ends every session of theirs
//! at once; the gateway then closes their live connections.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use pf_access::demo_principals;
use serde::Serialize;
use serde_json::json;

use super::guard::{self, Admin};
use super::kiosks::form_fields;
use crate::admin::{self, PersonRequest};
use crate::api::ApiError;
use crate::caller::Source;
use crate::pages::{self, DemoUser};
use crate::sign_in::FormError;
use crate::state::AppState;
use crate::trail;

/// The page's path.
pub const PATH: &str = "/admin/people";

/// A person as the page lists them.
#[derive(Debug, Clone, Serialize)]
struct PersonRow {
    id: String,
    name: String,
    roles: String,
    source: &'static str,
    revoked: bool,
}

/// One way a sign-in provider's role becomes a Patient Flow role.
#[derive(Debug, Clone, Serialize)]
struct MappingRow {
    provider_role: String,
    held_at: String,
    role: &'static str,
    organisations: String,
}

/// A sign-in provider and how its roles become ours.
#[derive(Debug, Clone, Serialize)]
struct ProviderMapping {
    issuer: String,
    rows: Vec<MappingRow>,
}

/// The mapping of each staff sign-in provider configured (the browser
/// sign-in's, the staff issuer's, the external issuer's), once each: the
/// rules people get their roles by, which this page cannot change.
fn mappings(app: &AppState) -> Vec<ProviderMapping> {
    let config = &app.config;
    let providers = config
        .oidc
        .iter()
        .map(|oidc| (&oidc.issuer, &oidc.claims))
        .chain(
            config
                .staff_issuer
                .iter()
                .map(|issuer| (&issuer.issuer, &issuer.claims)),
        )
        .chain(
            config
                .external_issuer
                .iter()
                .map(|issuer| (&issuer.issuer, &issuer.claims)),
        );
    let mut shown: Vec<ProviderMapping> = Vec::new();
    for (issuer, claims) in providers {
        if shown.iter().any(|m| &m.issuer == issuer) {
            continue;
        }
        let rows = if claims.rules.is_empty() {
            claims
                .role_names
                .iter()
                .map(|(name, role)| MappingRow {
                    provider_role: name.clone(),
                    held_at: "Anywhere".to_owned(),
                    role: pages::role_label(*role),
                    organisations: "Where the provider says it is held".to_owned(),
                })
                .collect()
        } else {
            claims
                .rules
                .iter()
                .map(|rule| MappingRow {
                    provider_role: rule.provider_role.clone(),
                    held_at: rule
                        .at
                        .as_ref()
                        .map_or_else(|| "Anywhere".to_owned(), |at| at.as_str().to_owned()),
                    role: pages::role_label(rule.role),
                    organisations: if !rule.organisations.is_empty() {
                        rule.organisations
                            .iter()
                            .map(|org| org.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    } else if rule.role.scope() == pf_access::Scope::System {
                        "The whole system".to_owned()
                    } else {
                        "Where the provider says it is held".to_owned()
                    },
                })
                .collect()
        };
        shown.push(ProviderMapping {
            issuer: issuer.clone(),
            rows,
        });
    }
    shown
}

async fn people(app: &AppState) -> Result<Vec<PersonRow>, String> {
    let mut rows = Vec::new();
    // Care-home staff: their latest sign-in link says which homes.
    let links = app.link_register.all().await.map_err(|e| e.to_string())?;
    for (link, _) in links {
        rows.push(PersonRow {
            roles: format!(
                "{} for {}",
                pages::role_label(pf_access::Role::CareHomeEditor),
                link.care_homes.join(", ")
            ),
            id: link.person_id,
            name: link.name,
            source: "Sign-in link",
            revoked: false,
        });
    }
    // Development only: the demo issuer's people.
    if app.issuer.is_some() {
        for principal in demo_principals() {
            let listed = DemoUser::of(&principal);
            rows.push(PersonRow {
                id: listed.id,
                name: listed.name,
                roles: listed.roles,
                source: "Demo sign-in",
                revoked: false,
            });
        }
    }
    for row in &mut rows {
        row.revoked = app
            .store()
            .is_revoked(&row.id)
            .await
            .map_err(|e| e.to_string())?;
    }
    Ok(rows)
}

async fn page(
    app: &AppState,
    admin: &Admin,
    status: StatusCode,
    errors: Vec<FormError>,
    notice: Option<String>,
    typed: Option<String>,
) -> Response {
    let rows = match people(app).await {
        Ok(rows) => rows,
        Err(cause) => {
            tracing::error!(%cause, "could not list people");
            return guard::refused_page(
                app,
                StatusCode::SERVICE_UNAVAILABLE,
                "The list of people cannot be read right now. Try again in a few minutes.",
            );
        }
    };
    pages::render(
        &app.templates,
        status,
        "admin/people.html",
        json!({
            "nav": "people",
            "person": admin.principal.name,
            "csrf_token": admin.csrf_token,
            "people": rows,
            "errors": errors,
            "notice": notice,
            "typed": typed,
            "staff_provider": app.config.staff_issuer.is_some() || app.config.external_issuer.is_some(),
            "mappings": mappings(app),
        }),
    )
}

/// `GET /admin/people`.
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
    let notice = match (
        guard::field(query.get("done")).as_deref(),
        guard::field(query.get("person")),
    ) {
        (Some("revoked"), Some(id)) => Some(format!(
            "{id}'s access was withdrawn. Their sessions and live connections have ended."
        )),
        (Some("reinstated"), Some(id)) => Some(format!(
            "{id}'s access was reinstated. Issue them a new sign-in link if they need one."
        )),
        _ => None,
    };
    page(&app, &admin, StatusCode::OK, Vec::new(), notice, None).await
}

/// `POST /admin/people`: `change=revoke` or `change=reinstate` a
/// `person_id`.
pub async fn change(
    State(app): State<AppState>,
    source: Source,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let fields = form_fields(&body);
    let person_id = guard::field(fields.get("person_id"));
    let revoke = fields.get("change").map(String::as_str) != Some("reinstate");
    let action = if revoke {
        admin::REVOKED
    } else {
        admin::REINSTATED
    };
    let entity = person_id
        .as_deref()
        .map(|id| format!("person/{}", trail::clip(id)))
        .unwrap_or_default();
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
    let Some(id) = person_id else {
        let error = FormError::new("Enter the ID of the person", "person-id");
        return page(
            &app,
            &admin,
            StatusCode::UNPROCESSABLE_ENTITY,
            vec![error],
            None,
            None,
        )
        .await;
    };
    let request = PersonRequest {
        person_id: Some(id.clone()),
        kiosk_id: None,
    };
    let result = if revoke {
        admin::revoke_person(&app, &admin.principal, &source, Ok(request)).await
    } else {
        admin::reinstate_person(&app, &admin.principal, &source, Ok(request)).await
    };
    match result {
        Ok(_) => {
            if revoke && let Err(err) = app.link_register.withdrawn(&id).await {
                tracing::warn!(cause = %err, "could not mark a person's links withdrawn");
            }
            let person: String = form_urlencoded::byte_serialize(id.as_bytes()).collect();
            let done = if revoke { "revoked" } else { "reinstated" };
            pages::see_other(&format!("{PATH}?done={done}&person={person}"), &[])
        }
        Err(err) => {
            let status = match &err {
                ApiError::Conflict(_) => StatusCode::CONFLICT,
                ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
                _ => StatusCode::UNPROCESSABLE_ENTITY,
            };
            let message = err.to_string().replace("person_id", "the person's ID");
            page(
                &app,
                &admin,
                status,
                vec![FormError::new(message, "person-id")],
                None,
                Some(id),
            )
            .await
        }
    }
}
