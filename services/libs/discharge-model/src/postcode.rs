//! Where a search centres: postcodes of Leicester, Leicestershire and
//! Rutland, placed at their district's centre (accurate to a few km, which
//! is what a distance ranking needs; no address lookup service is called).

use serde::{Deserialize, Serialize};

/// A place on the map.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Place {
    /// Latitude (WGS84).
    pub latitude: f64,
    /// Longitude (WGS84).
    pub longitude: f64,
}

/// LLR postcode districts and their centres.
const DISTRICTS: &[(&str, f64, f64)] = &[
    ("LE1", 52.6360, -1.1330),
    ("LE2", 52.6100, -1.1100),
    ("LE3", 52.6300, -1.1800),
    ("LE4", 52.6700, -1.1300),
    ("LE5", 52.6400, -1.0800),
    ("LE6", 52.6900, -1.2300),
    ("LE7", 52.7000, -1.0700),
    ("LE8", 52.5600, -1.0600),
    ("LE9", 52.5700, -1.2500),
    ("LE10", 52.5400, -1.3700),
    ("LE11", 52.7700, -1.2100),
    ("LE12", 52.7800, -1.2900),
    ("LE13", 52.7650, -0.8860),
    ("LE14", 52.8000, -0.9500),
    ("LE15", 52.6700, -0.7300),
    ("LE16", 52.4770, -0.9200),
    ("LE17", 52.4550, -1.2000),
    ("LE18", 52.5850, -1.1000),
    ("LE19", 52.5900, -1.2100),
    ("LE65", 52.7460, -1.4760),
    ("LE67", 52.7200, -1.3700),
];

/// The place of a UK postcode in LLR (`LE2 7LX`, `le27lx`), or `None` when
/// it is not a postcode of Leicester, Leicestershire or Rutland.
pub fn place_of(postcode: &str) -> Option<Place> {
    let compact: String = postcode
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect::<String>()
        .to_ascii_uppercase();
    // The inward code is the last three characters: digit, letter, letter.
    if compact.len() < 5 || compact.len() > 7 || !compact.bytes().all(|b| b.is_ascii_alphanumeric())
    {
        return None;
    }
    let (outward, inward) = compact.split_at(compact.len() - 3);
    let mut inward = inward.chars();
    let inward_ok = inward.next().is_some_and(|c| c.is_ascii_digit())
        && inward.all(|c| c.is_ascii_alphabetic());
    if !inward_ok {
        return None;
    }
    DISTRICTS
        .iter()
        .find(|(district, _, _)| *district == outward)
        .map(|(_, latitude, longitude)| Place {
            latitude: *latitude,
            longitude: *longitude,
        })
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

    #[test]
    fn llr_postcodes_are_placed_and_others_are_not() {
        assert!(place_of("LE2 7LX").is_some());
        assert!(place_of("le157ab").is_some());
        assert!(place_of("NG7 2UH").is_none());
        assert!(place_of("LE2").is_none());
        assert!(place_of("LE2 ABC").is_none());
        assert_eq!(normalise(" le27lx "), "LE2 7LX");
        // Found by the property tests: text that is not ASCII.
        assert!(place_of("\u{202e}\u{3dcf0}\u{23a}\u{f61bc}").is_none());
        assert_eq!(
            normalise("\u{202e}\u{3dcf0}\u{23a}"),
            "\u{202e}\u{3dcf0}\u{23a}"
        );
    }
}
