//! Compiles `proto/fiducia/v1/*.proto` with protox (pure Rust), so building
//! needs no system `protoc`.

use std::error::Error;

const SCHEMA: &[&str] = &[
    "fiducia/v1/common.proto",
    "fiducia/v1/raw.proto",
    "fiducia/v1/enriched.proto",
    "fiducia/v1/consent.proto",
    "fiducia/v1/deadletter.proto",
    "fiducia/v1/privacy.proto",
    "fiducia/v1/session.proto",
    "fiducia/v1/profile.proto",
];

fn main() -> Result<(), Box<dyn Error>> {
    println!("cargo:rerun-if-changed=proto");
    let descriptors = protox::compile(SCHEMA, ["proto"])?;
    prost_build::Config::new().compile_fds(descriptors)?;
    Ok(())
}
