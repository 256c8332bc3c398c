//! The long tests: pages in a real headless Chromium with axe-core, and the
//! platform's real binaries under faults and a 10x day. One test binary,
//! so the services are linked once; the tests take turns ([`one_at_a_time`])
//! so that a browser never shares the two cores with another browser or
//! the soak.
//!
//! # Layout
//! - [`adt_feed_faults`]: the ADT feed with nats-server killed mid-stream.
//! - [`admin_browser`]: the administration pages: links sent through a
//!   GOV.UK Notify stand-in, a screen set up from its QR link, a person
//!   withdrawn, the audit search.
//! - [`browser`]: the control-room page updates live.
//! - [`care_home_browser`]: the care-home form from a phone.
//! - [`discharge_browser`]: the discharge dashboard, hold to discharge.
//! - [`england_wall`]: all of England in one live state, a wall of one ICS
//!   gets its own sites and care homes only.
//! - [`forecast_band_browser`]: the wall's forecast band and predicted OPEL.
//! - [`organisation_sign_in_browser`]: staff sign in through a real OpenID
//!   provider shaped like NHS CIS2 and like Entra ID.
//! - [`tasks_browser`]: discharge tasks, cohorts and the wall's actions panel.
//! - [`wall_browser`]: the control-room wall with real-world content.
//! - [`fault_suite`]: the real binaries under kills, restarts and hostile input.
//! - [`images`]: an image built by `scripts/images` runs its service.
//! - [`kit`]: what the fault tests share (bed events, readiness, a
//!   control-room token, a client's place in the feed).
//! - [`start_supervisor`]: `scripts/start` starts a killed service again.
//! - [`gateway_faults`]: two gateways, one killed under a connected
//!   client, which goes on at the other without a gap.
//! - [`nats_cluster_faults`]: a three-node JetStream cluster (R3 streams)
//!   with each node killed under load.
//! - [`sentinel_faults`]: Redis primary, replica and three Sentinels; the
//!   primary killed under load, the wall's feed goes on from the promoted
//!   replica.
//! - [`standby_faults`]: two projections, active and standby, the active
//!   one killed under load.
//! - [`wall_soak`]: the wall through a 10x day, neither growing nor missing updates.

mod admin_browser;
mod adt_feed_faults;
mod browser;
mod care_home_browser;
mod discharge_browser;
mod england_wall;
mod fault_suite;
mod forecast_band_browser;
mod gateway_faults;
mod images;
mod kit;
mod nats_cluster_faults;
mod organisation_sign_in_browser;
mod sentinel_faults;
mod standby_faults;
mod start_supervisor;
mod tasks_browser;
mod wall_browser;
mod wall_soak;

/// Held by each test for its whole run: the tests here run one after
/// another, as they did when each was a binary of its own.
pub async fn one_at_a_time() -> tokio::sync::MutexGuard<'static, ()> {
    static TURN: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    TURN.lock().await
}
