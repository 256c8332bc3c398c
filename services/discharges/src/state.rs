//! What the handlers share, and auditing.

use std::sync::Arc;

use axum::extract::FromRequestParts as _;
use axum::http::HeaderMap;
use axum::http::request::Parts;
use pf_audit::{AuditActor, AuditLog, AuditRecord};
use pf_care_home_log::{Clock, HomeLog};
use pf_hospital_model::Catalogue;
use pf_live_state::LiveState;
use pf_sign_in::{Authenticator, Caller, CallerContext, WriteLimits};
use pf_web::cross_site::{CrossSiteGuard, Refusal, SiteOrigins};

use crate::config::DischargesConfig;
use crate::discharge_log::{DischargeLog, SERVICE};

/// The audit trail's action of a request refused by the cross-site guard
/// (its entity is the route's template).
pub const CROSS_SITE_ACTION: &str = "request.cross_site";

/// What the handlers share.
#[derive(Clone)]
pub struct AppState {
    /// Discharges' events.
    pub discharges: DischargeLog,
    /// Care homes' events (holds).
    pub homes: HomeLog,
    /// The live state (lists, search).
    pub live: LiveState,
    /// Hospital sites and wards.
    pub catalogue: Arc<Catalogue>,
    /// Who is calling.
    pub authenticator: Arc<Authenticator>,
    /// Rate limits.
    pub limits: WriteLimits,
    /// Where every change and refusal is recorded.
    pub audit: AuditLog,
    /// The time (a test moves it to expire holds).
    pub clock: Arc<dyn Clock>,
    /// Settings.
    pub config: Arc<DischargesConfig>,
    /// `pf_discharge_refused_total{reason}`.
    pub refused: prometheus::IntCounterVec,
    /// `pf_discharge_changes_total{event_type}`.
    pub changes: prometheus::IntCounterVec,
    /// Who opened which patient recently (one audit entry per window).
    pub recent_opens: Arc<crate::open_audit::RecentOpens>,
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
        self.audit_refused(&caller, CROSS_SITE_ACTION, route, "cross_site", &reason)
            .await;
    }
}

impl AppState {
    /// Records an accepted change (or an opened patient).
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

    /// Records a refusal, with the reason given to the caller.
    pub async fn audit_refused(
        &self,
        caller: &Caller,
        action: &str,
        entity: &str,
        label: &'static str,
        reason: &str,
    ) {
        self.refused.with_label_values(&[label]).inc();
        let who = caller
            .principal
            .as_ref()
            .ok()
            .map(AuditActor::of)
            .unwrap_or_else(AuditActor::anonymous);
        let record = AuditRecord::refused(who, action, entity, reason, caller.source.clone());
        if let Err(err) = self.audit.record(record).await {
            tracing::error!(cause = %err, "a refusal could not be written to the audit trail");
        }
    }
}
