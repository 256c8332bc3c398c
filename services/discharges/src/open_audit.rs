//! Opening a patient (NHS number shown) is audited once per person and
//! patient in a window, not on every re-read: the dashboard re-reads an
//! open patient each time a live notice says it changed, and an entry per
//! re-read would bury who looked at whom under noise. The window is per
//! replica (a second replica may record the same opening once more), and
//! the memory is bounded: when full, old entries go first and, failing
//! that, everything is forgotten, which only means more entries, never fewer.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Openings by the same person of the same patient within this are one entry.
pub const WINDOW: Duration = Duration::from_secs(10 * 60);

/// Most (person, patient) pairs remembered.
const MOST: usize = 20_000;

/// Who opened which patient when, recently.
#[derive(Debug)]
pub struct RecentOpens {
    window: Duration,
    seen: Mutex<HashMap<(String, String), Instant>>,
}

impl Default for RecentOpens {
    fn default() -> Self {
        Self::new(WINDOW)
    }
}

impl RecentOpens {
    /// Openings within `window` of the last recorded one are not recorded again.
    pub fn new(window: Duration) -> Self {
        Self {
            window,
            seen: Mutex::new(HashMap::new()),
        }
    }

    /// Whether `who` opening `discharge` at `now` must be recorded (and, if
    /// so, remembers it).
    pub fn must_record(&self, who: &str, discharge: &str, now: Instant) -> bool {
        // A poisoned lock only means a panic elsewhere: the map is still usable.
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        let key = (who.to_owned(), discharge.to_owned());
        if let Some(at) = seen.get(&key)
            && now.saturating_duration_since(*at) < self.window
        {
            return false;
        }
        if seen.len() >= MOST {
            let window = self.window;
            seen.retain(|_, at| now.saturating_duration_since(*at) < window);
            if seen.len() >= MOST {
                seen.clear();
            }
        }
        seen.insert(key, now);
        true
    }

    /// Forgets that `who` opened `discharge` (its record could not be
    /// stored, so the next opening must be recorded).
    pub fn forget(&self, who: &str, discharge: &str) {
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        seen.remove(&(who.to_owned(), discharge.to_owned()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_entry_per_person_and_patient_in_the_window() {
        let opens = RecentOpens::new(Duration::from_secs(600));
        let t0 = Instant::now();
        assert!(opens.must_record("idt-1", "d1", t0));
        assert!(!opens.must_record("idt-1", "d1", t0 + Duration::from_secs(599)));
        assert!(opens.must_record("idt-2", "d1", t0), "another person");
        assert!(opens.must_record("idt-1", "d2", t0), "another patient");
        assert!(opens.must_record("idt-1", "d1", t0 + Duration::from_secs(600)));
        assert!(!opens.must_record("idt-1", "d1", t0 + Duration::from_secs(700)));
    }

    #[test]
    fn a_full_memory_forgets_rather_than_skips() {
        let opens = RecentOpens::new(Duration::from_secs(600));
        let t0 = Instant::now();
        for n in 0..MOST {
            assert!(opens.must_record("p", &n.to_string(), t0));
        }
        // Full of recent entries: everything is forgotten, so the next
        // opening of an already seen patient is recorded again.
        assert!(opens.must_record("p", "new", t0));
        assert!(opens.must_record("p", "0", t0));
    }
}
