//! What the handlers share.

use std::sync::Arc;

use axum::extract::FromRequestParts as _;
use axum::http::HeaderMap;
use axum::http::request::Parts;
use pf_access::Principal;
use pf_audit::{Attempt, AuditLog, AuditUnavailable, RefusalAudit};
use pf_care_home_model::{CareHomeRecord, CqcLocationId};
use pf_sign_in::{Authenticator, Caller, CallerContext, WriteLimits};
use pf_web::cross_site::{CrossSiteGuard, Refusal, SiteOrigins};

use crate::config::CareHomesConfig;
use crate::idempotency::IdempotencyStore;
use crate::metrics::CareHomeMetrics;
use crate::submission::Saved;
use pf_care_home_log::{HomeLog, SERVICE};

/// The audit trail's action of a request refused by the cross-site guard
/// (its entity is the route's template).
pub const CROSS_SITE_ACTION: &str = "request.cross_site";

/// What the handlers share.
#[derive(Clone)]
pub struct AppState {
    /// Homes' events.
    pub log: HomeLog,
    /// Idempotency keys.
    pub keys: IdempotencyStore,
    /// The register of homes, kept up to date from their events.
    pub register: crate::live_register::LiveRegister,
    /// Who is calling.
    pub authenticator: Arc<Authenticator>,
    /// Rate limits.
    pub limits: WriteLimits,
    /// Where every change and refusal is recorded.
    pub audit: AuditLog,
    /// Refusals, within each client's budget (aggregated beyond it).
    pub refusals: RefusalAudit,
    /// Proxies whose `X-Forwarded-For` names the client (`PF_TRUSTED_PROXIES`).
    pub trusted_proxies: Arc<pf_audit::TrustedProxies>,
    /// Counters.
    pub metrics: CareHomeMetrics,
    /// Page templates.
    pub templates: Arc<minijinja::Environment<'static>>,
    /// Settings.
    pub config: Arc<CareHomesConfig>,
}

impl CallerContext for AppState {
    fn authenticator(&self) -> &Authenticator {
        &self.authenticator
    }
    fn limits(&self) -> &WriteLimits {
        &self.limits
    }
    fn service_name(&self) -> &'static str {
        SERVICE
    }
    fn trusted_proxies(&self) -> Option<&pf_audit::TrustedProxies> {
        Some(&self.trusted_proxies)
    }
}

impl CrossSiteGuard for AppState {
    fn site_origins(&self) -> &SiteOrigins {
        &self.config.site_origins
    }

    async fn session_token(&self, headers: &HeaderMap) -> Option<String> {
        let (_, session) = self.authenticator.authenticate(headers).await.ok()?;
        session.map(|s| s.csrf_token)
    }

    async fn refused(&self, parts: &mut Parts, route: &str, refusal: Refusal) {
        let Ok(caller) = Caller::from_request_parts(parts, self).await;
        let reason = refusal.to_string();
        // Over the client's refusal budget the refusal is counted into one
        // aggregate record instead; the answer stays a 403.
        let _ = self
            .audit_refused(&caller, CROSS_SITE_ACTION, route, "cross_site", &reason)
            .await;
    }
}

impl AppState {
    /// The homes of the register `principal` may change, in name order.
    pub fn homes_of(&self, principal: &Principal) -> Vec<CqcLocationId> {
        let mut homes: Vec<_> = self
            .register
            .homes()
            .into_iter()
            .filter(|home| {
                principal
                    .permits(&pf_access::Action::ChangeCareHome {
                        cqc: home.cqc_location_id.clone(),
                    })
                    .is_allowed()
            })
            .map(|home| (home.name, home.cqc_location_id))
            .collect();
        homes.sort();
        homes.into_iter().map(|(_, cqc)| cqc).collect()
    }

    /// Whether `record`'s figures are older than the staleness threshold.
    pub fn is_stale(&self, record: &CareHomeRecord, now: time::OffsetDateTime) -> bool {
        match &record.confirmed {
            None => true,
            Some(confirmed) => (now - confirmed.at) > self.config.stale_after,
        }
    }

    /// Records the attempt at `action` on `entity` before acting: nothing
    /// may be saved unless this returns `Ok` (the handler answers 503). The
    /// outcome is recorded with the answer ([`AppState::record_saved`],
    /// [`AppState::audit_accepted`], or the refusal).
    pub async fn attempt(
        &self,
        caller: &Caller,
        action: &str,
        entity: &str,
    ) -> Result<(), AuditUnavailable> {
        self.audit
            .attempt(caller.accepted(action, entity))
            .await
            .map(Attempt::outcome_recorded_elsewhere)
    }

    /// Records an accepted change (the outcome of its recorded attempt).
    pub async fn audit_accepted(
        &self,
        caller: &Caller,
        action: &str,
        entity: &str,
        event_id: &str,
    ) {
        let record = caller
            .accepted(action, entity)
            .with_event_id(event_id.to_owned());
        if let Err(err) = self.audit.record(record).await {
            self.metrics.audit_failures.inc();
            tracing::error!(cause = %err, "an accepted change could not be written to the audit trail");
        }
    }

    /// Counts an update saved through `channel` (`api` or `form`) and
    /// records it in the audit trail; a resend stored nothing new, so it is
    /// only counted as one.
    pub async fn record_saved(
        &self,
        caller: &Caller,
        action: &str,
        entity: &str,
        saved: &Saved,
        channel: &str,
    ) {
        if saved.replayed {
            self.metrics.resends.with_label_values(&[channel]).inc();
        } else {
            self.metrics
                .saved
                .with_label_values(&[saved.answer.event_type.as_str(), channel])
                .inc();
            self.audit_accepted(caller, action, entity, &saved.answer.event_id)
                .await;
        }
    }

    /// Records a refusal, with the reason given to the caller; within the
    /// client's refusal budget one record each, beyond it aggregated, and
    /// `Err(wait)`: answer 429 instead.
    pub async fn audit_refused(
        &self,
        caller: &Caller,
        action: &str,
        entity: &str,
        label: &'static str,
        reason: &str,
    ) -> Result<(), std::time::Duration> {
        self.metrics.refused.with_label_values(&[label]).inc();
        self.refusals
            .refused(
                caller.refused(action, entity, reason),
                pf_audit::RefusalKind::of_label(label),
            )
            .await
    }
}

/// The audit trail's name for a home named in a request path (only
/// well-formed ids are repeated).
pub fn entity(cqc: &str) -> String {
    CqcLocationId::parse(cqc)
        .map(|c| pf_care_home_log::entity_id(&c))
        .unwrap_or_else(|_| "care-home/invalid".to_owned())
}
