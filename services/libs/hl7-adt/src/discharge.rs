//! Where a discharged patient went, from PV1-36 (discharge disposition) or
//! PV1-37 (discharged to location), in the discharge list's words.
//!
//! NHS feeds send the NHS Data Dictionary "discharge destination" code
//! (two digits) in one of the two; which one differs between systems, so
//! PV1-37 is read first (it names the place), then PV1-36. A code that is
//! not a discharge destination code gives no destination rather than a
//! guess.

use crate::message::Visit;

/// The discharge list's destination word (`usual_residence`, `care_home`,
/// `community_bed`, `hospice`, `other`) of an NHS discharge destination code.
pub fn destination_of_code(code: &str) -> Option<&'static str> {
    Some(match code.trim() {
        // Usual or temporary place of residence.
        "19" | "29" => "usual_residence",
        // NHS-run care home, local authority residential accommodation,
        // non-NHS-run care home.
        "54" | "65" | "85" => "care_home",
        // Non-NHS-run hospice.
        "88" => "hospice",
        // NHS other hospital provider: general, maternity, mental health,
        // learning disabilities wards (community and intermediate care).
        "50" | "51" | "52" | "53" => "community_bed",
        // Repatriation, court, penal establishment, high security, foster
        // care, non-NHS hospital, died.
        "30" | "37" | "38" | "48" | "49" | "66" | "79" | "84" | "87" => "other",
        _ => return None,
    })
}

/// The destination of a discharged visit, where its PAS sent one.
pub fn destination(visit: &Visit) -> Option<&'static str> {
    visit
        .discharged_to
        .as_deref()
        .and_then(destination_of_code)
        .or_else(|| {
            visit
                .discharge_disposition
                .as_deref()
                .and_then(destination_of_code)
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn visit(disposition: Option<&str>, to: Option<&str>) -> Visit {
        Visit {
            discharge_disposition: disposition.map(str::to_owned),
            discharged_to: to.map(str::to_owned),
            ..Visit::default()
        }
    }

    #[test]
    fn codes_map_to_the_lists_destinations() {
        for (code, want) in [
            ("19", Some("usual_residence")),
            ("54", Some("care_home")),
            ("85", Some("care_home")),
            ("88", Some("hospice")),
            ("51", Some("community_bed")),
            ("79", Some("other")),
            ("99", None),
            ("HOME", None),
            ("", None),
        ] {
            assert_eq!(destination_of_code(code), want, "{code}");
        }
    }

    #[test]
    fn pv1_37_first_then_pv1_36_and_nothing_guessed() {
        assert_eq!(
            destination(&visit(Some("19"), Some("54"))),
            Some("care_home")
        );
        assert_eq!(
            destination(&visit(Some("19"), Some("LOCAL-X"))),
            Some("usual_residence")
        );
        assert_eq!(destination(&visit(Some("01"), None)), None);
        assert_eq!(destination(&visit(None, None)), None);
    }
}
