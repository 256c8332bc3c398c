//! Reading care homes from a CSV in the shape of CQC's download of active
//! locations (the "care directory with filters"): one row a location, with
//! columns such as `Location ID`, `Location Name`, `Care homes beds`,
//! `Location Postal Code`, the `Service type - …` and `Service user band
//! - …` flags (`Y` when it applies) and `Location Local Authority`.
//!
//! Every row is checked on its own and comes back as a home's registration
//! or the reason it was refused, in words a person understands; rows for
//! places outside the region, and locations that are not care homes, are
//! counted and left out (a download for a whole county is normal). Only a
//! file that cannot be read as such a CSV at all is refused whole.
//!
//! Categories come from the flags: a care home service with nursing offers
//! `nursing`, one without nursing `residential`; the dementia, learning
//! disability and mental health bands add their variant of each, and the
//! physical disability band `young_physically_disabled`. CQC does not know
//! the short-stay categories: a system administrator sets those on the
//! register's page (an import keeps them).

use std::collections::{BTreeSet, HashMap};

use pf_access::CqcLocationId;
use pf_region::Region;

use crate::category::CareCategory;
use crate::phone::PhoneNumber;
use crate::record::Registration;

/// The largest file read (4 MB: a region's care homes are a few hundred
/// rows; the whole of England's active locations are not meant for one
/// region's register).
pub const MAX_BYTES: usize = 4 * 1024 * 1024;

/// The most beds a home may be registered for (the largest homes in
/// England have about 300).
pub const MAX_BEDS: u32 = 1000;

/// The file cannot be read as a CQC download at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ImportError {
    /// Empty.
    #[error("The file is empty. Choose the CSV file you downloaded from CQC.")]
    Empty,
    /// Too large.
    #[error(
        "The file is larger than 4 MB. Filter the CQC download to your region's care homes and try again."
    )]
    TooLarge,
    /// Not text or not CSV.
    #[error(
        "The file could not be read as a CSV file ({0}). Choose the CSV file you downloaded from CQC."
    )]
    NotCsv(String),
    /// A column every row needs is missing.
    #[error(
        "The file has no \"{0}\" column. Use the CQC download of care homes, with its first row of column names."
    )]
    MissingColumn(&'static str),
}

/// What became of one row.
#[derive(Debug, Clone, PartialEq)]
pub enum RowOutcome {
    /// A care home of the region, as the register would hold it.
    Home(Box<Registration>),
    /// Refused, and why.
    Refused(String),
}

/// One row of the file.
#[derive(Debug, Clone, PartialEq)]
pub struct ImportRow {
    /// Its line in the file (the column names are line 1).
    pub line: usize,
    /// The location id as written (for the report).
    pub location_id: String,
    /// The name as written (for the report).
    pub name: String,
    /// The home, or why not.
    pub outcome: RowOutcome,
    /// Things left out of an accepted row, in words (a telephone number
    /// that is not one).
    pub notes: Vec<String>,
}

/// A whole file, row by row.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ParsedImport {
    /// The rows about care homes of the region, accepted or refused, in
    /// file order.
    pub rows: Vec<ImportRow>,
    /// Rows left out because the place is outside the region.
    pub outside_region: usize,
    /// Rows left out because the location is not a care home.
    pub not_care_homes: usize,
}

impl ParsedImport {
    /// The registrations of the accepted rows.
    pub fn homes(&self) -> impl Iterator<Item = &Registration> {
        self.rows.iter().filter_map(|row| match &row.outcome {
            RowOutcome::Home(home) => Some(home.as_ref()),
            RowOutcome::Refused(_) => None,
        })
    }
}

/// The columns, found by name (case and spacing ignored).
struct Columns {
    id: usize,
    name: usize,
    beds: usize,
    postcode: usize,
    address: Vec<usize>,
    phone: Option<usize>,
    latitude: Option<usize>,
    longitude: Option<usize>,
    care_home: Option<usize>,
    with_nursing: Option<usize>,
    without_nursing: Option<usize>,
    dementia: Option<usize>,
    learning: Option<usize>,
    mental_health: Option<usize>,
    physical: Option<usize>,
    /// A single column listing the service types in words (the care
    /// directory's `Service types`), when there are no flag columns.
    service_types: Option<usize>,
    /// A single column listing specialisms in words.
    specialisms: Option<usize>,
}

fn key(name: &str) -> String {
    name.trim()
        .trim_start_matches('\u{feff}')
        .to_ascii_lowercase()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

impl Columns {
    fn find(headers: &csv::StringRecord) -> Result<Self, ImportError> {
        let names: Vec<String> = headers.iter().map(key).collect();
        let exact = |wanted: &[&str]| names.iter().position(|n| wanted.iter().any(|w| n == w));
        let starting = |prefix: &str| names.iter().position(|n| n.starts_with(prefix));
        let required = |wanted: &[&str], label: &'static str| {
            exact(wanted).ok_or(ImportError::MissingColumn(label))
        };
        Ok(Self {
            id: required(
                &[
                    "location id",
                    "cqc location id (for office use only)",
                    "cqc location id",
                ],
                "Location ID",
            )?,
            name: required(&["location name", "name"], "Location Name")?,
            beds: required(
                &["care homes beds", "care home beds", "beds"],
                "Care homes beds",
            )?,
            postcode: required(
                &["location postal code", "postcode"],
                "Location Postal Code",
            )?,
            address: [
                "location street address",
                "location address line 2",
                "location city",
                "address",
            ]
            .iter()
            .filter_map(|w| exact(&[w]))
            .collect(),
            phone: exact(&["location telephone number", "phone number", "telephone"]),
            latitude: exact(&["location latitude", "latitude"]),
            longitude: exact(&["location longitude", "longitude"]),
            care_home: exact(&["care home?", "care home"]),
            with_nursing: starting("service type - care home service with nursing"),
            without_nursing: starting("service type - care home service without nursing"),
            dementia: starting("service user band - dementia"),
            learning: starting("service user band - learning disabilit"),
            mental_health: starting("service user band - mental health"),
            physical: starting("service user band - physical disabilit"),
            service_types: exact(&["service types", "service type"]),
            specialisms: exact(&["specialisms/services", "specialisms"]),
        })
    }
}

/// Reads a CQC download, row by row, against `region`.
pub fn parse(bytes: &[u8], region: &Region) -> Result<ParsedImport, ImportError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ImportError::Empty);
    }
    if bytes.len() > MAX_BYTES {
        return Err(ImportError::TooLarge);
    }
    let text = std::str::from_utf8(bytes)
        .map_err(|_| ImportError::NotCsv("it is not text in UTF-8".to_owned()))?;
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let headers = reader
        .headers()
        .map_err(|e| ImportError::NotCsv(e.to_string()))?
        .clone();
    let columns = Columns::find(&headers)?;
    let mut parsed = ParsedImport::default();
    let mut seen: HashMap<String, usize> = HashMap::new();
    for (index, record) in reader.records().enumerate() {
        let line = index + 2;
        let record = match record {
            Ok(record) => record,
            Err(err) => {
                parsed.rows.push(ImportRow {
                    line,
                    location_id: String::new(),
                    name: String::new(),
                    outcome: RowOutcome::Refused(format!("This line could not be read ({err}).")),
                    notes: Vec::new(),
                });
                continue;
            }
        };
        if record.iter().all(str::is_empty) {
            continue;
        }
        let cell = |i: usize| record.get(i).unwrap_or_default();
        let flag = |i: Option<usize>| i.is_some_and(|i| is_yes(cell(i)));
        let words = |i: Option<usize>| i.map(|i| cell(i).to_ascii_lowercase()).unwrap_or_default();
        if columns
            .care_home
            .is_some_and(|i| cell(i).eq_ignore_ascii_case("n"))
        {
            parsed.not_care_homes += 1;
            continue;
        }
        let types = words(columns.service_types);
        let specialisms = words(columns.specialisms);
        let nursing =
            flag(columns.with_nursing) || types.contains("care home service with nursing");
        let residential =
            flag(columns.without_nursing) || types.contains("care home service without nursing");
        if !nursing && !residential {
            parsed.not_care_homes += 1;
            continue;
        }
        let location_id = cell(columns.id).to_owned();
        let name = cell(columns.name).to_owned();
        let postcode = cell(columns.postcode);
        let Some((locality, district)) = region.district_of(postcode) else {
            if looks_like_postcode(postcode) {
                parsed.outside_region += 1;
                continue;
            }
            parsed.rows.push(refused(
                line,
                &location_id,
                &name,
                if postcode.is_empty() {
                    "The postcode is missing.".to_owned()
                } else {
                    format!("\"{postcode}\" is not a postcode.")
                },
            ));
            continue;
        };
        let mut problems = Vec::new();
        let cqc = match CqcLocationId::parse(&location_id) {
            Ok(cqc) => Some(cqc),
            Err(_) => {
                problems.push(if location_id.is_empty() {
                    "The Location ID is missing.".to_owned()
                } else {
                    format!(
                        "\"{location_id}\" is not a CQC location ID (they look like 1-123456789)."
                    )
                });
                None
            }
        };
        if let Some(first) = seen.get(&location_id) {
            problems.push(format!(
                "Location ID {location_id} is also on line {first}: each home can be in the file once."
            ));
        } else if cqc.is_some() {
            seen.insert(location_id.clone(), line);
        }
        if name.is_empty() {
            problems.push("The Location Name is missing.".to_owned());
        }
        let beds_text = cell(columns.beds);
        let beds = match beds_text.parse::<u32>() {
            Ok(beds) if (1..=MAX_BEDS).contains(&beds) => Some(beds),
            Ok(_) => {
                problems.push(format!(
                    "Care homes beds is {beds_text}: a care home has between 1 and {MAX_BEDS} beds."
                ));
                None
            }
            Err(_) => {
                problems.push(if beds_text.is_empty() {
                    "Care homes beds is missing.".to_owned()
                } else {
                    format!("Care homes beds is \"{beds_text}\", which is not a whole number.")
                });
                None
            }
        };
        let (Some(cqc), Some(beds), true) = (cqc, beds, problems.is_empty()) else {
            parsed
                .rows
                .push(refused(line, &location_id, &name, problems.join(" ")));
            continue;
        };
        let mut categories = BTreeSet::new();
        let dementia = flag(columns.dementia) || specialisms.contains("dementia");
        let learning = flag(columns.learning) || specialisms.contains("learning disabilit");
        let mental = flag(columns.mental_health) || specialisms.contains("mental health");
        let physical = flag(columns.physical) || specialisms.contains("physical disabilit");
        if residential {
            categories.insert(CareCategory::Residential);
            if dementia {
                categories.insert(CareCategory::ResidentialDementia);
            }
            if learning {
                categories.insert(CareCategory::LearningDisabilityResidential);
            }
            if mental {
                categories.insert(CareCategory::MentalHealthResidential);
            }
        }
        if nursing {
            categories.insert(CareCategory::Nursing);
            if dementia {
                categories.insert(CareCategory::NursingDementia);
            }
            if learning {
                categories.insert(CareCategory::LearningDisabilityNursing);
            }
            if mental {
                categories.insert(CareCategory::MentalHealthNursing);
            }
        }
        if physical {
            categories.insert(CareCategory::YoungPhysicallyDisabled);
        }
        let mut notes = Vec::new();
        let phone = match columns.phone.map(&cell).unwrap_or_default() {
            "" => None,
            text => match PhoneNumber::parse(text) {
                Ok(phone) => Some(phone),
                Err(_) => {
                    notes.push(format!(
                        "The telephone number \"{text}\" is not a UK number and was left out."
                    ));
                    None
                }
            },
        };
        let coordinate = |i: Option<usize>| i.and_then(|i| cell(i).parse::<f64>().ok());
        let (latitude, longitude) =
            match (coordinate(columns.latitude), coordinate(columns.longitude)) {
                (Some(lat), Some(lon))
                    if (49.0..61.0).contains(&lat) && (-9.0..2.5).contains(&lon) =>
                {
                    (lat, lon)
                }
                _ => (district.latitude, district.longitude),
            };
        let address = columns
            .address
            .iter()
            .map(|i| cell(*i))
            .filter(|part| !part.is_empty())
            .collect::<Vec<_>>()
            .join(", ");
        parsed.rows.push(ImportRow {
            line,
            location_id,
            name: name.clone(),
            outcome: RowOutcome::Home(Box::new(Registration {
                cqc_location_id: cqc,
                name,
                address,
                postcode: pf_region::normalise(postcode),
                latitude,
                longitude,
                locality: locality.code.clone(),
                registered_beds: beds,
                categories: CareCategory::ALL
                    .iter()
                    .copied()
                    .filter(|c| categories.contains(c))
                    .collect(),
                phone,
            })),
            notes,
        });
    }
    Ok(parsed)
}

fn refused(line: usize, location_id: &str, name: &str, reason: String) -> ImportRow {
    ImportRow {
        line,
        location_id: location_id.to_owned(),
        name: name.to_owned(),
        outcome: RowOutcome::Refused(reason),
        notes: Vec::new(),
    }
}

fn is_yes(value: &str) -> bool {
    matches!(
        value.trim().to_ascii_lowercase().as_str(),
        "y" | "yes" | "true" | "1"
    )
}

/// A UK postcode's shape: an outward code of 2 to 4 letters and digits
/// starting with a letter, then digit, letter, letter.
fn looks_like_postcode(text: &str) -> bool {
    let compact: String = text
        .split_whitespace()
        .collect::<String>()
        .to_ascii_uppercase();
    let bytes = compact.as_bytes();
    (5..=7).contains(&bytes.len())
        && bytes[0].is_ascii_alphabetic()
        && bytes.iter().all(u8::is_ascii_alphanumeric)
        && bytes[bytes.len() - 3].is_ascii_digit()
        && bytes[bytes.len() - 2..].iter().all(u8::is_ascii_alphabetic)
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADER: &str = "Location ID,Location Name,Care homes beds,Location Street Address,Location City,Location Postal Code,Location Telephone Number,Location Local Authority,Care home?,Service type - Care home service with nursing,Service type - Care home service without nursing,Service user band - Dementia,Service user band - Learning disabilities or autistic spectrum disorder,Service user band - Mental health,Service user band - Physical disability\n";

    fn region() -> Region {
        pf_region::RegionFiles::BuiltIn
            .region()
            .expect("the default region")
    }

    #[test]
    fn good_rows_become_homes_and_bad_rows_say_why() {
        let csv = format!(
            "{HEADER}\
1-900000001,Ashby Grange,42,1 Mill Lane,Ashby,LE65 1AA,01530 496000,Leicestershire,Y,Y,,Y,,,\n\
1-900000002,Birstall House,0,2 High Street,Birstall,LE4 3AB,,Leicestershire,Y,,Y,,,,\n\
not-an-id,Carlton Court,20,3 Road,Leicester,LE2 1AB,,Leicester,Y,,Y,,,,\n\
1-900000004,Derby Lodge,30,4 Road,Derby,DE1 1AA,,Derby,Y,Y,,,,,\n\
1-900000005,Oakham Surgery,,5 Road,Oakham,LE15 6AA,,Rutland,N,,,,,,\n\
1-900000001,Ashby Grange again,10,1 Mill Lane,Ashby,LE65 1AA,call us,Leicestershire,Y,,Y,,,,\n\
1-900000007,Enderby View,25,7 Road,Enderby,LE19 4AA,0116 496 0777,Blaby,Y,,Y,,Y,Y,Y\n"
        );
        let parsed = parse(csv.as_bytes(), &region()).expect("a CQC file");
        assert_eq!(parsed.outside_region, 1, "Derby is not in LLR");
        assert_eq!(parsed.not_care_homes, 1, "a surgery is not a care home");
        let lines: Vec<_> = parsed.rows.iter().map(|r| r.line).collect();
        assert_eq!(lines, vec![2, 3, 4, 7, 8]);
        let RowOutcome::Home(ashby) = &parsed.rows[0].outcome else {
            panic!("{:?}", parsed.rows[0]);
        };
        assert_eq!(ashby.registered_beds, 42);
        assert_eq!(ashby.postcode, "LE65 1AA");
        assert_eq!(ashby.address, "1 Mill Lane, Ashby");
        assert_eq!(
            ashby.categories,
            vec![CareCategory::Nursing, CareCategory::NursingDementia]
        );
        assert_eq!(ashby.locality.as_str(), "leicestershire");
        let reason = |i: usize| match &parsed.rows[i].outcome {
            RowOutcome::Refused(reason) => reason.clone(),
            other => panic!("{other:?}"),
        };
        assert_eq!(
            reason(1),
            "Care homes beds is 0: a care home has between 1 and 1000 beds."
        );
        assert_eq!(
            reason(2),
            "\"not-an-id\" is not a CQC location ID (they look like 1-123456789)."
        );
        assert_eq!(
            reason(3),
            "Location ID 1-900000001 is also on line 2: each home can be in the file once."
        );
        let RowOutcome::Home(enderby) = &parsed.rows[4].outcome else {
            panic!("{:?}", parsed.rows[4]);
        };
        assert_eq!(
            enderby.categories,
            vec![
                CareCategory::Residential,
                CareCategory::LearningDisabilityResidential,
                CareCategory::MentalHealthResidential,
                CareCategory::YoungPhysicallyDisabled
            ]
        );
        assert_eq!(parsed.homes().count(), 2);
    }

    #[test]
    fn a_file_that_is_not_a_cqc_download_is_refused_whole() {
        let region = region();
        assert_eq!(parse(b"  \n", &region), Err(ImportError::Empty));
        assert_eq!(
            parse(b"Name,Postcode\nA,LE1 1AA\n", &region),
            Err(ImportError::MissingColumn("Location ID"))
        );
        assert!(matches!(
            parse(&[0xff, 0xfe, 0x00, b'\n'], &region),
            Err(ImportError::NotCsv(_))
        ));
    }

    #[test]
    fn the_sample_file_reads() {
        let text = include_str!("../../../../data/regions/llr/cqc-care-homes-sample.csv");
        let parsed = parse(text.as_bytes(), &region()).expect("the sample reads");
        assert!(parsed.homes().count() >= 3, "{parsed:?}");
        assert!(
            parsed
                .rows
                .iter()
                .any(|r| matches!(r.outcome, RowOutcome::Refused(_))),
            "the sample shows a refusal too"
        );
    }
}
