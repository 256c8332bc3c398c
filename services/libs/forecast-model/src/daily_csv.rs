//! A trust's own history: daily admissions and discharges as CSV.
//!
//! The file has a header row and one row per day (and per site, when a
//! `site` column is present):
//!
//! ```text
//! date,admissions,discharges
//! 2025-10-01,412,398
//! ```
//!
//! Dates are ISO 8601 (`YYYY-MM-DD`). A day missing from the file is a gap
//! (filled before fitting, never read as zero). Every error names the row.

use std::collections::BTreeMap;

use time::{Date, OffsetDateTime, format_description::well_known::Iso8601};

use crate::series::{Cadence, Series};

/// Why a CSV history could not be read.
#[derive(Debug, thiserror::Error)]
pub enum CsvError {
    /// The file is not CSV or lacks a column.
    #[error("the history file is not usable: {0}")]
    Format(String),
    /// A row has a bad value.
    #[error("row {row}: {problem}")]
    Row {
        /// 1-based row number (the header is row 1).
        row: usize,
        /// What is wrong.
        problem: String,
    },
    /// No rows.
    #[error("the history file has no days in it")]
    Empty,
}

/// The series of one site (or of the whole file, without a `site` column).
#[derive(Debug, Clone, PartialEq)]
pub struct DailyHistory {
    /// Admissions per day.
    pub admissions: Series,
    /// Discharges per day.
    pub discharges: Series,
}

/// Reads the CSV text into one [`DailyHistory`] per site (`all` without a
/// `site` column), each starting at its first day.
pub fn read(text: &str) -> Result<BTreeMap<String, DailyHistory>, CsvError> {
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let headers = reader
        .headers()
        .map_err(|e| CsvError::Format(e.to_string()))?
        .clone();
    let column = |name: &str| headers.iter().position(|h| h.eq_ignore_ascii_case(name));
    let (Some(date_at), Some(admissions_at), Some(discharges_at)) =
        (column("date"), column("admissions"), column("discharges"))
    else {
        return Err(CsvError::Format(
            "the header must name the columns date, admissions and discharges".to_owned(),
        ));
    };
    let site_at = column("site");
    let mut days: BTreeMap<String, BTreeMap<Date, (f64, f64)>> = BTreeMap::new();
    for (index, record) in reader.records().enumerate() {
        let row = index + 2;
        let record = record.map_err(|e| CsvError::Row {
            row,
            problem: e.to_string(),
        })?;
        let field = |at: usize| record.get(at).unwrap_or("");
        let date = Date::parse(field(date_at), &Iso8601::DATE).map_err(|_| CsvError::Row {
            row,
            problem: format!("`{}` is not a date like 2025-10-01", field(date_at)),
        })?;
        let count = |at: usize, name: &str| -> Result<f64, CsvError> {
            field(at)
                .parse::<u32>()
                .map(f64::from)
                .map_err(|_| CsvError::Row {
                    row,
                    problem: format!("{name} `{}` is not a whole number of patients", field(at)),
                })
        };
        let values = (
            count(admissions_at, "admissions")?,
            count(discharges_at, "discharges")?,
        );
        let site = site_at.map_or("all", |at| field(at)).to_owned();
        days.entry(site).or_default().insert(date, values);
    }
    if days.is_empty() {
        return Err(CsvError::Empty);
    }
    Ok(days
        .into_iter()
        .filter_map(|(site, by_day)| {
            let first = *by_day.keys().next()?;
            let last = *by_day.keys().next_back()?;
            let n = (last - first).whole_days() as usize + 1;
            let (mut admissions, mut discharges) = (vec![None; n], vec![None; n]);
            for (date, (a, d)) in &by_day {
                let i = (*date - first).whole_days() as usize;
                admissions[i] = Some(*a);
                discharges[i] = Some(*d);
            }
            let start = OffsetDateTime::new_utc(first, time::Time::MIDNIGHT);
            let series = |values| Series {
                start,
                cadence: Cadence::Daily,
                values,
            };
            Some((
                site,
                DailyHistory {
                    admissions: series(admissions),
                    discharges: series(discharges),
                },
            ))
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_days_per_site_and_leaves_a_missing_day_as_a_gap() {
        let text = "date,site,admissions,discharges\n\
                    2025-10-01,RWEAA,40,38\n2025-10-03,RWEAA,44,41\n2025-10-01,RWEAE,20,19\n";
        let Ok(sites) = read(text) else {
            panic!("a good file reads");
        };
        let leicester = &sites["RWEAA"];
        assert_eq!(
            leicester.admissions.values,
            vec![Some(40.0), None, Some(44.0)]
        );
        assert_eq!(leicester.discharges.cadence, Cadence::Daily);
        assert_eq!(sites["RWEAE"].admissions.len(), 1);
    }

    #[test]
    fn a_bad_row_is_named() {
        let Err(error) = read("date,admissions,discharges\n2025-10-01,4x,3\n") else {
            panic!("a bad number is refused");
        };
        assert_eq!(
            error.to_string(),
            "row 2: admissions `4x` is not a whole number of patients"
        );
    }
}
