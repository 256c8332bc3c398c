//! Property tests: whatever a person types into the form or a system sends
//! to the API, the report rules answer without panicking, and a report
//! they accept always keeps the home's rules.

use std::collections::BTreeMap;

use pf_care_home_model::{Register, ReportInput, VacancyInput, VacancyReport};
use proptest::prelude::*;

fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        "[0-9]{0,4}",
        "-?[0-9]{1,3}(\\.[0-9])?",
        ".{0,12}",
        Just(String::new()),
        Just("99999999999999999999999".to_owned()),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1500))]

    #[test]
    fn any_report_is_parsed_or_refused_and_accepted_ones_keep_the_rules(
        home in 0usize..300,
        figures in proptest::collection::vec((0usize..14, text(), text(), "(either|male|female|.{0,6})"), 0..6),
        closed in any::<bool>(),
        reason in "(outbreak|staffing|other|.{0,8})",
        note in ".{0,600}",
    ) {
        let register = Register::llr_demo().expect("register");
        let registration = register.homes().nth(home).expect("home").clone();
        let words = ["residential", "residential_dementia", "nursing", "nursing_dementia",
            "learning_disability_residential", "learning_disability_nursing", "mental_health_residential",
            "mental_health_nursing", "short_stay_discharge_to_assess", "short_stay_intermediate_care",
            "short_stay_reablement", "short_stay_respite", "young_physically_disabled", "hotel"];
        let vacancies: BTreeMap<String, VacancyInput> = figures
            .into_iter()
            .map(|(w, vacant, unavailable, sex)| (words[w].to_owned(), VacancyInput { vacant, unavailable, sex }))
            .collect();
        let input = ReportInput {
            vacancies,
            closed_to_admissions: closed,
            closure_reason: reason,
            closure_detail: String::new(),
            accepting_hospital_discharges: true,
            note,
        };
        match VacancyReport::parse(&input, &registration) {
            Ok(report) => {
                let total: u32 = report.vacancies.iter().map(|v| v.vacant).sum();
                prop_assert!(total <= registration.registered_beds);
                prop_assert!(report.vacancies.iter().all(|v| v.unavailable <= v.vacant));
                prop_assert!(report.vacancies.iter().all(|v| registration.categories.contains(&v.category)));
                prop_assert_eq!(report.closure.is_some(), closed);
            }
            Err(problems) => {
                prop_assert!(!problems.problems.is_empty());
                prop_assert!(problems.problems.iter().all(|p| !p.message.is_empty() && !p.field.is_empty()));
            }
        }
    }
}
