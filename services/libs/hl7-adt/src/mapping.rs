//! Which feed a message comes from, and where its locations are in the
//! catalogue.
//!
//! A feeds file (JSON) lists each trust's feed: which sending application and
//! facility (MSH-3/MSH-4) it is, the ODS code of the trust, and the rules that
//! turn a `PV1-3` location into a catalogue site, ward and bed. Rules are
//! tried in order; the first whose patterns all match wins; `*` matches any
//! run of characters and `?` one. A feed may name a default rule; a location
//! no rule matches is refused, never guessed.
//!
//! ```json
//! { "feeds": [ {
//!     "name": "uhl-epic", "sending_application": "EPIC", "sending_facility": "RWE",
//!     "organisation": "RWE",
//!     "locations": [
//!       { "facility": "RWEAA", "ward": "WD15", "site": "RWEAA" },
//!       { "ward": "LRI-CARD*", "site": "RWEAA", "catalogue_ward": "WD20", "bed_prefix": "B" }
//!     ],
//!     "default": null,
//!     "ed_attendances": false
//! } ] }
//! ```
//!
//! The local ward is `PV1-3.1` (point of care), or `PV1-3.9` (description)
//! when the point of care is empty; the facility is `PV1-3.4`, or `PV1-3.11`
//! when empty; the local bed is `PV1-3.3`.
//!
//! `ed_attendances: true` says the trust's ED attendances come through this
//! feed (see [`crate::ed`]); a location of an ED visit then needs a rule
//! that places it at a site (its ward need not be in the catalogue).

use serde::Deserialize;

use crate::message::{Header, Location};

/// The feeds file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum FeedsFileError {
    /// Not JSON of the right shape.
    #[error("the feeds file is not valid: {0}")]
    Format(#[from] serde_json::Error),
    /// Two feeds for the same sender.
    #[error("the feeds file lists sender {0} twice")]
    Duplicate(String),
    /// A rule that can never give a usable location.
    #[error("feed {feed}: {reason}")]
    Rule {
        /// Which feed.
        feed: String,
        /// What is wrong.
        reason: String,
    },
}

/// The feeds file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeedsFile {
    /// One entry per sending system.
    pub feeds: Vec<Feed>,
}

/// One trust's feed.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Feed {
    /// A short name used in metrics, logs and keys (`uhl-epic`).
    pub name: String,
    /// MSH-3 (pattern).
    #[serde(default = "any")]
    pub sending_application: String,
    /// MSH-4 (pattern).
    pub sending_facility: String,
    /// The trust's ODS organisation code.
    pub organisation: String,
    /// Location rules, tried in order.
    #[serde(default)]
    pub locations: Vec<LocationRule>,
    /// Used when no rule matches; without it, unmatched locations are refused.
    #[serde(default)]
    pub default: Option<LocationRule>,
    /// Whether the trust's ED attendances come through this feed (its
    /// patient class `E` visits, see [`crate::ed`]) rather than through
    /// the urgent-care API from another system: one source per trust, so
    /// no attendance is counted twice. Default `false`.
    #[serde(default)]
    pub ed_attendances: bool,
}

fn any() -> String {
    "*".into()
}

/// One location rule: patterns on the location as sent, and where it is in
/// the catalogue.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LocationRule {
    /// Pattern on the facility (PV1-3.4, else PV1-3.11); absent: any.
    #[serde(default)]
    pub facility: Option<String>,
    /// Pattern on the local ward (PV1-3.1, else PV1-3.9); absent: any.
    #[serde(default)]
    pub ward: Option<String>,
    /// Pattern on the local bed (PV1-3.3); absent: any.
    #[serde(default)]
    pub bed: Option<String>,
    /// Catalogue site (ODS site code).
    pub site: String,
    /// Catalogue ward; absent: the local ward code as sent.
    #[serde(default)]
    pub catalogue_ward: Option<String>,
    /// Catalogue bed; absent: the local bed code as sent, after `bed_prefix`.
    #[serde(default)]
    pub catalogue_bed: Option<String>,
    /// Put before a local bed code that does not already start with it
    /// (`"B"`: local `07` becomes `B07`).
    #[serde(default)]
    pub bed_prefix: Option<String>,
}

/// A location in catalogue terms. `bed` is `None` when the message names a
/// ward but no bed (nothing to change at bed level).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MappedLocation {
    /// Site code.
    pub site: String,
    /// Ward code.
    pub ward: String,
    /// Bed code.
    pub bed: Option<String>,
}

/// A location that no rule of the feed maps.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("location {shown} is not in feed {feed}'s location mapping")]
pub struct UnknownLocation {
    /// The feed.
    pub feed: String,
    /// The location as sent, for the reason.
    pub shown: String,
}

impl FeedsFile {
    /// Reads and checks a feeds file.
    pub fn from_json(json: &str) -> Result<FeedsFile, FeedsFileError> {
        let file: FeedsFile = serde_json::from_str(json)?;
        let mut seen = std::collections::HashSet::new();
        for feed in &file.feeds {
            let key = format!("{}/{}", feed.sending_application, feed.sending_facility);
            if !seen.insert(key.clone()) || feed.name.is_empty() {
                return Err(FeedsFileError::Duplicate(key));
            }
            for rule in feed.locations.iter().chain(feed.default.iter()) {
                if rule.site.is_empty() {
                    return Err(FeedsFileError::Rule {
                        feed: feed.name.clone(),
                        reason: "a location rule has no site".into(),
                    });
                }
            }
        }
        Ok(file)
    }

    /// The feed a message's header comes from.
    pub fn feed_for(&self, header: &Header) -> Option<&Feed> {
        self.feeds.iter().find(|f| {
            matches(&f.sending_application, &header.sending_application)
                && matches(&f.sending_facility, &header.sending_facility)
        })
    }
}

impl Feed {
    /// Maps a location as sent to the catalogue, or says it is unknown.
    pub fn map(&self, location: &Location) -> Result<MappedLocation, UnknownLocation> {
        let ward = if location.point_of_care.is_empty() {
            &location.description
        } else {
            &location.point_of_care
        };
        let facility = if location.facility.is_empty() {
            &location.authority
        } else {
            &location.facility
        };
        let bed = &location.bed;
        let applies = |rule: &LocationRule| {
            rule.facility
                .as_deref()
                .is_none_or(|p| matches(p, facility))
                && rule.ward.as_deref().is_none_or(|p| matches(p, ward))
                && rule.bed.as_deref().is_none_or(|p| matches(p, bed))
        };
        let rule = self
            .locations
            .iter()
            .find(|r| applies(r))
            .or(self.default.as_ref())
            .ok_or_else(|| UnknownLocation {
                feed: self.name.clone(),
                shown: format!(
                    "ward `{ward}`, room `{}`, bed `{bed}`, facility `{facility}`",
                    location.room
                ),
            })?;
        let catalogue_ward = rule.catalogue_ward.clone().unwrap_or_else(|| ward.clone());
        if catalogue_ward.is_empty() {
            return Err(UnknownLocation {
                feed: self.name.clone(),
                shown: "with no ward (PV1-3.1 and PV1-3.9 empty)".into(),
            });
        }
        let catalogue_bed = match (&rule.catalogue_bed, bed.is_empty()) {
            (Some(fixed), _) => Some(fixed.clone()),
            (None, true) => None,
            (None, false) => Some(match &rule.bed_prefix {
                Some(prefix) if !bed.starts_with(prefix.as_str()) => format!("{prefix}{bed}"),
                _ => bed.clone(),
            }),
        };
        Ok(MappedLocation {
            site: rule.site.clone(),
            ward: catalogue_ward,
            bed: catalogue_bed,
        })
    }
}

/// Whether `text` matches `pattern` (`*` any run, `?` one character).
pub fn matches(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = r#"{ "feeds": [
      { "name": "uhl-epic", "sending_application": "EPIC", "sending_facility": "RWE",
        "organisation": "RWE",
        "locations": [
          { "facility": "RWEAA", "ward": "WD15", "site": "RWEAA" },
          { "ward": "LRI-CARD*", "site": "RWEAA", "catalogue_ward": "WD20", "bed_prefix": "B" },
          { "ward": "THEATRE?", "bed": "X*", "site": "RWEAA", "catalogue_ward": "WD01", "catalogue_bed": "E01" }
        ] },
      { "name": "lpt-careflow", "sending_facility": "RT5*", "organisation": "RT5",
        "locations": [],
        "default": { "site": "RT5KA", "catalogue_ward": "WD01" } }
    ] }"#;

    fn at(ward: &str, bed: &str, facility: &str) -> Location {
        Location {
            point_of_care: ward.into(),
            bed: bed.into(),
            facility: facility.into(),
            ..Location::default()
        }
    }

    fn mapped(site: &str, ward: &str, bed: Option<&str>) -> MappedLocation {
        MappedLocation {
            site: site.into(),
            ward: ward.into(),
            bed: bed.map(Into::into),
        }
    }

    #[test]
    fn rules_are_tried_in_order_with_wildcards_and_a_default() {
        let file = FeedsFile::from_json(FILE).expect("valid");
        let epic = &file.feeds[0];
        assert_eq!(
            epic.map(&at("WD15", "B03", "RWEAA")),
            Ok(mapped("RWEAA", "WD15", Some("B03")))
        );
        assert_eq!(
            epic.map(&at("LRI-CARD2", "07", "")),
            Ok(mapped("RWEAA", "WD20", Some("B07")))
        );
        assert_eq!(
            epic.map(&at("LRI-CARD2", "B07", "")),
            Ok(mapped("RWEAA", "WD20", Some("B07")))
        );
        assert_eq!(
            epic.map(&at("THEATRE3", "X9", "")),
            Ok(mapped("RWEAA", "WD01", Some("E01")))
        );
        assert_eq!(
            epic.map(&at("WD15", "", "RWEAA")),
            Ok(mapped("RWEAA", "WD15", None))
        );
        let refused = epic
            .map(&at("WD15", "B03", "RWE99"))
            .expect_err("other facility");
        assert_eq!(
            refused.to_string(),
            "location ward `WD15`, room ``, bed `B03`, facility `RWE99` is not in feed uhl-epic's location mapping"
        );
        let careflow = &file.feeds[1];
        assert_eq!(
            careflow.map(&at("ANY", "B02", "")),
            Ok(mapped("RT5KA", "WD01", Some("B02")))
        );
    }

    #[test]
    fn the_ward_may_come_from_the_description_and_the_site_from_the_authority() {
        let file = FeedsFile::from_json(FILE).expect("valid");
        let location = Location {
            description: "WD15".into(),
            authority: "RWEAA".into(),
            bed: "B01".into(),
            ..Location::default()
        };
        assert_eq!(
            file.feeds[0].map(&location),
            Ok(mapped("RWEAA", "WD15", Some("B01")))
        );
    }

    #[test]
    fn feeds_are_found_by_sender() {
        let file = FeedsFile::from_json(FILE).expect("valid");
        let mut header = crate::message::parse(
            b"MSH|^~\\&|CAREFLOW|RT5KA|PF|PF|20260115093000||ADT^A01|1|P|2.4\rPID|1\r",
        )
        .expect("parses")
        .header;
        assert_eq!(
            file.feed_for(&header).map(|f| f.name.as_str()),
            Some("lpt-careflow")
        );
        header.sending_facility = "RXX".into();
        assert!(file.feed_for(&header).is_none());
    }

    #[test]
    fn a_feed_carries_ed_attendances_only_when_it_says_so() {
        let file = FeedsFile::from_json(FILE).expect("valid");
        assert!(file.feeds.iter().all(|f| !f.ed_attendances));
        let file = FeedsFile::from_json(
            r#"{"feeds":[{"name":"a","sending_facility":"X","organisation":"X","ed_attendances":true}]}"#,
        )
        .expect("valid");
        assert!(file.feeds[0].ed_attendances);
        assert!(FeedsFile::from_json(
            r#"{"feeds":[{"name":"a","sending_facility":"X","organisation":"X","ed_attendances":"yes"}]}"#,
        )
        .is_err());
    }

    #[test]
    fn bad_files_are_refused() {
        assert!(FeedsFile::from_json("{}").is_err());
        assert!(FeedsFile::from_json(r#"{"feeds":[{"name":"a","sending_facility":"X","organisation":"X","locations":[{"site":""}]}]}"#).is_err());
        assert!(FeedsFile::from_json(r#"{"feeds":[{"name":"a","sending_facility":"X","organisation":"X"},{"name":"b","sending_facility":"X","organisation":"X"}]}"#).is_err());
    }

    #[test]
    fn wildcards() {
        assert!(matches("*", ""));
        assert!(matches("W*5", "WD15"));
        assert!(matches("W?15", "WD15"));
        assert!(!matches("W?15", "WDD15"));
        assert!(matches("*CARD*", "LRI-CARD2"));
        assert!(!matches("WD15", "WD150"));
    }
}
