//! Compiles `patientflow/v1/*.proto` with protox (a protobuf compiler written
//! in Rust), so building needs nothing but cargo.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let files = [
        "patientflow/v1/envelope.proto",
        "patientflow/v1/beds.proto",
        "patientflow/v1/care_homes.proto",
        "patientflow/v1/discharges.proto",
        "patientflow/v1/system.proto",
        "patientflow/v1/tasks.proto",
        "patientflow/v1/urgent_care.proto",
    ];
    for file in files {
        println!("cargo:rerun-if-changed={file}");
    }
    let descriptors = protox::compile(files, ["."])?;
    prost_build::Config::new().compile_fds(descriptors)?;
    Ok(())
}
