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
    runs.windows(3).any(|w| grouped(bytes, &w[0], &w[1], &w[2]))
}

/// What [`redact`] puts in place of something that looks like an NHS number.
pub const REDACTED: &str = "[redacted]";

/// `text` made safe to keep in the audit trail whatever a caller sent: cut
/// to at most `max_chars` characters, control characters other than line
/// feeds and tabs dropped, and every
/// span that looks like an NHS number (see [`contains_nhs_number`]) replaced
/// by [`REDACTED`]. The result never contains an NHS number and is never
/// longer than `max_chars` characters.
///
/// Use it on text that comes from outside (headers such as `User-Agent`,
/// `Referer`, forwarded addresses, path segments, free text in a refusal's
/// reason), so that the guard only ever refuses a bug in our own code,
/// never what a caller sent.
pub fn redact(text: &str, max_chars: usize) -> String {
    // Cut first: cutting after redacting could shorten a longer digit run
    // into exactly ten digits.
    let cut: String = text
        .chars()
        .filter(|c| !c.is_control() || matches!(c, '\n' | '\t'))
        .take(max_chars)
        .collect();
    let bytes = cut.as_bytes();
    let runs = digit_runs(bytes);
    let mut spans: Vec<std::ops::Range<usize>> = Vec::new();
    for (i, run) in runs.iter().enumerate() {
        if run.len() == 10 && passes_check_digit(&bytes[run.clone()]) {
            spans.push(run.clone());
        }
        if let [a, b, c] = runs.get(i..i + 3).unwrap_or_default()
            && grouped(bytes, a, b, c)
        {
            spans.push(a.start..c.end);
        }
    }
    if spans.is_empty() {
        return cut;
    }
    spans.sort_by_key(|span| span.start);
    let mut out = String::with_capacity(cut.len());
    let mut at = 0;
    for span in spans {
        if span.start < at {
            continue;
        }
        out.push_str(&cut[at..span.start]);
        out.push_str(REDACTED);
        at = span.end;
    }
    out.push_str(&cut[at..]);
    // A 3-3-4 group (12 characters) or a run (10) becomes 10 characters, so
    // the text never grows; cut again in case `max_chars` is below 10.
    out.chars().take(max_chars).collect()
}

/// Whether three consecutive runs are an NHS number grouped 3-3-4.
fn grouped(
    bytes: &[u8],
    a: &std::ops::Range<usize>,
    b: &std::ops::Range<usize>,
    c: &std::ops::Range<usize>,
) -> bool {
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
    fn redaction_replaces_numbers_and_keeps_the_rest() {
        assert_eq!(
            redact("Mozilla/5.0 9434765919 (X11)", 256),
            "Mozilla/5.0 [redacted] (X11)"
        );
        assert_eq!(redact("nhs:943-476-5919;", 256), "nhs:[redacted];");
        assert_eq!(
            redact("a 943 476 5919 b 9434765919", 256),
            "a [redacted] b [redacted]"
        );
        assert_eq!(
            redact("Chrome/120.0.6099.109", 256),
            "Chrome/120.0.6099.109"
        );
        assert_eq!(redact("line\r\nbreak\u{1b}", 256), "line\nbreak");
        assert_eq!(redact(&"x".repeat(300), 256).chars().count(), 256);
        // Cutting never leaves ten digits of a longer run behind.
        assert!(!contains_nhs_number(&redact("94347659190", 10)));
    }

    proptest::proptest! {
        #[test]
        fn redacted_text_passes_the_guard_and_is_bounded(
            text in "(\\PC|[0-9 -]){0,300}",
            max in 0usize..300,
        ) {
            let redacted = redact(&text, max);
            proptest::prop_assert!(!contains_nhs_number(&redacted), "{redacted:?}");
            proptest::prop_assert!(redacted.chars().count() <= max);
        }

        #[test]
        fn numbers_embedded_anywhere_are_redacted(
            before in "[^0-9]{0,40}",
            after in "[^0-9]{0,40}",
            n in 0u32..1_000_000,
            grouping in 0usize..3,
        ) {
            let number = with_check_digit(999_000_000 + n);
            let number = match (number, grouping) {
                (None, _) => return Ok(()),
                (Some(d), 0) => d,
                (Some(d), 1) => format!("{} {} {}", &d[..3], &d[3..6], &d[6..]),
                (Some(d), _) => format!("{}-{}-{}", &d[..3], &d[3..6], &d[6..]),
            };
            let text = format!("{before}{number}{after}");
            let redacted = redact(&text, 1000);
            proptest::prop_assert!(!contains_nhs_number(&redacted));
            proptest::prop_assert!(!redacted.contains(&number));
        }
    }

    /// Nine digits and their check digit, when there is one.
    fn with_check_digit(nine: u32) -> Option<String> {
        (0..10)
            .map(|d| format!("{nine:09}{d}"))
            .find(|candidate| passes_check_digit(candidate.as_bytes()))
    }

    #[test]
    fn check_digit_follows_the_published_rule() {
        assert!(passes_check_digit(b"9434765919"));
        // Sum 0 → 11 - 0 = 11, which means a check digit of 0.
        assert!(passes_check_digit(b"0000000000"));
        assert!(!passes_check_digit(b"943476591"));
    }
}
