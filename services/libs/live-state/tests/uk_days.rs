//! Clock and timezone hazards (hazard log H09): the wall's and pressure's
//! day is the UK day. "Discharged today" starts again at UK midnight and
//! delay days grow by one per UK day, also on the 23-hour day in late March
//! and the 25-hour day in late October; times read in Europe/London.

use pf_discharge_model::{DischargeStatus, Pathway};
use pf_live_state::discharge_counts::{DischargeSummary, count, uk_date};
use time::macros::{date, datetime};

fn left_at(at: time::OffsetDateTime) -> DischargeSummary {
    DischargeSummary {
        site: "RWEAA".into(),
        status: DischargeStatus::Discharged,
        pathway: Pathway::P1,
        ready: date!(2027 - 01 - 01),
        left_on: Some(uk_date(at)),
        managed_by: "RWE".into(),
    }
}

fn waiting_since(ready: time::Date) -> DischargeSummary {
    DischargeSummary {
        site: "RWEAA".into(),
        status: DischargeStatus::Ready,
        pathway: Pathway::P1,
        ready,
        left_on: None,
        managed_by: "RWE".into(),
    }
}

fn discharged_today(summaries: &[DischargeSummary], now: time::OffsetDateTime) -> i64 {
    count(summaries, uk_date(now))
        .get("RWEAA")
        .map_or(0, |c| c.discharged_today)
}

fn delay_days(summaries: &[DischargeSummary], now: time::OffsetDateTime) -> i64 {
    count(summaries, uk_date(now))
        .get("RWEAA")
        .map_or(0, |c| c.delay_days)
}

#[test]
fn discharges_today_turn_over_at_uk_midnight_on_both_clock_change_days() {
    // 2027: BST starts 01:00 UTC on Sunday 28 March, ends 01:00 UTC on Sunday 31 October.
    // Saturday 27 March, 23:30 UTC is 23:30 GMT: still the 27th.
    let late_saturday = [left_at(datetime!(2027-03-27 23:30 UTC))];
    assert_eq!(
        discharged_today(&late_saturday, datetime!(2027-03-27 23:59 UTC)),
        1
    );
    assert_eq!(
        discharged_today(&late_saturday, datetime!(2027-03-28 00:00 UTC)),
        0,
        "UK midnight (GMT)"
    );
    // Sunday 28 March, 23:30 UTC is 00:30 BST on Monday the 29th.
    let late_sunday = [left_at(datetime!(2027-03-28 23:30 UTC))];
    assert_eq!(
        discharged_today(&late_sunday, datetime!(2027-03-28 22:59 UTC)),
        0,
        "23:59 BST on the 28th"
    );
    assert_eq!(
        discharged_today(&late_sunday, datetime!(2027-03-28 23:00 UTC)),
        1,
        "UK midnight (BST)"
    );
    assert_eq!(
        discharged_today(&late_sunday, datetime!(2027-03-29 22:59 UTC)),
        1
    );
    assert_eq!(
        discharged_today(&late_sunday, datetime!(2027-03-29 23:00 UTC)),
        0
    );
    // Saturday 30 October, 23:30 UTC is 00:30 BST on Sunday the 31st.
    let late_october = [left_at(datetime!(2027-10-30 23:30 UTC))];
    assert_eq!(
        discharged_today(&late_october, datetime!(2027-10-30 22:59 UTC)),
        0
    );
    assert_eq!(
        discharged_today(&late_october, datetime!(2027-10-30 23:00 UTC)),
        1,
        "UK midnight (BST)"
    );
    // The 31st lasts 25 hours: it ends at 00:00 UTC on 1 November (GMT).
    assert_eq!(
        discharged_today(&late_october, datetime!(2027-10-31 23:59 UTC)),
        1,
        "the 25-hour day"
    );
    assert_eq!(
        discharged_today(&late_october, datetime!(2027-11-01 00:00 UTC)),
        0
    );
}

#[test]
fn delay_days_grow_by_one_each_uk_day_across_the_23_and_25_hour_days() {
    let march = [waiting_since(date!(2027 - 03 - 27))];
    assert_eq!(delay_days(&march, datetime!(2027-03-27 23:59 UTC)), 0);
    assert_eq!(
        delay_days(&march, datetime!(2027-03-28 22:59 UTC)),
        1,
        "23:59 BST on the 23-hour day"
    );
    assert_eq!(
        delay_days(&march, datetime!(2027-03-28 23:00 UTC)),
        2,
        "00:00 BST on the 29th"
    );
    let october = [waiting_since(date!(2027 - 10 - 30))];
    assert_eq!(delay_days(&october, datetime!(2027-10-30 22:59 UTC)), 0);
    assert_eq!(
        delay_days(&october, datetime!(2027-10-30 23:00 UTC)),
        1,
        "00:00 BST on the 31st"
    );
    assert_eq!(
        delay_days(&october, datetime!(2027-10-31 23:59 UTC)),
        1,
        "23:59 GMT on the 25-hour day"
    );
    assert_eq!(delay_days(&october, datetime!(2027-11-01 00:00 UTC)), 2);
}

#[test]
fn times_on_the_wall_read_in_europe_london_either_side_of_each_change() {
    use pf_web::uk_time::{day_month, hh_mm};
    assert_eq!(
        hh_mm(datetime!(2027-03-28 00:59 UTC)),
        "00:59",
        "GMT before the change"
    );
    assert_eq!(
        hh_mm(datetime!(2027-03-28 01:00 UTC)),
        "02:00",
        "clocks go forward"
    );
    assert_eq!(
        hh_mm(datetime!(2027-10-31 00:59 UTC)),
        "01:59",
        "BST before the change"
    );
    assert_eq!(
        hh_mm(datetime!(2027-10-31 01:00 UTC)),
        "01:00",
        "clocks go back"
    );
    assert_eq!(day_month(datetime!(2027-07-01 23:30 UTC)), "2 July");
    assert_eq!(day_month(datetime!(2027-12-31 23:30 UTC)), "31 December");
}
