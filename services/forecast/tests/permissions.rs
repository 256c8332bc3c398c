//! The forecast reads only what its NATS user may read: every stream it
//! waits for and replays is granted to it in the rendered permissions
//! (`helm/patient-flow/files/nats-permissions.conf`, used by `scripts/` and
//! the chart alike). A stream added to the platform and read here without a
//! grant would keep the service from ever becoming ready.

#[test]
fn every_stream_the_forecast_reads_is_granted_to_its_nats_user() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../helm/patient-flow/files/nats-permissions.conf"
    );
    let conf = std::fs::read_to_string(path).expect("the NATS permissions file");
    let start = conf.find("PF_FORECAST = {").expect("a PF_FORECAST block");
    let block = &conf[start..];
    let block = &block[..block.find("\n}\n").expect("the block's end")];
    for spec in pf_forecast::replay::HISTORY_STREAMS
        .iter()
        .chain([&pf_event_log::streams::ALERTS])
    {
        let grant = format!("\"$JS.API.STREAM.INFO.{}\"", spec.name);
        assert!(
            block.contains(&grant),
            "the forecast reads {} but its NATS user may not: {grant} is missing",
            spec.name
        );
    }
}
