//! The Redis key layout (see `docs/architecture.md`).
//!
//! Two prefixes: the live prefix (default `pf:`) holds counts and records
//! with no patient-identifiable data, which the wall and pressure read; the
//! patient prefix (default `pf-patient:`) holds the discharge records (NHS
//! number, postcode, needs) and the discharge views' notices, which only the
//! projection writes and only the discharges service reads. The Redis users
//! of the gateway and pressure are granted the first and never the second.

/// Builds every key under two prefixes (the live one, default `pf:`, and the
/// patient one, default `pf-patient:`), so that a second copy of the state (a
/// rebuild to compare, a test) can live beside the first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Keys {
    prefix: String,
    patient_prefix: String,
}

impl Keys {
    /// Keys under `prefix`, e.g. `pf:`, and patient-level keys under the
    /// prefix with `-patient` added before its last `:` (`pf:` →
    /// `pf-patient:`, `pf-check-7:` → `pf-check-7-patient:`), beside the live
    /// prefix and never under it when it ends in `:`.
    pub fn new(prefix: impl Into<String>) -> Self {
        let prefix = prefix.into();
        let patient_prefix = format!("{}-patient:", prefix.trim_end_matches(':'));
        Self {
            prefix,
            patient_prefix,
        }
    }

    /// The same keys with patient-level data under `patient_prefix` instead.
    pub fn with_patient_prefix(mut self, patient_prefix: impl Into<String>) -> Self {
        self.patient_prefix = patient_prefix.into();
        self
    }

    /// The live prefix (no patient-identifiable data under it).
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The patient prefix: discharge records and the discharge views'
    /// notices.
    pub fn patient_prefix(&self) -> &str {
        &self.patient_prefix
    }

    /// One bed's record (hash).
    pub fn bed(&self, site: &str, ward: &str, bed: &str) -> String {
        format!("{}bed:{site}:{ward}:{bed}", self.prefix)
    }

    /// A ward's counters (hash), [`CounterField`](crate::CounterField) →
    /// beds.
    pub fn ward(&self, site: &str, ward: &str) -> String {
        format!("{}{}", self.ward_prefix(), Self::ward_member(site, ward))
    }

    /// What a ward's counters' key is made of: this prefix, then the ward's
    /// member of the wards index.
    pub fn ward_prefix(&self) -> String {
        format!("{}ward:", self.prefix)
    }

    /// A ward's member of the wards index, `{site}:{ward}`.
    pub fn ward_member(site: &str, ward: &str) -> String {
        format!("{site}:{ward}")
    }

    /// A site's counters (hash).
    pub fn site(&self, site: &str) -> String {
        format!("{}site:{site}", self.prefix)
    }

    /// The whole system's counters (hash).
    pub fn system(&self) -> String {
        format!("{}system", self.prefix)
    }

    /// The set of `{site}:{ward}` seen.
    pub fn wards_index(&self) -> String {
        format!("{}index:wards", self.prefix)
    }

    /// The set of site codes seen.
    pub fn sites_index(&self) -> String {
        format!("{}index:sites", self.prefix)
    }

    /// A site's occupancy figures (hash: `occupied`, `usable`; see
    /// [`fold`](crate::fold)), which its history records.
    pub fn figures_site(&self, site: &str) -> String {
        format!("{}{site}", self.figures_site_prefix())
    }

    /// What a site's figures' key is made of: this prefix, then the site.
    pub fn figures_site_prefix(&self) -> String {
        format!("{}figures:site:", self.prefix)
    }

    /// The whole system's occupancy figures (hash).
    pub fn figures_system(&self) -> String {
        format!("{}figures:system", self.prefix)
    }

    /// One care home's record (hash: version, record JSON).
    pub fn care_home(&self, cqc: &str) -> String {
        format!("{}{cqc}", self.care_home_prefix())
    }

    /// What a care home's key is made of: this prefix, then its CQC id.
    pub fn care_home_prefix(&self) -> String {
        format!("{}care-home:", self.prefix)
    }

    /// The set of CQC location ids seen.
    pub fn care_homes_index(&self) -> String {
        format!("{}index:care-homes", self.prefix)
    }

    /// Every home's position (a geo set), for the distance search.
    pub fn care_homes_geo(&self) -> String {
        format!("{}care-homes:geo", self.prefix)
    }

    /// One discharge's record (hash: version, record JSON), under the
    /// patient prefix.
    pub fn discharge(&self, id: &str) -> String {
        format!("{}discharge:{id}", self.patient_prefix)
    }

    /// What the counts need of every discharge (hash: discharge id →
    /// [`DischargeSummary`](crate::DischargeSummary) JSON: site, status,
    /// pathway, Discharge Ready Date, the UK date it left, the managing
    /// organisation; nothing that identifies the patient).
    pub fn discharge_summaries(&self) -> String {
        format!("{}discharges:summary", self.prefix)
    }

    /// The set of discharge ids seen, under the patient prefix.
    pub fn discharges_index(&self) -> String {
        format!("{}index:discharges", self.patient_prefix)
    }

    /// One task's or action's record (hash: version, record JSON). Items
    /// carry no patient-identifiable data (a discharge task names its
    /// patient by the opaque discharge id; its text is checked for
    /// identifiers), so they live under the live prefix, where the gateway
    /// reads actions for the wall.
    pub fn item(&self, id: &str) -> String {
        format!("{}item:{id}", self.prefix)
    }

    /// The set of item ids seen.
    pub fn items_index(&self) -> String {
        format!("{}index:items", self.prefix)
    }

    /// One organisation's team register (hash: version, record JSON).
    pub fn teams(&self, ods: &str) -> String {
        format!("{}teams:{ods}", self.prefix)
    }

    /// The set of organisations with a team register.
    pub fn teams_index(&self) -> String {
        format!("{}index:teams", self.prefix)
    }

    /// One ED attendance's record (hash), by site and opaque id.
    pub fn ed_attendance(&self, site: &str, id: &str) -> String {
        format!("{}ed:{site}:{id}", self.prefix)
    }

    /// Attendances in the department (hash: `{site}|{id}` →
    /// [`EdSummary`](crate::urgent_care::EdSummary) JSON).
    pub fn ed_in_department(&self) -> String {
        format!("{}ed:in-department", self.prefix)
    }

    /// One ambulance arrival's record (hash), by site and opaque id.
    pub fn ambulance(&self, site: &str, id: &str) -> String {
        format!("{}ambulance:{site}:{id}", self.prefix)
    }

    /// Vehicles waiting to hand over (hash: `{site}|{id}` →
    /// [`AmbulanceSummary`](crate::urgent_care::AmbulanceSummary) JSON).
    pub fn ambulances_waiting(&self) -> String {
        format!("{}ambulance:waiting", self.prefix)
    }

    /// A day's handover counters (hash: `{site}:{handovers|over_30|over_60|lost_secs}`),
    /// by the arrivals' UK date.
    pub fn ambulance_day(&self, date: time::Date) -> String {
        format!("{}ambulance:day:{date}", self.prefix)
    }

    /// One ambulance service's escalation record (hash), by its ODS code.
    pub fn ambulance_service(&self, service: &str) -> String {
        format!("{}ambulance:escalation:{service}", self.prefix)
    }

    /// Ambulance services' current escalation levels (hash: ODS code →
    /// [`EscalationSummary`](crate::urgent_care::EscalationSummary) JSON).
    pub fn ambulance_escalations(&self) -> String {
        format!("{}ambulance:escalation", self.prefix)
    }

    /// The member of [`ed_in_department`](Self::ed_in_department) or
    /// [`ambulances_waiting`](Self::ambulances_waiting) of a site's entity.
    pub fn urgent_member(site: &str, id: &str) -> String {
        format!("{site}|{id}")
    }

    /// A site's occupancy history (sorted set: bucket start → entry; see
    /// [`trend`](crate::trend)), all but the newest bucket.
    pub fn trend_site(&self, site: &str) -> String {
        format!("{}{site}", self.trend_site_prefix())
    }

    /// What a site's history's key is made of: this prefix, then the site.
    pub fn trend_site_prefix(&self) -> String {
        format!("{}trend:site:", self.prefix)
    }

    /// The whole system's occupancy history (sorted set).
    pub fn trend_system(&self) -> String {
        format!("{}trend:system", self.prefix)
    }

    /// The start of each scope's newest history bucket (hash: field
    /// `site:{site}` or `system` → Unix seconds). Its figures are the
    /// scope's figures hash; it is closed into the scope's sorted set when a
    /// later bucket starts.
    pub fn trend_newest(&self) -> String {
        format!("{}trend:newest", self.prefix)
    }

    /// A site's field in [`trend_newest`](Self::trend_newest): this prefix,
    /// then the site.
    pub const TREND_NEWEST_SITE: &str = "site:";

    /// The system's field in [`trend_newest`](Self::trend_newest).
    pub const TREND_NEWEST_SYSTEM: &str = "system";

    /// How the history is bucketed (hash: `bucket_secs`, `keep_secs`),
    /// written by the projection with the history, so readers use the
    /// writer's bucket length.
    pub fn trend_meta(&self) -> String {
        format!("{}trend:meta", self.prefix)
    }

    /// The stream sequence up to which a stream's events are applied.
    pub fn applied(&self, stream: &str) -> String {
        format!("{}applied:{stream}", self.prefix)
    }

    /// Raised before anything deletes the state's entities (a wipe), so that
    /// a writer that remembers what it wrote knows to read again (string).
    pub fn generation(&self) -> String {
        format!("{}generation", self.prefix)
    }

    /// The key layout the state was written in (string; see
    /// [`LAYOUT`](crate::store::LAYOUT)).
    pub fn layout(&self) -> String {
        format!("{}layout", self.prefix)
    }

    /// The change version (+1 per applied change).
    pub fn version(&self) -> String {
        format!("{}version", self.prefix)
    }

    /// The change log (stream, entry id `{version}-0`): the count feed the
    /// wall and pressure follow; no patient-identifiable data.
    pub fn changes(&self) -> String {
        format!("{}changes", self.prefix)
    }

    /// The discharge views' notices (stream under the patient prefix, entry
    /// id `{version}-0` with the change version of the same change): which
    /// discharge changed, to which version, and its managing organisation.
    pub fn patient_changes(&self) -> String {
        format!("{}changes", self.patient_prefix)
    }
}

impl Default for Keys {
    fn default() -> Self {
        Self::new("pf:")
    }
}
