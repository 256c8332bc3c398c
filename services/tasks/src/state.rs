//! What the handlers share, and auditing: every change's attempt is
//! recorded before it is made, its outcome after; every refusal with the
//! reason given.

use std::sync::Arc;

use axum::extract::FromRequestParts as _;
use axum::http::HeaderMap;
use axum::http::request::Parts;
use pf_audit::{Attempt, AuditActor, AuditLog, AuditRecord, AuditUnavailable, RefusalAudit};

use pf_live_state::LiveState;
use pf_sign_in::{Authenticator, Caller, CallerContext, WriteLimits};
use pf_web::cross_site::{CrossSiteGuard, Refusal, SiteOrigins};

use crate::config::TasksConfig;
use crate::item_log::{ItemLog, SERVICE};

/// The audit trail's action of a request refused by the cross-site guard
/// (its entity is the route's template).
pub const CROSS_SITE_ACTION: &str = "request.cross_site";

/// What the handlers share.
#[derive(Clone)]
pub struct AppState {
    /// Items' and team registers' events.
    pub items: ItemLog,
    /// The live state (items, registers, discharge summaries).
    pub live: LiveState,
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
    /// Settings.
    pub config: Arc<TasksConfig>,
    /// `pf_tasks_refused_total{reason}`.
    pub refused: prometheus::IntCounterVec,
    /// `pf_tasks_changes_total{event_type}`.
    pub changes: prometheus::IntCounterVec,
    /// `pf_tasks_overdue_alerts_total`.
    pub overdue_alerts: prometheus::IntCounter,
    /// `pf_tasks_overdue_sweeps_total`.
    pub overdue_sweeps: prometheus::IntCounter,
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
    /// Records the attempt at `action` on `entity` before acting: nothing
    /// may change unless this returns `Ok` (the handler answers 503). The
    /// outcome is recorded with the answer (`api::answer`).
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

    /// Records an audited read (the actions log exported) before it is
    /// answered: on `Err` the answer is 503 and nothing is shown.
    pub async fn audit_read(
        &self,
        caller: &Caller,
        action: &str,
        entity: &str,
    ) -> Result<(), AuditUnavailable> {
        self.audit
            .required(caller.accepted(action, entity))
            .await
            .map(|_| ())
    }

    /// Records the outcome of a change whose attempt is recorded (a
    /// failure is logged: the change has been made).
    pub async fn audit_accepted(
        &self,
        caller: &Caller,
        action: &str,
        entity: &str,
        event_id: Option<&str>,
    ) {
        let who = caller
            .principal
            .as_ref()
            .ok()
            .map(AuditActor::of)
            .unwrap_or_else(AuditActor::anonymous);
        let mut record = AuditRecord::accepted(who, action, entity, caller.source.clone());
        if let Some(event_id) = event_id {
            record = record.with_event_id(event_id.to_owned());
        }
        if let Err(err) = self.audit.record(record).await {
            tracing::error!(cause = %err, "an accepted change could not be written to the audit trail");
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
        self.refused.with_label_values(&[label]).inc();
        self.refusals
            .refused(
                caller.refused(action, entity, reason),
                pf_audit::RefusalKind::of_label(label),
            )
            .await
    }
}
