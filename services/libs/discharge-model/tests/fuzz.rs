//! Property tests: NHS numbers and referrals from outside never make the
//! checks panic; what they accept is valid.

use pf_discharge_model::{NhsNumber, ReferralInput};
use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]

    #[test]
    fn any_text_is_an_nhs_number_only_with_a_good_check_digit(text in ".{0,20}|[0-9 ]{8,14}") {
        if let Ok(number) = NhsNumber::parse(&text) {
            prop_assert_eq!(number.as_str().len(), 10);
            prop_assert_eq!(NhsNumber::parse(number.as_str()), Ok(number.clone()));
            prop_assert!(number.masked().starts_with("*** *** "));
        }
    }

    #[test]
    fn any_referral_is_checked_without_panicking(
        nhs in "[0-9 ]{0,14}|.{0,12}",
        sex in "(male|female|.{0,6})",
        ward in ".{0,20}",
        date in "(2026-1[0-2]-[0-3][0-9]|.{0,12})",
        pathway in "([0-3]|.{0,3})",
        care in "(residential|nursing_dementia|.{0,10})",
        postcode in "(LE[0-9]{1,2} ?[0-9][A-Z]{2}|.{0,10})",
        needs in ".{0,250}",
    ) {
        let input = ReferralInput {
            nhs_number: nhs, sex, ward, discharge_ready_date: date, pathway, care_needed: care,
            search_postcode: postcode, needs, ..Default::default()
        };
        let today = time::macros::date!(2026 - 11 - 30);
        let region = pf_region::Region::built_in();
        match input.check("d".into(), "RWE", "RWEAA", "RWE", today, &region) {
            Ok(record) => {
                prop_assert!(record.discharge_ready_date <= today);
                prop_assert!(!record.pathway.needs_a_bed() || record.place.is_some());
            }
            Err(problems) => prop_assert!(!problems.problems.is_empty()),
        }
    }
}
