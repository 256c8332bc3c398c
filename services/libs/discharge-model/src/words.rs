//! The closed lists of the discharge domain, with their words.

use std::fmt;
use std::str::FromStr;

use pf_proto::v1;
use serde::{Deserialize, Serialize};

/// A word that is not one of a list's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{value}` is not a known {list}")]
pub struct UnknownWord {
    /// Which list.
    pub list: &'static str,
    /// What was given.
    pub value: String,
}

macro_rules! word_list {
    ($(#[$meta:meta])* $name:ident ($list:literal) { $( $(#[$vmeta:meta])* $variant:ident = $slug:literal, $label:literal; )+ }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub enum $name { $( $(#[$vmeta])* $variant, )+ }

        impl $name {
            /// Every value, in display order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];
            /// The stable word used in URLs, JSON and forms.
            pub fn as_str(self) -> &'static str { match self { $($name::$variant => $slug),+ } }
            /// The words shown to people.
            pub fn label(self) -> &'static str { match self { $($name::$variant => $label),+ } }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result { f.write_str(self.as_str()) }
        }

        impl FromStr for $name {
            type Err = UnknownWord;
            fn from_str(value: &str) -> Result<Self, Self::Err> {
                match value {
                    $($slug => Ok($name::$variant),)+
                    _ => Err(UnknownWord { list: $list, value: value.to_owned() }),
                }
            }
        }
    };
}

word_list! {
    /// Discharge pathways.
    Pathway ("pathway") {
        /// Home, no new support.
        P0 = "0", "Pathway 0: home, no new support";
        /// Home with new support.
        P1 = "1", "Pathway 1: home with new support";
        /// Short-term bed-based recovery.
        P2 = "2", "Pathway 2: short-term bed-based recovery";
        /// New long-term care-home placement.
        P3 = "3", "Pathway 3: new long-term care-home placement";
    }
}

impl Pathway {
    /// The pathway number.
    pub fn number(self) -> u32 {
        match self {
            Pathway::P0 => 0,
            Pathway::P1 => 1,
            Pathway::P2 => 2,
            Pathway::P3 => 3,
        }
    }

    /// Whether the patient needs a bed found (pathways 2 and 3).
    pub fn needs_a_bed(self) -> bool {
        matches!(self, Pathway::P2 | Pathway::P3)
    }

    /// The protobuf value.
    pub fn to_proto(self) -> v1::Pathway {
        match self {
            Pathway::P0 => v1::Pathway::Pathway0,
            Pathway::P1 => v1::Pathway::Pathway1,
            Pathway::P2 => v1::Pathway::Pathway2,
            Pathway::P3 => v1::Pathway::Pathway3,
        }
    }

    /// From a protobuf value.
    pub fn from_proto(value: i32) -> Option<Self> {
        match v1::Pathway::try_from(value).ok()? {
            v1::Pathway::Pathway0 => Some(Pathway::P0),
            v1::Pathway::Pathway1 => Some(Pathway::P1),
            v1::Pathway::Pathway2 => Some(Pathway::P2),
            v1::Pathway::Pathway3 => Some(Pathway::P3),
            v1::Pathway::Unspecified => None,
        }
    }
}

word_list! {
    /// Where a discharge stands.
    DischargeStatus ("discharge status") {
        /// Ready for discharge, no search yet.
        Ready = "ready", "Ready, not yet referred";
        /// A search or referral has started.
        Searching = "searching", "Searching";
        /// Left hospital.
        Discharged = "discharged", "Discharged";
        /// No longer waiting.
        Cancelled = "cancelled", "No longer waiting";
    }
}

impl DischargeStatus {
    /// The protobuf value.
    pub fn to_proto(self) -> v1::DischargeStatus {
        match self {
            DischargeStatus::Ready => v1::DischargeStatus::Ready,
            DischargeStatus::Searching => v1::DischargeStatus::Searching,
            DischargeStatus::Discharged => v1::DischargeStatus::Discharged,
            DischargeStatus::Cancelled => v1::DischargeStatus::Cancelled,
        }
    }

    /// From a protobuf value.
    pub fn from_proto(value: i32) -> Option<Self> {
        match v1::DischargeStatus::try_from(value).ok()? {
            v1::DischargeStatus::Ready => Some(DischargeStatus::Ready),
            v1::DischargeStatus::Searching => Some(DischargeStatus::Searching),
            v1::DischargeStatus::Discharged => Some(DischargeStatus::Discharged),
            v1::DischargeStatus::Cancelled => Some(DischargeStatus::Cancelled),
            v1::DischargeStatus::Unspecified => None,
        }
    }

    /// Whether the patient still waits in hospital.
    pub fn is_waiting(self) -> bool {
        matches!(self, DischargeStatus::Ready | DischargeStatus::Searching)
    }
}

word_list! {
    /// Who pays for the care.
    Funding ("funding") {
        /// Not yet known.
        NotYetKnown = "not_yet_known", "Not yet known";
        /// The patient pays.
        SelfFunded = "self_funded", "Self-funded";
        /// The local authority.
        LocalAuthority = "local_authority", "Local authority";
        /// NHS continuing healthcare.
        NhsContinuingHealthcare = "nhs_continuing_healthcare", "NHS continuing healthcare";
    }
}

impl Funding {
    /// The protobuf value.
    pub fn to_proto(self) -> v1::Funding {
        match self {
            Funding::NotYetKnown => v1::Funding::NotYetKnown,
            Funding::SelfFunded => v1::Funding::SelfFunded,
            Funding::LocalAuthority => v1::Funding::LocalAuthority,
            Funding::NhsContinuingHealthcare => v1::Funding::NhsContinuingHealthcare,
        }
    }

    /// From a protobuf value (not yet known when unspecified).
    pub fn from_proto(value: i32) -> Self {
        match v1::Funding::try_from(value) {
            Ok(v1::Funding::SelfFunded) => Funding::SelfFunded,
            Ok(v1::Funding::LocalAuthority) => Funding::LocalAuthority,
            Ok(v1::Funding::NhsContinuingHealthcare) => Funding::NhsContinuingHealthcare,
            _ => Funding::NotYetKnown,
        }
    }
}

word_list! {
    /// Why a patient who is ready still waits: reason codes after the
    /// national discharge sitrep's.
    DelayReason ("delay reason") {
        /// Not yet known.
        NotYetKnown = "not_yet_known", "Not yet known";
        /// Awaiting an assessment.
        AwaitingAssessment = "awaiting_assessment", "Awaiting assessment";
        /// Awaiting a care-home place.
        AwaitingCareHomePlace = "awaiting_care_home_place", "Awaiting a care-home place";
        /// Awaiting a package of care at home.
        AwaitingPackageOfCare = "awaiting_package_of_care", "Awaiting a package of care";
        /// Awaiting a community or intermediate-care bed.
        AwaitingCommunityBed = "awaiting_community_bed", "Awaiting a community bed";
        /// Awaiting a funding decision.
        AwaitingFundingDecision = "awaiting_funding_decision", "Awaiting a funding decision";
        /// Awaiting equipment or adaptations at home.
        AwaitingEquipment = "awaiting_equipment", "Awaiting equipment or adaptations";
        /// Patient or family choice.
        PatientOrFamilyChoice = "patient_or_family_choice", "Patient or family choice";
        /// Housing.
        Housing = "housing", "Housing";
        /// Safeguarding or legal process.
        Safeguarding = "safeguarding", "Safeguarding or legal process";
        /// Awaiting transport.
        AwaitingTransport = "awaiting_transport", "Awaiting transport";
        /// Awaiting medication to take home.
        AwaitingMedication = "awaiting_medication", "Awaiting medication to take home";
    }
}

word_list! {
    /// Where a patient went on discharge.
    Destination ("destination") {
        /// Their usual place of residence.
        UsualResidence = "usual_residence", "Usual place of residence";
        /// A care home.
        CareHome = "care_home", "Care home";
        /// A community or intermediate-care bed.
        CommunityBed = "community_bed", "Community or intermediate-care bed";
        /// A hospice.
        Hospice = "hospice", "Hospice";
        /// Somewhere else.
        Other = "other", "Other";
    }
}
