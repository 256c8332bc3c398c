//! Occupancy trends for the control-room wall: the last 24 hours and the
//! same 24 hours a week earlier, per site, per trust and for the system, as
//! line charts.
//!
//! The projection keeps the history in Redis (see `pf_live_state::trend`):
//! per scope, beds occupied and usable after the last event of each bucket
//! (5 minutes by default). [`follow`] reads the two windows every so often
//! and [`build`] shapes them: occupancy % per bucket, each bucket without an
//! entry carrying the value before it forward, drawn as SVG paths in a fixed
//! 100 × 30 view box. A trust's history is its sites' added up
//! ([`with_trusts`]). No patient data is involved: only bed counts.
//!
//! The wall shows its own region: when the live state holds other regions'
//! sites too (a national deployment), their histories are dropped and the
//! system's is the region's sites added up ([`for_region`]).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use pf_live_state::{LiveState, LiveStateError, SYSTEM_SCOPE, TrendHistory, TrendPoint};
use serde::Serialize;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::control_room::LOAD_TEST_SITE;

/// Seconds in the window each chart covers.
pub const DAY_SECS: i64 = 86_400;
/// How far back "the same time last week" is.
pub const WEEK_SECS: i64 = 7 * DAY_SECS;
/// The bucket length assumed until the projection has written its own.
pub const DEFAULT_BUCKET_SECS: u64 = 300;
/// Width of the charts' view box (x: 0 = 24 hours ago, 100 = now).
pub const VIEW_WIDTH: f64 = 100.0;
/// Height of the charts' view box (y: 0 = top = `high_pct`, 30 = `low_pct`).
pub const VIEW_HEIGHT: f64 = 30.0;
/// The smallest y range, in percentage points, so that small movements show
/// without every wobble looking like a cliff.
pub const MIN_SPAN_PCT: f64 = 10.0;

/// The trends of every scope, as the wall display gets them.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct TrendsView {
    /// Length of one bucket (one step of the lines), in whole minutes.
    pub bucket_minutes: u32,
    /// By site code, `trust:<short name>` for each trust, and `system` for
    /// the whole system.
    pub scopes: BTreeMap<String, ScopeTrend>,
}

/// One scope's charts: the last 24 hours and the same 24 hours a week
/// earlier, on one shared y range.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct ScopeTrend {
    /// SVG path `d` of the last 24 hours in a 100 × 30 view box (x 0 = 24
    /// hours ago, 100 = now; y 0 = `high_pct`, 30 = `low_pct`); a stretch
    /// without figures breaks the line (the next stretch starts with `M`).
    /// Empty when there are no figures at all.
    pub today_path: String,
    /// The same for the same 24 hours a week earlier (x 100 = this time
    /// last week).
    pub last_week_path: String,
    /// Occupancy % at the bottom of the chart (a multiple of 5).
    pub low_pct: f64,
    /// Occupancy % at the top of the chart (a multiple of 5).
    pub high_pct: f64,
    /// Occupancy % now (one decimal); `None` without figures or usable beds.
    pub now_pct: Option<f64>,
    /// Occupancy % at this time last week (one decimal).
    pub week_ago_pct: Option<f64>,
    /// The charts in one sentence, for screen readers.
    pub summary: String,
}

/// The windows of history [`build`] needs at `now` (Unix seconds) with
/// buckets of `bucket_secs`: the last 24 hours and the same a week earlier,
/// as `(start, end)` for [`LiveState::trend_history`].
pub fn windows(now: i64, bucket_secs: u64) -> [(i64, i64); 2] {
    let grid = Grid::new(now, bucket_secs);
    let start = grid.time(0);
    let end = grid.time(grid.steps);
    [(start, now), (start - WEEK_SECS, end - WEEK_SECS)]
}

/// Shapes history read for [`windows`]`(now, …)` into the wall's trends.
pub fn build(history: &TrendHistory, now: i64) -> TrendsView {
    let bucket_secs = bucket_secs(history);
    let grid = Grid::new(now, bucket_secs);
    let scopes = history
        .scopes
        .iter()
        .map(|(scope, points)| (scope.clone(), scope_trend(&grid, points)))
        .collect();
    TrendsView {
        bucket_minutes: u32::try_from(bucket_secs / 60).unwrap_or(u32::MAX),
        scopes,
    }
}

/// The history with a scope per trust added (`trust:<short name>`, from
/// `trust_of`: site code → trust short name): at each time any of its sites
/// has a point, the sum of each site's latest point at or before it (a site
/// without a point yet adds nothing). Sites not in `trust_of` belong to no
/// trust.
pub fn with_trusts(history: &TrendHistory, trust_of: &BTreeMap<String, String>) -> TrendHistory {
    let mut by_trust: BTreeMap<&str, Vec<&[TrendPoint]>> = BTreeMap::new();
    for (site, points) in &history.scopes {
        if let Some(trust) = trust_of.get(site) {
            by_trust.entry(trust).or_default().push(points);
        }
    }
    let mut out = history.clone();
    for (trust, sites) in by_trust {
        out.scopes
            .insert(format!("trust:{trust}"), added_up(&sites));
    }
    out
}

/// At each time any of `sites` has a point, the sum of each one's latest
/// point at or before it (a site without a point yet adds nothing).
fn added_up(sites: &[&[TrendPoint]]) -> Vec<TrendPoint> {
    let mut times: Vec<i64> = sites.iter().flat_map(|p| p.iter().map(|x| x.at)).collect();
    times.sort_unstable();
    times.dedup();
    let mut next = vec![0_usize; sites.len()];
    let mut latest: Vec<Option<TrendPoint>> = vec![None; sites.len()];
    times
        .into_iter()
        .map(|at| {
            for (i, points) in sites.iter().enumerate() {
                while let Some(point) = points.get(next[i]).filter(|p| p.at <= at) {
                    latest[i] = Some(*point);
                    next[i] += 1;
                }
            }
            let (occupied, usable) = latest
                .iter()
                .flatten()
                .fold((0, 0), |(o, u), p| (o + p.occupied, u + p.usable));
            TrendPoint {
                at,
                occupied,
                usable,
            }
        })
        .collect()
}

/// The history of the region's sites (the keys of `trust_of`, and the load
/// test's [`LOAD_TEST_SITE`]): another region's site's history is dropped,
/// and then the system's is the region's sites added up (the projection's
/// covers every site in the live state). A history without another
/// region's site is returned as it is, and so is every history when
/// `trust_of` names no site.
pub fn for_region(mut history: TrendHistory, trust_of: &BTreeMap<String, String>) -> TrendHistory {
    if trust_of.is_empty() {
        return history;
    }
    let before = history.scopes.len();
    history.scopes.retain(|scope, _| {
        scope == SYSTEM_SCOPE || scope == LOAD_TEST_SITE || trust_of.contains_key(scope)
    });
    if history.scopes.len() == before {
        return history;
    }
    let sites: Vec<&[TrendPoint]> = history
        .scopes
        .iter()
        .filter(|(scope, _)| *scope != SYSTEM_SCOPE)
        .map(|(_, points)| points.as_slice())
        .collect();
    let system = added_up(&sites);
    history.scopes.insert(SYSTEM_SCOPE.to_owned(), system);
    history
}

/// Re-reads the history every `every` (at least a second; and once at
/// start) and sends the trends (with each trust's, `trust_of` mapping site
/// codes to trust short names) on `sender` when they changed, until
/// `shutdown`. A failed read is logged and the last trends stand.
pub async fn follow(
    mut reader: LiveState,
    trust_of: BTreeMap<String, String>,
    sender: watch::Sender<Arc<TrendsView>>,
    every: Duration,
    shutdown: CancellationToken,
) {
    let every = every.max(Duration::from_secs(1));
    let mut bucket_secs = DEFAULT_BUCKET_SECS;
    loop {
        match read(&mut reader, &trust_of, &mut bucket_secs, unix_now()).await {
            Ok(view) => {
                sender.send_if_modified(|current| {
                    if **current == view {
                        false
                    } else {
                        *current = Arc::new(view);
                        true
                    }
                });
            }
            Err(err) => {
                tracing::warn!(cause = %err, "cannot read the occupancy history; the trends stand");
            }
        }
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(every) => {}
        }
    }
}

/// Reads the windows for `now` and builds the view; reads again when the
/// projection's bucket length turns out to differ from `bucket_secs` (the
/// windows are aligned to buckets), and remembers it.
async fn read(
    reader: &mut LiveState,
    trust_of: &BTreeMap<String, String>,
    bucket_secs: &mut u64,
    now: i64,
) -> Result<TrendsView, LiveStateError> {
    let mut history = reader.trend_history(&windows(now, *bucket_secs)).await?;
    if let Some(written) = history.bucket_secs
        && written != *bucket_secs
    {
        *bucket_secs = written;
        history = reader.trend_history(&windows(now, written)).await?;
    }
    let history = for_region(history, trust_of);
    Ok(build(&with_trusts(&history, trust_of), now))
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

fn bucket_secs(history: &TrendHistory) -> u64 {
    history
        .bucket_secs
        .unwrap_or(DEFAULT_BUCKET_SECS)
        .clamp(1, DAY_SECS as u64)
}

/// The sample times of the last 24 hours: bucket starts, the last one the
/// bucket `now` is in.
#[derive(Debug, Clone, Copy)]
struct Grid {
    /// Start of the bucket `now` is in.
    end: i64,
    bucket: i64,
    /// Buckets from the first sample to the last (24 hours).
    steps: i64,
}

impl Grid {
    fn new(now: i64, bucket_secs: u64) -> Self {
        let bucket = i64::try_from(bucket_secs.clamp(1, DAY_SECS as u64)).unwrap_or(DAY_SECS);
        Self {
            end: now.div_euclid(bucket) * bucket,
            bucket,
            steps: (DAY_SECS + bucket - 1) / bucket,
        }
    }

    fn time(&self, step: i64) -> i64 {
        self.end - (self.steps - step) * self.bucket
    }

    fn x(&self, step: i64) -> f64 {
        step as f64 * VIEW_WIDTH / self.steps as f64
    }
}

/// Occupancy % (one decimal) at each sample time, `offset` seconds back;
/// `None` before the first point and while no bed is usable.
fn series(grid: &Grid, points: &[TrendPoint], offset: i64) -> Vec<Option<f64>> {
    let mut next = 0;
    let mut current: Option<&TrendPoint> = None;
    (0..=grid.steps)
        .map(|step| {
            let at = grid.time(step) - offset;
            while let Some(point) = points.get(next).filter(|p| p.at <= at) {
                current = Some(point);
                next += 1;
            }
            current.and_then(occupancy_pct)
        })
        .collect()
}

fn occupancy_pct(point: &TrendPoint) -> Option<f64> {
    point.occupancy().pct()
}

fn scope_trend(grid: &Grid, points: &[TrendPoint]) -> ScopeTrend {
    let today = series(grid, points, 0);
    let last_week = series(grid, points, WEEK_SECS);
    let (low_pct, high_pct) = y_range(today.iter().chain(&last_week).flatten().copied());
    let now_pct = today.last().copied().flatten();
    let week_ago_pct = last_week.last().copied().flatten();
    ScopeTrend {
        today_path: path(grid, &today, low_pct, high_pct),
        last_week_path: path(grid, &last_week, low_pct, high_pct),
        low_pct,
        high_pct,
        now_pct,
        week_ago_pct,
        summary: summary(&today, now_pct, week_ago_pct),
    }
}

/// The y range: whole 5 % steps around the figures, at least
/// [`MIN_SPAN_PCT`] wide, never below 0 and, while the figures stay at or
/// under 100 %, never above 100.
fn y_range(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (min, max) = values.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
        (lo.min(v), hi.max(v))
    });
    if !min.is_finite() {
        return (0.0, 100.0);
    }
    let mut low = ((min / 5.0).floor() * 5.0).max(0.0);
    let mut high = (max / 5.0).ceil() * 5.0;
    let ceiling = high.max(100.0);
    while high - low < MIN_SPAN_PCT {
        if high + 5.0 <= ceiling {
            high += 5.0;
        } else if low >= 5.0 {
            low -= 5.0;
        } else {
            high += 5.0;
        }
    }
    (low, high)
}

/// The SVG path of one series; interior points of a level stretch are left
/// out (the line is the same without them).
fn path(grid: &Grid, values: &[Option<f64>], low: f64, high: f64) -> String {
    let y = |v: f64| (VIEW_HEIGHT - (v - low) / (high - low) * VIEW_HEIGHT).clamp(0.0, VIEW_HEIGHT);
    let mut d = String::new();
    let mut step = 0;
    while step < values.len() {
        let Some(first) = values[step] else {
            step += 1;
            continue;
        };
        // A stretch of figures: [step, end).
        let end = values[step..]
            .iter()
            .position(Option::is_none)
            .map_or(values.len(), |n| step + n);
        d.push_str(&format!("M{} {}", num(grid.x(step as i64)), num(y(first))));
        if end - step == 1 {
            // A lone figure: a dot (drawn with round line caps).
            d.push_str("h0");
        }
        for i in step + 1..end {
            let (Some(before), Some(value)) = (values[i - 1], values[i]) else {
                continue;
            };
            let after = values.get(i + 1).copied().flatten().filter(|_| i + 1 < end);
            if i + 1 < end && before == value && after == Some(value) {
                continue;
            }
            d.push_str(&format!("L{} {}", num(grid.x(i as i64)), num(y(value))));
        }
        step = end;
    }
    d
}

/// A coordinate with at most two decimals, without trailing zeros.
fn num(value: f64) -> String {
    let text = format!("{:.2}", (value * 100.0).round() / 100.0);
    let text = text.trim_end_matches('0').trim_end_matches('.');
    if text == "-0" {
        "0".to_owned()
    } else {
        text.to_owned()
    }
}

fn whole(pct: f64) -> String {
    format!("{pct:.0}%")
}

fn summary(today: &[Option<f64>], now_pct: Option<f64>, week_ago_pct: Option<f64>) -> String {
    let (min, max) = today
        .iter()
        .flatten()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
            (lo.min(*v), hi.max(*v))
        });
    let mut text = if min.is_finite() {
        let range = if whole(min) == whole(max) {
            format!("{} throughout", whole(min))
        } else {
            format!("{} to {}", whole(min), whole(max))
        };
        let now = now_pct.map_or("no usable beds now".to_owned(), |p| {
            format!("now {}", whole(p))
        });
        format!("Occupancy over the last 24 hours: {range}, {now}.")
    } else {
        "No occupancy figures for the last 24 hours.".to_owned()
    };
    match week_ago_pct {
        Some(p) => text.push_str(&format!(" Same time last week: {}.", whole(p))),
        None => text.push_str(" Same time last week: no figures."),
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    const BUCKET: i64 = 300;
    /// A bucket start, so that the last sample is exactly `NOW`.
    const NOW: i64 = 1_764_500_400;

    fn point(at: i64, occupied: i64, usable: i64) -> TrendPoint {
        TrendPoint {
            at,
            occupied,
            usable,
        }
    }

    fn history(points: Vec<TrendPoint>) -> TrendHistory {
        TrendHistory {
            bucket_secs: Some(BUCKET as u64),
            scopes: BTreeMap::from([("RWEAA".to_owned(), points)]),
        }
    }

    fn trend(points: Vec<TrendPoint>, now: i64) -> ScopeTrend {
        build(&history(points), now).scopes["RWEAA"].clone()
    }

    #[test]
    fn a_trust_is_the_sum_of_its_sites_each_carried_forward() {
        let start = NOW - DAY_SECS;
        let history = TrendHistory {
            bucket_secs: Some(BUCKET as u64),
            scopes: BTreeMap::from([
                // 8 of 10 all day, then 10 of 10 from half way.
                (
                    "RWEAA".to_owned(),
                    vec![point(start, 8, 10), point(start + DAY_SECS / 2, 10, 10)],
                ),
                // 2 of 10 all day.
                ("RWEBB".to_owned(), vec![point(start, 2, 10)]),
                // Another trust's site: not in UHL's figures.
                ("RT5AA".to_owned(), vec![point(start, 0, 50)]),
            ]),
        };
        let trust_of = BTreeMap::from([
            ("RWEAA".to_owned(), "UHL".to_owned()),
            ("RWEBB".to_owned(), "UHL".to_owned()),
            ("RT5AA".to_owned(), "LPT".to_owned()),
        ]);
        let view = build(&with_trusts(&history, &trust_of), NOW);
        let uhl = &view.scopes["trust:UHL"];
        assert_eq!(uhl.now_pct, Some(60.0), "(10 + 2) of 20");
        assert_eq!(
            uhl.summary,
            build(
                &TrendHistory {
                    bucket_secs: Some(BUCKET as u64),
                    scopes: BTreeMap::from([(
                        "x".to_owned(),
                        vec![point(start, 10, 20), point(start + DAY_SECS / 2, 12, 20)],
                    )]),
                },
                NOW
            )
            .scopes["x"]
                .summary,
            "the same day as one scope holding the sums"
        );
        assert_eq!(view.scopes["trust:LPT"].now_pct, Some(0.0));
        assert!(view.scopes.contains_key("RWEAA"), "the sites stay");
    }

    #[test]
    fn the_windows_cover_the_last_day_and_the_same_day_last_week() {
        let [today, week] = windows(NOW + 17, 300);
        assert_eq!(today, (NOW - DAY_SECS, NOW + 17));
        assert_eq!(week, (NOW - DAY_SECS - WEEK_SECS, NOW - WEEK_SECS));
    }

    #[test]
    fn a_steady_day_is_one_level_line_and_values_carry_forward() {
        // 18 of 20 since before the window, nothing since.
        let t = trend(vec![point(NOW - 2 * DAY_SECS, 18, 20)], NOW + 60);
        assert_eq!(t.now_pct, Some(90.0));
        assert_eq!((t.low_pct, t.high_pct), (90.0, 100.0));
        assert_eq!(t.today_path, "M0 30L100 30");
        assert_eq!(t.last_week_path, "", "nothing a week ago");
        assert_eq!(t.week_ago_pct, None);
        assert_eq!(
            t.summary,
            "Occupancy over the last 24 hours: 90% throughout, now 90%. \
             Same time last week: no figures."
        );
    }

    #[test]
    fn changes_land_at_their_bucket_and_stay_until_the_next() {
        let points = vec![
            point(NOW - DAY_SECS, 9, 10),      // x 0: 90 %
            point(NOW - DAY_SECS / 2, 10, 10), // x 50: 100 %
            point(NOW - 3 * BUCKET, 8, 10),    // three buckets before now: 80 %
        ];
        let t = trend(points, NOW);
        assert_eq!((t.low_pct, t.high_pct), (80.0, 100.0));
        // y: 100 % → 0, 90 % → 15, 80 % → 30; one bucket is 100/288 wide.
        assert_eq!(t.today_path, "M0 15L49.65 15L50 0L98.61 0L98.96 30L100 30");
        assert_eq!(t.now_pct, Some(80.0));
        assert_eq!(
            t.summary,
            "Occupancy over the last 24 hours: 80% to 100%, now 80%. \
             Same time last week: no figures."
        );
    }

    #[test]
    fn no_figures_yet_is_a_gap_and_the_line_starts_with_the_first() {
        let t = trend(vec![point(NOW - DAY_SECS / 4, 1, 4)], NOW);
        assert_eq!(t.today_path, "M75 30L100 30");
        assert_eq!(t.now_pct, Some(25.0));
        assert_eq!((t.low_pct, t.high_pct), (25.0, 35.0));
    }

    #[test]
    fn no_usable_beds_breaks_the_line_and_it_restarts_with_m() {
        let points = vec![
            point(NOW - DAY_SECS, 5, 10),
            point(NOW - DAY_SECS / 2, 0, 0),
            point(NOW - DAY_SECS / 4, 6, 10),
        ];
        let t = trend(points, NOW);
        assert_eq!(t.today_path, "M0 30L49.65 30M75 0L100 0");
        assert_eq!((t.low_pct, t.high_pct), (50.0, 60.0));
    }

    #[test]
    fn a_lone_figure_is_a_dot() {
        let points = vec![point(NOW, 3, 4)];
        assert_eq!(trend(points, NOW).today_path, "M100 30h0");
    }

    #[test]
    fn last_week_lines_up_with_today_by_time_of_day() {
        let points = vec![
            point(NOW - WEEK_SECS - DAY_SECS, 9, 10), // 90 % at the start of last week's window
            point(NOW - WEEK_SECS - DAY_SECS / 2, 8, 10), // 80 % from the middle
            point(NOW - WEEK_SECS + BUCKET, 7, 10),   // after "this time last week": not shown
            point(NOW - DAY_SECS / 2, 19, 20),        // today: 95 % from the middle
        ];
        let t = trend(points, NOW);
        assert_eq!(t.week_ago_pct, Some(80.0));
        assert_eq!(t.now_pct, Some(95.0));
        assert_eq!((t.low_pct, t.high_pct), (70.0, 95.0));
        // y: 95 → 0, 90 → 6, 80 → 18, 70 → 30.
        assert_eq!(t.last_week_path, "M0 6L49.65 6L50 18L100 18");
        // Today: 70 % (carried from last week's last point) until the middle.
        assert_eq!(t.today_path, "M0 30L49.65 30L50 0L100 0");
        assert!(
            t.summary.ends_with("now 95%. Same time last week: 80%."),
            "{}",
            t.summary
        );
    }

    #[test]
    fn the_y_range_is_whole_fives_at_least_ten_wide_within_0_and_100() {
        let range = |v: &[f64]| y_range(v.iter().copied());
        assert_eq!(range(&[91.0, 96.0]), (90.0, 100.0));
        assert_eq!(range(&[92.0, 93.0]), (90.0, 100.0));
        assert_eq!(range(&[100.0]), (90.0, 100.0));
        assert_eq!(range(&[0.0]), (0.0, 10.0));
        assert_eq!(range(&[3.0, 4.0]), (0.0, 10.0));
        assert_eq!(range(&[40.0, 77.5]), (40.0, 80.0));
        assert_eq!(range(&[98.0, 104.0]), (95.0, 105.0));
        assert_eq!(range(&[]), (0.0, 100.0));
    }

    #[test]
    fn occupancy_has_one_decimal() {
        assert_eq!(occupancy_pct(&point(0, 2, 3)), Some(66.7));
        assert_eq!(occupancy_pct(&point(0, 0, 0)), None);
    }

    #[test]
    fn without_history_there_is_nothing_to_draw() {
        let view = build(&TrendHistory::default(), NOW);
        assert_eq!(view.bucket_minutes, 5);
        assert!(view.scopes.is_empty());
        let t = trend(Vec::new(), NOW);
        assert_eq!((t.today_path.as_str(), t.last_week_path.as_str()), ("", ""));
        assert_eq!(
            t.summary,
            "No occupancy figures for the last 24 hours. Same time last week: no figures."
        );
    }

    #[test]
    fn the_view_serialises_with_the_agreed_fields() {
        let view = build(&history(vec![point(NOW - 60, 1, 2)]), NOW);
        let json = serde_json::to_value(&view).expect("serialisable");
        assert_eq!(json["bucket_minutes"], 5);
        let scope = &json["scopes"]["RWEAA"];
        for field in [
            "today_path",
            "last_week_path",
            "low_pct",
            "high_pct",
            "now_pct",
            "week_ago_pct",
            "summary",
        ] {
            assert!(scope.get(field).is_some(), "{field}");
        }
    }

    #[test]
    fn another_regions_sites_are_dropped_and_the_system_is_the_regions() {
        let trust_of = BTreeMap::from([("RWEAA".to_owned(), "UHL".to_owned())]);
        let mut england = history(vec![point(NOW - 600, 1, 4), point(NOW - 300, 2, 4)]);
        england
            .scopes
            .insert("RZZAA".into(), vec![point(NOW - 450, 10, 10)]);
        england.scopes.insert(
            SYSTEM_SCOPE.into(),
            vec![
                point(NOW - 600, 1, 4),
                point(NOW - 450, 11, 14),
                point(NOW - 300, 12, 14),
            ],
        );
        let region = for_region(england.clone(), &trust_of);
        let scopes: Vec<&str> = region.scopes.keys().map(String::as_str).collect();
        assert_eq!(scopes, ["RWEAA", SYSTEM_SCOPE]);
        assert_eq!(
            region.scopes[SYSTEM_SCOPE],
            [point(NOW - 600, 1, 4), point(NOW - 300, 2, 4)]
        );
        // The region's own history (LLR's, say) is left as it is, and so is
        // every history when no site is named.
        let mut own = england.clone();
        own.scopes.remove("RZZAA");
        assert_eq!(for_region(own.clone(), &trust_of), own);
        assert_eq!(for_region(england.clone(), &BTreeMap::new()), england);
    }
}
