//! Where a search centres: a postcode of the region, placed at its
//! district's centre. The districts and their centres are the region's data
//! (`postcode_districts` of `region.json`, see `pf_region`), accurate to a
//! few km, which is what a distance ranking needs; no address lookup
//! service is called.

use pf_region::Region;

pub use pf_region::{Place, normalise};

/// The place of a UK postcode (`LE2 7LX`, `le27lx`) in `region`, or `None`
/// when it is not a postcode of one of the region's districts.
pub fn place_of(region: &Region, postcode: &str) -> Option<Place> {
    region.place_of(postcode)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn postcodes_of_the_region_are_placed_and_others_are_not() {
        let llr = Region::built_in();
        assert!(place_of(&llr, "LE2 7LX").is_some());
        assert!(place_of(&llr, "le157ab").is_some());
        assert!(place_of(&llr, "NG7 2UH").is_none());
        assert!(place_of(&llr, "LE2").is_none());
        assert!(place_of(&llr, "LE2 ABC").is_none());
        assert_eq!(normalise(" le27lx "), "LE2 7LX");
        // Found by the property tests: text that is not ASCII.
        assert!(place_of(&llr, "\u{202e}\u{3dcf0}\u{23a}\u{f61bc}").is_none());
        assert_eq!(
            normalise("\u{202e}\u{3dcf0}\u{23a}"),
            "\u{202e}\u{3dcf0}\u{23a}"
        );
    }
}
