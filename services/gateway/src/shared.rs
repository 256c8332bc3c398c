//! Frames every client is sent the same bytes of, encoded once.
//!
//! The unversioned `opel` and `trends` messages and the heartbeat are the
//! same for every connected wall: the first client that needs one encodes
//! it, every other client sends a clone of the same [`Utf8Bytes`] (a
//! reference count, not a copy). With thousands of clients this turns
//! thousands of JSON encodings per change into one.

use std::sync::{Arc, Mutex, MutexGuard};

use axum::extract::ws::Utf8Bytes;
use time::OffsetDateTime;

use crate::control_room::rfc3339;

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A poisoned lock only means a panic elsewhere: the cache is always whole.
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

/// The encoded form of the newest view of one kind (`opel`, `trends`):
/// `{"type": kind, …the view's fields}`.
pub struct Encoded<V> {
    kind: &'static str,
    last: Mutex<Option<(Arc<V>, Utf8Bytes)>>,
}

impl<V: serde::Serialize> Encoded<V> {
    /// A cache for messages of type `kind`.
    pub fn new(kind: &'static str) -> Self {
        Self {
            kind,
            last: Mutex::new(None),
        }
    }

    /// The message for `view`: encoded the first time this view (the same
    /// `Arc`) is asked for, shared afterwards.
    pub fn get(&self, view: &Arc<V>) -> Utf8Bytes {
        let mut last = lock(&self.last);
        if let Some((cached, json)) = last.as_ref()
            && Arc::ptr_eq(cached, view)
        {
            return json.clone();
        }
        let json: Utf8Bytes = typed(self.kind, &**view).into();
        *last = Some((Arc::clone(view), json.clone()));
        json
    }
}

/// `{"type": kind, …the view's fields}`.
fn typed(kind: &str, view: &impl serde::Serialize) -> String {
    let mut value = serde_json::to_value(view).unwrap_or_default();
    if let Some(object) = value.as_object_mut() {
        object.insert("type".to_owned(), kind.into());
    }
    value.to_string()
}

/// The heartbeat at a version, shared by every client that beats in the
/// same second at that version (its `as_of` is to the second).
#[derive(Default)]
pub struct Heartbeats {
    last: Mutex<Option<(u64, i64, Utf8Bytes)>>,
}

impl Heartbeats {
    /// `{"type":"heartbeat","version":…,"as_of":…}` at `now`.
    pub fn at(&self, version: u64, now: OffsetDateTime) -> Utf8Bytes {
        let second = now.unix_timestamp();
        let mut last = lock(&self.last);
        if let Some((v, s, json)) = last.as_ref()
            && *v == version
            && *s == second
        {
            return json.clone();
        }
        let whole = now.replace_nanosecond(0).unwrap_or(now);
        let json: Utf8Bytes = format!(
            r#"{{"type":"heartbeat","version":{version},"as_of":"{}"}}"#,
            rfc3339(whole)
        )
        .into();
        *last = Some((version, second, json.clone()));
        json
    }
}

/// The caches the websocket clients share.
pub struct SharedFrames {
    /// OPEL levels and alerts.
    pub opel: Encoded<crate::opel::OpelView>,
    /// Occupancy trends.
    pub trends: Encoded<crate::trends::TrendsView>,
    /// Heartbeats.
    pub heartbeats: Heartbeats,
}

impl Default for SharedFrames {
    fn default() -> Self {
        Self {
            opel: Encoded::new("opel"),
            trends: Encoded::new("trends"),
            heartbeats: Heartbeats::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_view_is_encoded_once_and_every_client_shares_the_bytes() {
        let frames = SharedFrames::default();
        let view = Arc::new(crate::opel::OpelView::default());
        let first = frames.opel.get(&view);
        let second = frames.opel.get(&view);
        assert_eq!(first.as_str().as_ptr(), second.as_str().as_ptr());
        let message: serde_json::Value = serde_json::from_str(first.as_str()).expect("JSON");
        assert_eq!(message["type"], "opel");
        // A new view (the board changed) is encoded again.
        let newer = Arc::new(crate::opel::OpelView::default());
        let third = frames.opel.get(&newer);
        assert_ne!(first.as_str().as_ptr(), third.as_str().as_ptr());
        assert_eq!(third.as_str(), first.as_str());
    }

    #[test]
    fn heartbeats_in_the_same_second_at_the_same_version_are_shared() {
        let beats = Heartbeats::default();
        let now = OffsetDateTime::from_unix_timestamp(1_800_000_000).expect("time");
        let a = beats.at(7, now);
        let b = beats.at(7, now + time::Duration::milliseconds(500));
        assert_eq!(a.as_str().as_ptr(), b.as_str().as_ptr());
        let message: serde_json::Value = serde_json::from_str(a.as_str()).expect("JSON");
        assert_eq!(message["type"], "heartbeat");
        assert_eq!(message["version"], 7);
        assert_eq!(message["as_of"], "2027-01-15T08:00:00Z");
        assert_ne!(beats.at(8, now).as_str(), a.as_str());
        assert!(
            beats
                .at(8, now + time::Duration::seconds(1))
                .contains("08:00:01")
        );
    }
}
