//! MaxMind-format databases written for tests and benches, never downloaded:
//! the GeoIP2-City record layout (country and subdivision ISO codes, English
//! city name) for the networks given. Shared by the enricher's unit tests,
//! integration tests and benchmark, and the whole-pipeline tests.

use std::collections::BTreeMap;

use serde::Serialize;

#[derive(Serialize)]
struct Record<'a> {
    country: BTreeMap<&'static str, &'a str>,
    subdivisions: Vec<BTreeMap<&'static str, &'a str>>,
    city: BTreeMap<&'static str, BTreeMap<&'static str, &'a str>>,
}

/// A database where each `[network, country, region, city]` row is one
/// record, written to a temporary file.
///
/// # Panics
/// On a malformed network or when the file cannot be written: the test
/// cannot run.
pub fn write<S: AsRef<str>>(rows: &[[S; 4]]) -> tempfile::NamedTempFile {
    let mut writer = mmdb_writer::Writer::builder("Fiducia-Test-City")
        .description(&[("en", "Documentation networks for Fiducia tests")])
        .build();
    for [network, country, region, city] in rows {
        let record = Record {
            country: BTreeMap::from([("iso_code", country.as_ref())]),
            subdivisions: vec![BTreeMap::from([("iso_code", region.as_ref())])],
            city: BTreeMap::from([("names", BTreeMap::from([("en", city.as_ref())]))]),
        };
        let network: ipnet::IpNet = network.as_ref().parse().expect("a network");
        writer.insert(network, &record).expect("insert a record");
    }
    let file = tempfile::NamedTempFile::new().expect("a temporary file");
    std::fs::write(file.path(), writer.to_bytes().expect("a database")).expect("write it");
    file
}
