//! The simulator's in-memory picture of every bed, ward and site.
//!
//! It is only a picture: the API holds the truth. A bed whose request is in
//! flight is `busy` and is not chosen again until the answer is in; a 409
//! makes the engine re-read the bed.

use pf_hospital_model::catalogue::bed_code;
use pf_hospital_model::{BedAddress, BedKind, BedState, Catalogue, Occupancy, SiteKind};

/// One bed as the simulator believes it to be.
#[derive(Debug, Clone)]
pub struct SimBed {
    /// Where it is.
    pub address: BedAddress,
    /// Its kind.
    pub kind: BedKind,
    /// Whether it is an escalation bed.
    pub escalation: bool,
    /// Index of its ward in [`Model::wards`].
    pub ward: usize,
    /// `None` when not open, else the state of the open bed.
    pub state: Option<BedState>,
    /// A request about this bed is in flight.
    pub busy: bool,
    /// The API does not know this bed (404): leave it alone.
    pub ignored: bool,
}

/// One ward and its beds.
#[derive(Debug, Clone)]
pub struct SimWard {
    /// Ward name, for logs.
    pub name: String,
    /// Kind of its beds.
    pub kind: BedKind,
    /// Index of its group in [`Model::groups`].
    pub group: usize,
    /// Indexes of its beds in [`Model::beds`].
    pub beds: Vec<usize>,
    /// Core beds: how much this ward is chosen relative to the others.
    pub core_beds: usize,
    /// This ward's own lean above or below its kind's target occupancy.
    pub target_offset: f64,
}

/// The wards of one kind at one site: what escalation decisions look at.
#[derive(Debug, Clone)]
pub struct SimGroup {
    /// Index of the site in [`Model::sites`].
    pub site: usize,
    /// The kind of every bed in the group.
    pub kind: BedKind,
    /// Indexes of its wards in [`Model::wards`].
    pub wards: Vec<usize>,
}

/// One site.
#[derive(Debug, Clone)]
pub struct SimSite {
    /// ODS site code.
    pub code: String,
    /// Site name.
    pub name: String,
    /// What sort of site.
    pub kind: SiteKind,
}

/// How many beds of a set are in each state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// Open beds (any state).
    pub open: usize,
    /// Available beds.
    pub available: usize,
    /// Available core (non-escalation) beds.
    pub available_core: usize,
    /// Occupied beds.
    pub occupied: usize,
    /// Occupied escalation beds.
    pub occupied_escalation: usize,
    /// Beds awaiting cleaning.
    pub awaiting_clean: usize,
    /// Reserved beds.
    pub reserved: usize,
    /// Closed beds.
    pub closed: usize,
    /// Escalation beds open.
    pub escalation_open: usize,
    /// Escalation beds not open (could be opened).
    pub escalation_not_open: usize,
}

impl Counts {
    /// Adds one bed to the counts.
    pub fn add(&mut self, bed: &SimBed) {
        match bed.state {
            None => {
                if bed.escalation {
                    self.escalation_not_open += 1;
                }
            }
            Some(state) => {
                self.open += 1;
                if bed.escalation {
                    self.escalation_open += 1;
                }
                match state {
                    BedState::Available => {
                        self.available += 1;
                        if !bed.escalation {
                            self.available_core += 1;
                        }
                    }
                    BedState::Occupied => {
                        self.occupied += 1;
                        if bed.escalation {
                            self.occupied_escalation += 1;
                        }
                    }
                    BedState::AwaitingClean => self.awaiting_clean += 1,
                    BedState::Reserved => self.reserved += 1,
                    BedState::Closed => self.closed += 1,
                }
            }
        }
    }

    /// Beds that can take a patient or hold one: open and not closed.
    pub fn usable(&self) -> usize {
        self.open - self.closed
    }

    /// Beds occupied out of usable.
    pub fn occupied_of_usable(&self) -> Occupancy {
        Occupancy {
            occupied: i64::try_from(self.occupied).unwrap_or(i64::MAX),
            usable: i64::try_from(self.usable()).unwrap_or(i64::MAX),
        }
    }

    /// Occupied ÷ usable, between 0 and 1, by the platform's one rule
    /// ([`Occupancy`]); `None` without usable beds.
    pub fn occupancy(&self) -> Option<f64> {
        self.occupied_of_usable().fraction()
    }
}

/// Every bed, ward, group and site the simulator drives.
#[derive(Debug, Clone)]
pub struct Model {
    /// Every bed, core and escalation.
    pub beds: Vec<SimBed>,
    /// Every ward.
    pub wards: Vec<SimWard>,
    /// Wards grouped by site and kind.
    pub groups: Vec<SimGroup>,
    /// Every site.
    pub sites: Vec<SimSite>,
}

impl Model {
    /// A model of the catalogue with every bed not open and every ward at its
    /// kind's target (offsets are set later by the engine).
    pub fn from_catalogue(catalogue: &Catalogue) -> Self {
        let mut model = Model {
            beds: Vec::new(),
            wards: Vec::new(),
            groups: Vec::new(),
            sites: Vec::new(),
        };
        for site in catalogue.sites() {
            let site_index = model.sites.len();
            model.sites.push(SimSite {
                code: site.code.to_string(),
                name: site.name.clone(),
                kind: site.kind,
            });
            for ward in &site.wards {
                let group = match model
                    .groups
                    .iter()
                    .position(|g| g.site == site_index && g.kind == ward.kind)
                {
                    Some(g) => g,
                    None => {
                        model.groups.push(SimGroup {
                            site: site_index,
                            kind: ward.kind,
                            wards: Vec::new(),
                        });
                        model.groups.len() - 1
                    }
                };
                let ward_index = model.wards.len();
                model.groups[group].wards.push(ward_index);
                let mut beds = Vec::new();
                for (escalation, count) in [(false, ward.beds), (true, ward.escalation_beds)] {
                    for n in 1..=count {
                        beds.push(model.beds.len());
                        model.beds.push(SimBed {
                            address: BedAddress {
                                site: site.code.clone(),
                                ward: ward.code.clone(),
                                bed: bed_code(escalation, n, count),
                            },
                            kind: ward.kind,
                            escalation,
                            ward: ward_index,
                            state: None,
                            busy: false,
                            ignored: false,
                        });
                    }
                }
                model.wards.push(SimWard {
                    name: ward.name.clone(),
                    kind: ward.kind,
                    group,
                    beds,
                    core_beds: usize::from(ward.beds),
                    target_offset: 0.0,
                });
            }
        }
        model
    }

    /// Counts of the beds of a ward (only beds the API knows).
    pub fn ward_counts(&self, ward: usize) -> Counts {
        let mut counts = Counts::default();
        for &b in &self.wards[ward].beds {
            let bed = &self.beds[b];
            if !bed.ignored {
                counts.add(bed);
            }
        }
        counts
    }

    /// Counts of the beds of a group (one kind at one site).
    pub fn group_counts(&self, group: usize) -> Counts {
        let mut counts = Counts::default();
        for &w in &self.groups[group].wards {
            for &b in &self.wards[w].beds {
                let bed = &self.beds[b];
                if !bed.ignored {
                    counts.add(bed);
                }
            }
        }
        counts
    }

    /// Counts of every bed of a kind, across the region.
    pub fn kind_counts(&self, kind: BedKind) -> Counts {
        let mut counts = Counts::default();
        for bed in self.beds.iter().filter(|b| b.kind == kind && !b.ignored) {
            counts.add(bed);
        }
        counts
    }
}
