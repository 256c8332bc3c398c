//! Keeping patient-identifiable data out of the audit trail.
//!
//! The audit trail is kept for years and read by administrators; it must
//! never hold an NHS number. Callers identify patients' records by entity
//! ids, never by NHS number, and this guard refuses any text that contains
//! something that looks like one, so that a bug upstream cannot leak one
//! into a log that nobody may delete.
//!
//! "Looks like an NHS number" means ten digits that pass the NHS number's
//! modulus 11 check, written either as one run of exactly ten digits
//! (`9434765919`, not part of a longer run of digits) or grouped 3-3-4 with
//! single spaces or hyphens (`943 476 5919`, `943-476-5919`). Every real NHS
//! number passes the check, so every real one is caught; a ten-digit run that
//! fails it cannot be one. Longer identifiers such as the 12-digit NHS
//! smartcard user id are not refused.

/// Whether `text` contains something that looks like an NHS number.
pub fn contains_nhs_number(text: &str) -> bool {
    let runs = digit_runs(text.as_bytes());
    let bytes = text.as_bytes();
    let single = runs
        .iter()
        .filter(|run| run.len() == 10)
        .any(|run| passes_check_digit(&bytes[run.clone()]));
    if single {
        return true;
    }
    runs.windows(3).any(|w| {
        let [a, b, c] = [&w[0], &w[1], &w[2]];
        if a.len() != 3 || b.len() != 3 || c.len() != 4 {
            return false;
        }
        if !separates(bytes, a.end, b.start) || !separates(bytes, b.end, c.start) {
            return false;
        }
        let digits: Vec<u8> = [a, b, c]
            .iter()
            .flat_map(|run| bytes[(*run).clone()].iter().copied())
            .collect();
        passes_check_digit(&digits)
    })
}

/// The byte ranges of maximal runs of ASCII digits.
fn digit_runs(bytes: &[u8]) -> Vec<std::ops::Range<usize>> {
    let mut runs = Vec::new();
    let mut start = None;
    for (i, b) in bytes.iter().enumerate() {
        match (b.is_ascii_digit(), start) {
            (true, None) => start = Some(i),
            (false, Some(s)) => {
                runs.push(s..i);
                start = None;
            }
            _ => {}
        }
    }
    if let Some(s) = start {
        runs.push(s..bytes.len());
    }
    runs
}

/// Whether exactly one space or hyphen lies between two runs.
fn separates(bytes: &[u8], end: usize, next_start: usize) -> bool {
    next_start == end + 1 && matches!(bytes[end], b' ' | b'-')
}

/// The NHS number check: digits 1-9 weighted 10 down to 2, summed;
/// 11 - (sum mod 11) is the check digit, 11 meaning 0 and 10 meaning invalid.
fn passes_check_digit(digits: &[u8]) -> bool {
    if digits.len() != 10 || !digits.iter().all(u8::is_ascii_digit) {
        return false;
    }
    let value = |d: u8| u32::from(d - b'0');
    let sum: u32 = digits[..9]
        .iter()
        .zip((2..=10).rev())
        .map(|(d, weight)| value(*d) * weight)
        .sum();
    let check = match 11 - sum % 11 {
        11 => 0,
        10 => return false,
        c => c,
    };
    check == value(digits[9])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_a_plain_or_grouped_nhs_number_anywhere() {
        for text in [
            "9434765919",
            "patient 9434765919 moved",
            "bed/RWEAA/WD15/9434765919",
            "943 476 5919",
            "nhs:943-476-5919;",
            "x9434765919y",
        ] {
            assert!(contains_nhs_number(text), "{text}");
        }
    }

    #[test]
    fn leaves_other_numbers_alone() {
        for text in [
            "",
            "bed/RWEAA/WD15/B03",
            // Fails the check digit.
            "9434765918",
            // Part of longer runs: a smartcard id, a phone number.
            "555254242106",
            "94347659190",
            "0116 258 5000",
            // A UUID's groups are never 3-3-4.
            "0190f3c2-1234-7567-8901-123456789012",
            "Mozilla/5.0 (X11; Linux x86_64) Chrome/120.0.6099.109",
            "192.168.100.200",
        ] {
            assert!(!contains_nhs_number(text), "{text}");
        }
    }

    #[test]
    fn check_digit_follows_the_published_rule() {
        assert!(passes_check_digit(b"9434765919"));
        // Sum 0 → 11 - 0 = 11, which means a check digit of 0.
        assert!(passes_check_digit(b"0000000000"));
        assert!(!passes_check_digit(b"943476591"));
    }
}
