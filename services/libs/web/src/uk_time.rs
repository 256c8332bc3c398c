//! Clock times as people in the UK read them (GMT in winter, BST in summer).

use time::{Date, Month, OffsetDateTime, Time, UtcOffset, Weekday};

/// `HH:MM` in Europe/London.
pub fn hh_mm(at: OffsetDateTime) -> String {
    let local = at.to_offset(offset(at));
    format!("{:02}:{:02}", local.hour(), local.minute())
}

/// `30 November` (day and month) in Europe/London.
pub fn day_month(at: OffsetDateTime) -> String {
    let local = at.to_offset(offset(at));
    format!("{} {}", local.day(), local.month())
}

/// The calendar date in Europe/London (a "day" on the wall starts at UK midnight).
pub fn date(at: OffsetDateTime) -> Date {
    at.to_offset(offset(at)).date()
}

/// BST (UTC+1) runs from 01:00 UTC on the last Sunday of March to 01:00 UTC
/// on the last Sunday of October.
fn offset(at: OffsetDateTime) -> UtcOffset {
    let at = at.to_offset(UtcOffset::UTC);
    let year = at.year();
    let starts = last_sunday(year, Month::March);
    let ends = last_sunday(year, Month::October);
    match (starts, ends) {
        (Some(starts), Some(ends)) if at >= starts && at < ends => {
            UtcOffset::from_hms(1, 0, 0).unwrap_or(UtcOffset::UTC)
        }
        _ => UtcOffset::UTC,
    }
}

fn last_sunday(year: i32, month: Month) -> Option<OffsetDateTime> {
    let mut day = Date::from_calendar_date(year, month, 31).ok()?;
    while day.weekday() != Weekday::Sunday {
        day = day.previous_day()?;
    }
    Some(day.with_time(Time::from_hms(1, 0, 0).ok()?).assume_utc())
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn winter_is_gmt_and_summer_is_bst() {
        assert_eq!(hh_mm(datetime!(2026-11-30 09:15 UTC)), "09:15");
        assert_eq!(hh_mm(datetime!(2026-07-01 23:30 UTC)), "00:30");
        // 2026: BST starts 29 March, ends 25 October, at 01:00 UTC.
        assert_eq!(hh_mm(datetime!(2026-03-29 00:59 UTC)), "00:59");
        assert_eq!(hh_mm(datetime!(2026-03-29 01:00 UTC)), "02:00");
        assert_eq!(hh_mm(datetime!(2026-10-25 00:59 UTC)), "01:59");
        assert_eq!(hh_mm(datetime!(2026-10-25 01:00 UTC)), "01:00");
    }
}
