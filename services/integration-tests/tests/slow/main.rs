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
//! - [`organisation_sign_in_browser`]: staff sign in through a real OpenID
//!   provider shaped like NHS CIS2 and like Entra ID.
//! - [`wall_browser`]: the control-room wall with real-world content.
//! - [`fault_suite`]: the real binaries under kills, restarts and hostile input.
//! - [`wall_soak`]: the wall through a 10x day, neither growing nor missing updates.

mod admin_browser;
mod adt_feed_faults;
mod browser;
mod care_home_browser;
mod discharge_browser;
mod fault_suite;
mod organisation_sign_in_browser;
mod wall_browser;
mod wall_soak;

/// Held by each test for its whole run: the tests here run one after
/// another, as they did when each was a binary of its own.
pub async fn one_at_a_time() -> tokio::sync::MutexGuard<'static, ()> {
    static TURN: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    TURN.lock().await
}
