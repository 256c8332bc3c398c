//! What the handlers share.

use std::sync::Arc;

use axum::extract::FromRef;
use minijinja::Environment;
use pf_access::LocalIssuer;
use pf_audit::AuditLog;
use pf_sign_in::{Authenticator, SignInStore};
use pf_web::cross_site::SiteOrigins;

use crate::admin_pages::notify::NotifyClient;
use crate::admin_pages::register::LinkRegister;
use crate::clients::ClientRegistry;
use crate::config::IdentityConfig;
use crate::metrics::IdentityMetrics;
use crate::oidc::OidcClient;
use crate::pending::PendingStore;
use crate::rate_limit::RateLimits;

/// What the handlers share.
#[derive(Clone)]
pub struct AppState {
    /// Settings.
    pub config: Arc<IdentityConfig>,
    /// The built-in demo issuer; `None` in production.
    pub issuer: Option<Arc<LocalIssuer>>,
    /// Reads bearer tokens and session cookies.
    pub authenticator: Arc<Authenticator>,
    /// Machine clients of the token endpoint.
    pub clients: Arc<ClientRegistry>,
    /// The audit trail.
    pub audit: AuditLog,
    /// Refusals of access to the admin API, within each client's budget
    /// (aggregated beyond it).
    pub refusals: pf_audit::RefusalAudit,
    /// Page templates.
    pub templates: Arc<Environment<'static>>,
    /// Rate limits.
    pub limits: RateLimits,
    /// Counters.
    pub metrics: IdentityMetrics,
    /// Sign-ins in progress (OpenID Connect states, demo authorization codes).
    pub pending: PendingStore,
    /// Organisation sign-in through an OpenID Connect provider, when configured.
    pub oidc: Option<Arc<OidcClient>>,
    /// The platform's own origins (this service's and `PF_RETURN_ORIGINS`),
    /// from which a signed-in browser may make changes through the API.
    pub site_origins: SiteOrigins,
    /// JetStream (the administration pages read the audit stream's size).
    pub jetstream: async_nats::jetstream::Context,
    /// The register of issued care-home sign-in links.
    pub link_register: LinkRegister,
    /// GOV.UK Notify, when configured, to deliver sign-in links.
    pub notify: Option<Arc<NotifyClient>>,
    /// The care homes' events: the register the administration pages read
    /// and change.
    pub care_home_log: pf_care_home_log::HomeLog,
    /// Devices kept signed in (`crate::devices`).
    pub devices: crate::devices::DeviceStore,
}

impl AppState {
    /// The sign-in store.
    pub fn store(&self) -> &SignInStore {
        self.authenticator.store()
    }
}

impl FromRef<AppState> for Arc<Authenticator> {
    fn from_ref(state: &AppState) -> Self {
        state.authenticator.clone()
    }
}
