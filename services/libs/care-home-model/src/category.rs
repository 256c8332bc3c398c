//! The closed lists of the care-home domain, with their words.

use std::fmt;
use std::str::FromStr;

use pf_proto::v1;
use serde::{Deserialize, Serialize};

/// A value that is not one of a list's words.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{value}` is not a known {list}")]
pub struct UnknownValue {
    /// Which list.
    pub list: &'static str,
    /// What was given.
    pub value: String,
}

macro_rules! closed_list {
    (
        $(#[$meta:meta])* $name:ident ($list:literal, $proto:ty) {
            $( $(#[$vmeta:meta])* $variant:ident = $slug:literal, $label:literal, $pv:ident; )+
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub enum $name {
            $( $(#[$vmeta])* $variant, )+
        }

        impl $name {
            /// Every value, in display order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The stable word used in URLs, JSON, Redis and forms.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $slug),+ }
            }

            /// The words shown to people.
            pub fn label(self) -> &'static str {
                match self { $($name::$variant => $label),+ }
            }

            /// The protobuf value.
            pub fn to_proto(self) -> $proto {
                match self { $($name::$variant => <$proto>::$pv),+ }
            }

            /// From a protobuf value (`None` for unspecified or unknown).
            pub fn from_proto(value: i32) -> Option<Self> {
                match <$proto>::try_from(value).ok()? {
                    $(<$proto>::$pv => Some($name::$variant),)+
                    _ => None,
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = UnknownValue;
            fn from_str(value: &str) -> Result<Self, Self::Err> {
                match value {
                    $($slug => Ok($name::$variant),)+
                    _ => Err(UnknownValue { list: $list, value: value.to_owned() }),
                }
            }
        }
    };
}

closed_list! {
    /// The national Capacity Tracker's vacancy categories, which every care
    /// home in England already knows.
    CareCategory ("care category", v1::CareCategory) {
        /// Residential care.
        Residential = "residential", "Residential", Residential;
        /// Residential care for people living with dementia.
        ResidentialDementia = "residential_dementia", "Residential dementia", ResidentialDementia;
        /// Nursing care.
        Nursing = "nursing", "Nursing", Nursing;
        /// Nursing care for people living with dementia.
        NursingDementia = "nursing_dementia", "Nursing dementia", NursingDementia;
        /// Learning disability, residential.
        LearningDisabilityResidential = "learning_disability_residential", "Learning disability (residential)", LearningDisabilityResidential;
        /// Learning disability, nursing.
        LearningDisabilityNursing = "learning_disability_nursing", "Learning disability (nursing)", LearningDisabilityNursing;
        /// Mental health, residential.
        MentalHealthResidential = "mental_health_residential", "Mental health (residential)", MentalHealthResidential;
        /// Mental health, nursing.
        MentalHealthNursing = "mental_health_nursing", "Mental health (nursing)", MentalHealthNursing;
        /// Short stay: discharge to assess.
        ShortStayDischargeToAssess = "short_stay_discharge_to_assess", "Short stay: discharge to assess", ShortStayDischargeToAssess;
        /// Short stay: intermediate care.
        ShortStayIntermediateCare = "short_stay_intermediate_care", "Short stay: intermediate care", ShortStayIntermediateCare;
        /// Short stay: reablement.
        ShortStayReablement = "short_stay_reablement", "Short stay: reablement", ShortStayReablement;
        /// Short stay: respite.
        ShortStayRespite = "short_stay_respite", "Short stay: respite", ShortStayRespite;
        /// Young physically disabled.
        YoungPhysicallyDisabled = "young_physically_disabled", "Young physically disabled", YoungPhysicallyDisabled;
    }
}

closed_list! {
    /// Whom a vacant bed can take.
    SexAccepted ("choice of male, female or either", v1::SexAccepted) {
        /// Anyone.
        Either = "either", "Male or female", Either;
        /// Men only.
        Male = "male", "Male only", Male;
        /// Women only.
        Female = "female", "Female only", Female;
    }
}

closed_list! {
    /// Why a home is closed to admissions.
    ClosureReason ("closure reason", v1::ClosureReason) {
        /// An infection outbreak (norovirus, COVID-19, influenza).
        Outbreak = "outbreak", "Infection outbreak", Outbreak;
        /// The CQC has restricted admissions.
        CqcAction = "cqc_action", "CQC enforcement action", CqcAction;
        /// Not enough staff to admit safely.
        Staffing = "staffing", "Staffing", Staffing;
        /// Building work.
        Refurbishment = "refurbishment", "Refurbishment", Refurbishment;
        /// Anything else (say what in the detail).
        Other = "other", "Other", Other;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_word_round_trips_through_text_and_protobuf() {
        for category in CareCategory::ALL {
            assert_eq!(category.as_str().parse::<CareCategory>(), Ok(*category));
            assert_eq!(
                CareCategory::from_proto(category.to_proto() as i32),
                Some(*category)
            );
        }
        assert_eq!(CareCategory::ALL.len(), 13);
        assert_eq!(CareCategory::from_proto(0), None);
        assert_eq!(
            "hotel".parse::<CareCategory>().map_err(|e| e.to_string()),
            Err("`hotel` is not a known care category".to_owned())
        );
    }
}
