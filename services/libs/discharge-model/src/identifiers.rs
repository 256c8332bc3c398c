//! Identifiers in free text that leaves the hospital: care needs a care
//! home reads, the reason a coordinator gives a home for releasing its bed.
//!
//! People write an NHS number and a date of birth in many ways
//! (`943 476 5919`, `943-476-5919`, `9434765919`, `01/02/1950`,
//! `1.2.50`, `1950-02-01`). The text is read as clusters of digit groups
//! joined by separators (spaces, hyphens and dashes, dots, slashes,
//! underscores; a few together, like ` - `); a cluster is refused when it
//! holds six digits or more (an NHS number, a hospital number, a long date)
//! or when three of its groups read as a date (day, month and a 2 or 4
//! digit year, either way round, or a 4 digit year first). Decimal digits
//! of other scripts (fullwidth `９`, Arabic-Indic) count as digits.
//!
//! Text without such clusters is never refused: "Hoist for transfers, two
//! carers at night", "2 carers, 4 visits a day", "BP 120/80".

use crate::nhs_number::check_digit;

/// The fewest digits in one cluster that are refused whatever they mean.
pub const LONG_RUN_DIGITS: usize = 6;

/// Most separator characters between two digit groups of one cluster.
const MAX_SEPARATOR_CHARS: usize = 3;

/// What kind of identifier was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Identifier {
    /// Ten digits with a valid NHS number check digit.
    NhsNumber,
    /// Day, month and year (or year, month and day).
    Date,
    /// Six or more digits in one cluster: a hospital number, a phone
    /// number, an NHS number with a typing mistake.
    DigitRun,
}

/// The first identifier in `text`, if any.
pub fn find_identifier(text: &str) -> Option<Identifier> {
    clusters(text)
        .into_iter()
        .find_map(|groups| classify(&groups))
}

/// Whether `text` holds an NHS number, a date or a long run of digits.
pub fn has_identifier(text: &str) -> bool {
    find_identifier(text).is_some()
}

/// The value of a decimal digit of any common script, or `None`.
fn digit_value(c: char) -> Option<u32> {
    if let Some(d) = c.to_digit(10) {
        return Some(d);
    }
    // The zero of each decimal-digit block people might paste from.
    const ZEROS: [u32; 6] = [0x0660, 0x06F0, 0x0966, 0x09E6, 0x0E50, 0xFF10];
    let code = u32::from(c);
    ZEROS
        .iter()
        .find(|zero| (**zero..**zero + 10).contains(&code))
        .map(|zero| code - zero)
}

/// Whether `c` may join two digit groups of one cluster.
fn is_separator(c: char) -> bool {
    c.is_whitespace()
        || matches!(
            c,
            '-' | '.' | '/' | '\\' | '_' | '\u{2010}'
                ..='\u{2015}'
                    | '\u{2212}'
                    | '\u{2044}'
                    | '\u{2215}'
                    | '\u{FF0D}'
                    | '\u{FF0E}'
                    | '\u{FF0F}'
        )
}

/// The text's clusters: each a list of digit groups (each group its digits'
/// values), joined by at most [`MAX_SEPARATOR_CHARS`] separators.
fn clusters(text: &str) -> Vec<Vec<Vec<u32>>> {
    let mut out: Vec<Vec<Vec<u32>>> = Vec::new();
    let mut cluster: Vec<Vec<u32>> = Vec::new();
    let mut group: Vec<u32> = Vec::new();
    let mut separators = 0;
    for c in text.chars() {
        if let Some(d) = digit_value(c) {
            group.push(d);
            separators = 0;
            continue;
        }
        if !group.is_empty() {
            cluster.push(std::mem::take(&mut group));
        }
        if is_separator(c) && !cluster.is_empty() && separators < MAX_SEPARATOR_CHARS {
            separators += 1;
        } else {
            separators = 0;
            if !cluster.is_empty() {
                out.push(std::mem::take(&mut cluster));
            }
        }
    }
    if !group.is_empty() {
        cluster.push(group);
    }
    if !cluster.is_empty() {
        out.push(cluster);
    }
    out
}

fn classify(groups: &[Vec<u32>]) -> Option<Identifier> {
    let digits: Vec<u32> = groups.iter().flatten().copied().collect();
    if digits.len() == 10 && is_nhs_number(&digits) {
        return Some(Identifier::NhsNumber);
    }
    if groups.windows(3).any(is_date) {
        return Some(Identifier::Date);
    }
    (digits.len() >= LONG_RUN_DIGITS).then_some(Identifier::DigitRun)
}

fn is_nhs_number(digits: &[u32]) -> bool {
    let mut first_nine = [0u8; 9];
    for (slot, d) in first_nine.iter_mut().zip(digits) {
        *slot = u8::try_from(*d).unwrap_or(u8::MAX);
    }
    let last = digits.get(9).and_then(|d| u8::try_from(*d).ok());
    last.is_some() && check_digit(&first_nine) == last
}

fn number(group: &[u32]) -> u32 {
    group
        .iter()
        .fold(0, |n, d| n.saturating_mul(10).saturating_add(*d))
}

fn is_day(group: &[u32]) -> bool {
    (1..=2).contains(&group.len()) && (1..=31).contains(&number(group))
}

fn is_month(group: &[u32]) -> bool {
    (1..=2).contains(&group.len()) && (1..=12).contains(&number(group))
}

/// Day, month, year (either of the first two may be the month); or a
/// 4 digit year, month, day.
fn is_date(three: &[Vec<u32>]) -> bool {
    let [a, b, c] = three else {
        return false;
    };
    let year_last =
        matches!(c.len(), 2 | 4) && ((is_day(a) && is_month(b)) || (is_month(a) && is_day(b)));
    let year_first = a.len() == 4 && is_month(b) && is_day(c);
    year_last || year_first
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn nhs_numbers_are_found_however_written() {
        for text in [
            "NHS 943 476 5919",
            "943-476-5919",
            "943.476.5919",
            "943/476/5919",
            "9434765919",
            "nhs no. 943 - 476 - 5919.",
            "94 34 76 59 19",
            "９４３４７６５９１９",
        ] {
            assert_eq!(find_identifier(text), Some(Identifier::NhsNumber), "{text}");
        }
        // A typing mistake is still a number that names someone.
        assert_eq!(find_identifier("943-476-5918"), Some(Identifier::DigitRun));
        assert_eq!(
            find_identifier("hospital no. 123456"),
            Some(Identifier::DigitRun)
        );
    }

    #[test]
    fn dates_are_found_however_written() {
        for text in [
            "DOB 01/02/1950",
            "born 1/2/50",
            "1-2-50",
            "1.12.50",
            "31.1.1950",
            "1950-02-01",
            "2/28/1950",
            "seen on 3 / 4 / 49 by GP",
        ] {
            assert!(has_identifier(text), "{text}");
        }
    }

    #[test]
    fn ordinary_care_needs_are_kept() {
        for text in [
            "",
            "Hoist for transfers, two carers at night",
            "2 carers, 4 visits a day",
            "BP 120/80, reviewed 2-3 times a week",
            "Needs 1:1 from 08:00 to 20:00",
            "Lives in LE2 7LX area; ward WD15",
            "Fluids 1.5 l a day",
            "Pressure care 2 hourly; 4 to 6 weeks rehab",
        ] {
            assert_eq!(find_identifier(text), None, "{text}");
        }
    }

    /// A valid NHS number's ten digits.
    fn nhs_number() -> impl Strategy<Value = Vec<u32>> {
        prop::collection::vec(0u8..10, 9).prop_filter_map("check digit 10", |nine| {
            let first_nine: [u8; 9] = nine.clone().try_into().ok()?;
            let check = check_digit(&first_nine)?;
            Some(
                nine.into_iter()
                    .chain([check])
                    .map(u32::from)
                    .collect::<Vec<_>>(),
            )
        })
    }

    fn separator() -> impl Strategy<Value = String> {
        prop::sample::select(vec![
            "", " ", "-", ".", "/", " - ", " / ", "  ", "\u{2013}", "_", "\\", ". ",
        ])
        .prop_map(str::to_owned)
    }

    /// `digits` cut at `cuts` and joined by `separators`.
    fn written(digits: &[u32], cuts: &[usize], separators: &[String]) -> String {
        let mut text = String::new();
        let mut seps = separators.iter().cycle();
        for (i, d) in digits.iter().enumerate() {
            if i > 0 && cuts.contains(&i) {
                text.push_str(seps.next().map_or("", String::as_str));
            }
            text.push(char::from_digit(*d, 10).unwrap_or('0'));
        }
        text
    }

    /// Words around the identifier that never join it.
    fn words() -> impl Strategy<Value = String> {
        "[A-Za-z ,;:()]{0,20}"
    }

    proptest! {
        #[test]
        fn every_nhs_number_is_found_with_any_separators(
            digits in nhs_number(),
            cuts in prop::collection::vec(1usize..10, 0..9),
            separators in prop::collection::vec(separator(), 1..9),
            before in words(),
            after in words(),
        ) {
            let text = format!("{before} {} {after}", written(&digits, &cuts, &separators));
            prop_assert!(has_identifier(&text), "{}", text);
        }

        #[test]
        fn every_date_is_found_with_any_separator(
            day in 1u32..=31,
            month in 1u32..=12,
            year in 1900u32..=2030,
            padded in any::<bool>(),
            short_year in any::<bool>(),
            year_first in any::<bool>(),
            first in separator(),
            second in separator(),
            before in words(),
            after in words(),
        ) {
            prop_assume!(!first.is_empty() && !second.is_empty());
            let part = |n: u32| if padded { format!("{n:02}") } else { n.to_string() };
            let date = if year_first {
                format!("{year}{first}{}{second}{}", part(month), part(day))
            } else {
                let year = if short_year { format!("{:02}", year % 100) } else { year.to_string() };
                format!("{}{first}{}{second}{year}", part(day), part(month))
            };
            let text = format!("{before} {date} {after}");
            prop_assert!(has_identifier(&text), "{}", text);
        }

        #[test]
        fn text_without_digits_is_never_refused(text in "\\PN{0,200}") {
            prop_assert_eq!(find_identifier(&text), None);
        }
    }
}
