//! HL7 v2 timestamps (`TS`/`DTM`: `YYYY[MM[DD[HH[MM[SS[.S…]]]]]][+/-ZZZZ]`).
//!
//! A timestamp with an offset is read as sent. One without (most PAS feeds in
//! England) is local time in Europe/London. The UK rule since 1996 is carried
//! here rather than a time-zone database (the workspace uses `time`, whose
//! time-zone crates would bring a second date library): British Summer Time,
//! UTC+1, runs from 01:00 UTC on the last Sunday of March to 01:00 UTC on the
//! last Sunday of October. In the spring gap (01:00–01:59 local, which never
//! happens) a time is read as GMT; in the autumn hour that happens twice
//! (01:00–01:59 local) the first, BST, is taken.

use time::{Date, Duration, Month, OffsetDateTime, PrimitiveDateTime, Time, UtcOffset, Weekday};

/// Why a timestamp could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not an HL7 date and time like 20261130091500")]
pub struct TimestampError(pub String);

/// Reads an HL7 timestamp; `Ok(None)` when the field is empty.
pub fn parse(value: &str) -> Result<Option<OffsetDateTime>, TimestampError> {
    Ok(parse_with_precision(value)?.map(|(at, _)| at))
}

/// Reads an HL7 timestamp with its precision (a day, an hour, a minute, a
/// second or a millisecond: how much later the event may really have been).
pub fn parse_with_precision(
    value: &str,
) -> Result<Option<(OffsetDateTime, Duration)>, TimestampError> {
    let value = value.trim();
    if value.is_empty() {
        return Ok(None);
    }
    let bad = || TimestampError(value.chars().take(40).collect());
    let (body, offset) = match value.find(['+', '-']) {
        Some(at) => (&value[..at], Some(&value[at..])),
        None => (value, None),
    };
    let (digits, fraction) = match body.split_once('.') {
        Some((d, f)) => (d, Some(f)),
        None => (body, None),
    };
    if !digits.bytes().all(|b| b.is_ascii_digit())
        || !matches!(digits.len(), 8 | 10 | 12 | 14)
        || fraction
            .is_some_and(|f| f.is_empty() || f.len() > 4 || !f.bytes().all(|b| b.is_ascii_digit()))
    {
        return Err(bad());
    }
    let number = |from: usize, len: usize| -> Result<u32, TimestampError> {
        digits
            .get(from..from + len)
            .map_or(Ok(0), |d| d.parse::<u32>().map_err(|_| bad()))
    };
    let year = i32::try_from(number(0, 4)?).map_err(|_| bad())?;
    let month =
        Month::try_from(u8::try_from(number(4, 2)?).map_err(|_| bad())?).map_err(|_| bad())?;
    let day = u8::try_from(number(6, 2)?).map_err(|_| bad())?;
    let hour = u8::try_from(number(8, 2)?).map_err(|_| bad())?;
    let minute = u8::try_from(number(10, 2)?).map_err(|_| bad())?;
    let second = u8::try_from(number(12, 2)?).map_err(|_| bad())?;
    let millis = match fraction {
        Some(f) => {
            let padded = format!("{f:0<4}");
            padded[..3].parse::<u16>().map_err(|_| bad())?
        }
        None => 0,
    };
    let date = Date::from_calendar_date(year, month, day).map_err(|_| bad())?;
    let time = Time::from_hms_milli(hour, minute, second, millis).map_err(|_| bad())?;
    let local = PrimitiveDateTime::new(date, time);
    let precision = match (digits.len(), fraction) {
        (_, Some(_)) => Duration::milliseconds(1),
        (8, None) => Duration::days(1),
        (10, None) => Duration::hours(1),
        (12, None) => Duration::minutes(1),
        _ => Duration::seconds(1),
    };
    let at = match offset {
        Some(offset) => {
            let sign = if offset.starts_with('-') { -1 } else { 1 };
            let hhmm = &offset[1..];
            if hhmm.len() != 4 || !hhmm.bytes().all(|b| b.is_ascii_digit()) {
                return Err(bad());
            }
            let hours = hhmm[..2].parse::<i8>().map_err(|_| bad())?;
            let minutes = hhmm[2..].parse::<i8>().map_err(|_| bad())?;
            let offset = UtcOffset::from_hms(sign * hours, sign * minutes, 0).map_err(|_| bad())?;
            local.assume_offset(offset)
        }
        None => london(local),
    };
    Ok(Some((at, precision)))
}

/// The instant a Europe/London wall-clock time names.
pub fn london(local: PrimitiveDateTime) -> OffsetDateTime {
    let bst = UtcOffset::from_hms(1, 0, 0).unwrap_or(UtcOffset::UTC);
    let as_bst = local.assume_offset(bst);
    if is_summer_time(as_bst) {
        return as_bst;
    }
    // GMT, or the spring gap (read as GMT).
    local.assume_utc()
}

/// Whether British Summer Time is in force at `instant`.
pub fn is_summer_time(instant: OffsetDateTime) -> bool {
    let utc = instant.to_offset(UtcOffset::UTC);
    let year = utc.year();
    let (Some(start), Some(end)) = (
        last_sunday_at_one_utc(year, Month::March),
        last_sunday_at_one_utc(year, Month::October),
    ) else {
        return false;
    };
    start <= utc && utc < end
}

fn last_sunday_at_one_utc(year: i32, month: Month) -> Option<OffsetDateTime> {
    let last_day = Date::from_calendar_date(year, month, month.length(year)).ok()?;
    let back = last_day.weekday().number_days_from_sunday();
    let sunday = last_day - Duration::days(i64::from(back));
    debug_assert_eq!(sunday.weekday(), Weekday::Sunday);
    Some(PrimitiveDateTime::new(sunday, Time::from_hms(1, 0, 0).ok()?).assume_utc())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use time::macros::datetime;

    fn at(value: &str) -> OffsetDateTime {
        parse(value).expect("valid").expect("not empty")
    }

    #[test]
    fn winter_times_are_gmt_and_summer_times_bst() {
        assert_eq!(at("20260115093000"), datetime!(2026-01-15 09:30 UTC));
        assert_eq!(at("20260715093000"), datetime!(2026-07-15 08:30 UTC));
    }

    #[test]
    fn the_spring_changeover_hour() {
        // 29 March 2026: clocks go from 01:00 GMT to 02:00 BST.
        assert_eq!(at("202603290059"), datetime!(2026-03-29 00:59 UTC));
        // 01:30 never happens on the wall: read as GMT.
        assert_eq!(at("202603290130"), datetime!(2026-03-29 01:30 UTC));
        assert_eq!(at("202603290200"), datetime!(2026-03-29 01:00 UTC));
        assert_eq!(at("202603290230"), datetime!(2026-03-29 01:30 UTC));
    }

    #[test]
    fn the_autumn_changeover_hour() {
        // 25 October 2026: clocks go from 02:00 BST back to 01:00 GMT.
        assert_eq!(at("202610250059"), datetime!(2026-10-24 23:59 UTC));
        // 01:30 happens twice: the first (BST) is taken.
        assert_eq!(at("202610250130"), datetime!(2026-10-25 00:30 UTC));
        assert_eq!(at("202610250200"), datetime!(2026-10-25 02:00 UTC));
    }

    #[test]
    fn offsets_precision_and_fractions() {
        assert_eq!(at("20260715093000+0000"), datetime!(2026-07-15 09:30 UTC));
        assert_eq!(at("20260715093000-0500"), datetime!(2026-07-15 14:30 UTC));
        assert_eq!(at("20260115"), datetime!(2026-01-15 00:00 UTC));
        assert_eq!(at("202601150930"), datetime!(2026-01-15 09:30 UTC));
        assert_eq!(
            at("20260115093000.25"),
            datetime!(2026-01-15 09:30:00.25 UTC)
        );
        assert_eq!(parse(""), Ok(None));
    }

    #[test]
    fn the_precision_is_what_was_sent() {
        let precision = |v: &str| parse_with_precision(v).expect("valid").expect("set").1;
        assert_eq!(precision("20260115"), Duration::days(1));
        assert_eq!(precision("202601150930"), Duration::minutes(1));
        assert_eq!(precision("20260115093000+0100"), Duration::seconds(1));
        assert_eq!(precision("20260115093000.1"), Duration::milliseconds(1));
    }

    #[test]
    fn nonsense_is_refused() {
        for bad in [
            "2026",
            "20261301",
            "20260230",
            "2026011509300",
            "2026x115",
            "20260115+1",
            "20260115.",
            "20260115250000",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }

    proptest! {
        #[test]
        fn never_panics(text in any::<String>()) {
            let _ = parse(&text);
        }

        #[test]
        fn every_local_minute_reads_back_to_the_same_wall_clock_outside_the_gap(
            minutes in 0i64..(60 * 24 * 366 * 3)
        ) {
            let local = datetime!(2025-01-01 00:00) + Duration::minutes(minutes);
            let instant = london(local);
            let offset = if is_summer_time(instant) { 1 } else { 0 };
            let back = instant.to_offset(UtcOffset::from_hms(offset, 0, 0).expect("offset"));
            let in_gap = back.date() == local.date() && back.time() != local.time();
            prop_assert!(PrimitiveDateTime::new(back.date(), back.time()) == local || in_gap);
        }
    }
}
