//! `region.json`: the ICS, its localities and the postcode districts in each.

use std::collections::HashSet;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::RegionError;

/// The Integrated Care System the deployment serves.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ics {
    /// ODS code of the Integrated Care Board (`QK1`).
    pub code: String,
    /// Name as people say it ("Leicester, Leicestershire and Rutland").
    pub name: String,
    /// Short name, used as the organisation of events the system itself
    /// produces (OPEL levels): "LLR ICB".
    pub short_name: String,
}

/// The code of a locality: lower-case letters, digits and `_`
/// (`leicester_city`). Used in events, Redis keys, URLs and the wall.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct LocalityCode(String);

/// Text that is not a locality code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a locality code (lower-case letters, digits and _, at most 40)")]
pub struct BadLocalityCode(pub String);

impl LocalityCode {
    /// Parses a code.
    pub fn parse(text: &str) -> Result<Self, BadLocalityCode> {
        let ok = !text.is_empty()
            && text.len() <= 40
            && text
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
        if ok {
            Ok(Self(text.to_owned()))
        } else {
            Err(BadLocalityCode(text.to_owned()))
        }
    }

    /// The code.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for LocalityCode {
    type Error = BadLocalityCode;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<LocalityCode> for String {
    fn from(code: LocalityCode) -> Self {
        code.0
    }
}

impl fmt::Display for LocalityCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::str::FromStr for LocalityCode {
    type Err = BadLocalityCode;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::parse(text)
    }
}

/// A place on the map.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Place {
    /// Latitude (WGS84).
    pub latitude: f64,
    /// Longitude (WGS84).
    pub longitude: f64,
}

/// A postcode district (the outward code, `LE2`) and its centre.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct District {
    /// The outward code, upper case.
    pub district: String,
    /// Latitude of its centre.
    pub latitude: f64,
    /// Longitude of its centre.
    pub longitude: f64,
}

/// A locality (usually a local authority area) and its postcode districts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Locality {
    /// Its code.
    pub code: LocalityCode,
    /// Its name ("Leicester City").
    pub name: String,
    /// The postcode districts placed in it (each in one locality only).
    #[serde(default)]
    pub postcode_districts: Vec<District>,
}

/// A region: `region.json` of a data set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Region {
    /// The ICS.
    pub ics: Ics,
    /// A postcode of the region to show in messages ("like LE2 7LX").
    pub example_postcode: String,
    /// Its localities, in the order the wall shows them.
    pub localities: Vec<Locality>,
}

/// Latitudes and longitudes of the United Kingdom and its islands.
const UK_LATITUDE: std::ops::Range<f64> = 49.0..61.0;
const UK_LONGITUDE: std::ops::Range<f64> = -9.0..2.5;

impl Region {
    /// Reads `region.json` (named `file` in errors) and checks it: an ICS
    /// code and name, at least one locality, no code twice, districts of a
    /// postcode's shape in one locality only and placed in the UK, an
    /// example postcode of the region.
    pub fn from_json(file: &str, text: &str) -> Result<Self, RegionError> {
        let region: Region = serde_json::from_str(text).map_err(|cause| RegionError::Format {
            file: file.to_owned(),
            cause,
        })?;
        let invalid = |item: &str, problem: &str| RegionError::invalid(file, item, problem);
        if region.ics.code.trim().is_empty() || region.ics.name.trim().is_empty() {
            return Err(invalid("ics", "needs a code and a name"));
        }
        if region.localities.is_empty() {
            return Err(invalid("localities", "the region has no locality"));
        }
        let mut codes = HashSet::new();
        let mut districts = HashSet::new();
        for locality in &region.localities {
            let item = format!("locality {}", locality.code);
            if !codes.insert(&locality.code) {
                return Err(invalid(&item, "is listed twice"));
            }
            if locality.name.trim().is_empty() {
                return Err(invalid(&item, "has no name"));
            }
            for district in &locality.postcode_districts {
                let item = format!("{item}: postcode district {}", district.district);
                if !is_outward_code(&district.district) {
                    return Err(invalid(
                        &item,
                        "is not a postcode district (an outward code like LE2, upper case)",
                    ));
                }
                if !districts.insert(district.district.as_str()) {
                    return Err(invalid(
                        &item,
                        "is placed in two localities or listed twice",
                    ));
                }
                if !UK_LATITUDE.contains(&district.latitude)
                    || !UK_LONGITUDE.contains(&district.longitude)
                {
                    return Err(invalid(&item, "lies outside the UK"));
                }
            }
        }
        if region.place_of(&region.example_postcode).is_none() {
            return Err(invalid(
                "example_postcode",
                "is not a postcode in one of the region's postcode districts",
            ));
        }
        Ok(region)
    }

    /// The locality with this code.
    pub fn locality(&self, code: &str) -> Option<&Locality> {
        self.localities.iter().find(|l| l.code.as_str() == code)
    }

    /// The locality with this code or, for catalogues written before
    /// localities were data, this name.
    pub fn locality_by_code_or_name(&self, text: &str) -> Option<&Locality> {
        self.locality(text)
            .or_else(|| self.localities.iter().find(|l| l.name == text))
    }

    /// The name of a locality, or its code when the region does not know it.
    pub fn locality_name<'a>(&'a self, code: &'a str) -> &'a str {
        self.locality(code).map_or(code, |l| l.name.as_str())
    }

    /// The locality and district centre of a postcode (`LE2 7LX`, `le27lx`),
    /// or `None` when it is not a full postcode of one of the region's
    /// districts.
    pub fn district_of(&self, postcode: &str) -> Option<(&Locality, &District)> {
        let outward = outward_code(postcode)?;
        self.localities.iter().find_map(|locality| {
            locality
                .postcode_districts
                .iter()
                .find(|d| d.district == outward)
                .map(|d| (locality, d))
        })
    }

    /// Where a postcode of the region lies (its district's centre, accurate
    /// to a few km: enough to rank by distance, no address lookup), or
    /// `None` when it is not a postcode of the region.
    pub fn place_of(&self, postcode: &str) -> Option<Place> {
        self.district_of(postcode).map(|(_, d)| Place {
            latitude: d.latitude,
            longitude: d.longitude,
        })
    }
}

/// The outward code of a full postcode, upper case, or `None` when the text
/// is not a postcode's shape (the inward code is digit, letter, letter).
fn outward_code(postcode: &str) -> Option<String> {
    let compact: String = postcode
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect::<String>()
        .to_ascii_uppercase();
    if compact.len() < 5 || compact.len() > 7 || !compact.bytes().all(|b| b.is_ascii_alphanumeric())
    {
        return None;
    }
    let (outward, inward) = compact.split_at(compact.len() - 3);
    let mut inward = inward.chars();
    let inward_ok = inward.next().is_some_and(|c| c.is_ascii_digit())
        && inward.all(|c| c.is_ascii_alphabetic());
    inward_ok.then(|| outward.to_owned())
}

/// Whether text is an outward code: a letter, then 1 to 3 upper-case
/// letters or digits.
fn is_outward_code(text: &str) -> bool {
    (2..=4).contains(&text.len())
        && text.bytes().next().is_some_and(|b| b.is_ascii_uppercase())
        && text
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
}

/// The normal written form of a postcode (`le27lx` → `LE2 7LX`).
pub fn normalise(postcode: &str) -> String {
    let compact: String = postcode
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect::<String>()
        .to_ascii_uppercase();
    if compact.len() < 4 || !compact.is_ascii() {
        return compact;
    }
    let (outward, inward) = compact.split_at(compact.len() - 3);
    format!("{outward} {inward}")
}

#[cfg(test)]
mod tests {
    use super::*;

    const SMALL: &str = r#"{
      "ics": { "code": "QZZ", "name": "Test Shire", "short_name": "TS ICB" },
      "example_postcode": "ZZ1 1AA",
      "localities": [
        { "code": "north", "name": "North", "postcode_districts": [
          { "district": "ZZ1", "latitude": 54.0, "longitude": -2.0 } ] },
        { "code": "south", "name": "South", "postcode_districts": [
          { "district": "ZZ2", "latitude": 53.0, "longitude": -2.0 } ] }
      ]
    }"#;

    fn problem(text: &str) -> String {
        Region::from_json("region.json", text)
            .expect_err("refused")
            .to_string()
    }

    #[test]
    fn postcodes_are_placed_in_their_district_and_locality() {
        let region = Region::from_json("region.json", SMALL).expect("valid");
        let (locality, _) = region.district_of("zz27ab").expect("placed");
        assert_eq!(locality.code.as_str(), "south");
        assert_eq!(
            region.place_of("ZZ1 1AA"),
            Some(Place {
                latitude: 54.0,
                longitude: -2.0
            })
        );
        assert!(region.place_of("LE2 7LX").is_none());
        assert!(region.place_of("ZZ1").is_none());
        assert!(region.place_of("ZZ1 ABC").is_none());
        assert_eq!(region.locality_name("north"), "North");
        assert_eq!(region.locality_name("east"), "east");
        assert_eq!(normalise(" zz11aa "), "ZZ1 1AA");
    }

    #[test]
    fn a_region_that_does_not_hang_together_is_refused_naming_the_item() {
        let twice = SMALL.replace("\"code\": \"south\"", "\"code\": \"north\"");
        assert_eq!(
            problem(&twice),
            "region.json: locality north: is listed twice"
        );
        let district_twice = SMALL.replace("\"ZZ2\"", "\"ZZ1\"");
        assert!(
            problem(&district_twice)
                .contains("locality south: postcode district ZZ1: is placed in two localities"),
            "{}",
            problem(&district_twice)
        );
        let bad_code = SMALL.replace("\"code\": \"south\"", "\"code\": \"South Side\"");
        assert!(problem(&bad_code).contains("not a locality code"));
        let abroad = SMALL.replace("\"latitude\": 53.0", "\"latitude\": 40.0");
        assert!(problem(&abroad).contains("lies outside the UK"));
        let example = SMALL.replace("ZZ1 1AA", "NG7 2UH");
        assert!(problem(&example).starts_with("region.json: example_postcode:"));
        let none = r#"{ "ics": { "code": "Q", "name": "N", "short_name": "S" },
            "example_postcode": "ZZ1 1AA", "localities": [] }"#;
        assert!(problem(none).contains("no locality"));
    }

    #[test]
    fn locality_codes_are_plain_words() {
        assert!(LocalityCode::parse("leicester_city").is_ok());
        for bad in ["", "Leicester City", "north-east", "é"] {
            assert!(LocalityCode::parse(bad).is_err(), "{bad}");
        }
    }
}
