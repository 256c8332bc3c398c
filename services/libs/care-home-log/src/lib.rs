//! A care home's events in JetStream.
//!
//! Every change of a home — its registration, a vacancy report, a bed held
//! for a patient and the home's answer — is the home's next event on its
//! subject, published with the sequence of the event it was decided from.
//! JetStream refuses a publish whose expected sequence is stale, so two
//! changes decided from the same state can never both land: the loser reads
//! the new state and decides again. That is what makes a hold atomic.
//!
//! # Layout
//! - [`home_log`]: [`HomeLog`]: the current record, changing it through
//!   the event log's one read-decide-publish loop
//!   ([`pf_event_log::EntityLog::change`]), registering the homes of a
//!   register, and a system administrator's register changes (adding,
//!   editing, retiring a home).
//! - [`holds`]: holding a bed, the home's answer, releasing, expiring and
//!   admitting, each with its refusal in plain words.
//! - [`clock`]: [`Clock`], so hold expiry can be tested without sleeping.
#![forbid(unsafe_code)]

pub mod clock;
pub mod holds;
pub mod home_log;

pub use clock::{Clock, ManualClock, SystemClock};
pub use holds::{HoldError, HoldRequest};
pub use home_log::{
    CurrentHome, HomeLog, HomeLogError, RegisterChange, RegisterChangeError, RegisteredHome,
    SERVICE, actor, entity_id, record_of,
};
