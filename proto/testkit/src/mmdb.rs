//! MaxMind-format databases written for tests and benches, never downloaded:
//! the GeoIP2-City record layout (country and subdivision ISO codes, English
//! city name), or the flat layout of the ip-location-db packages
//! (`country_code`), for the networks given. Shared by the enricher's unit
//! tests, integration tests and benchmark, and the whole-pipeline tests.

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

/// A database in ip-location-db's flat layout (`{"country_code": ...}`), of
/// type `database_type` (theirs: `country ipv4`, `country ipv6`), where each `[network,
/// country]` row is one record. IPv4-only (like their `*-ipv4.mmdb` files)
/// when every network is IPv4, IPv6 otherwise (IPv4 then lives only where
/// a row puts it, as in their `*-ipv6.mmdb` files). Like theirs, the
/// metadata has an empty `description`.
///
/// # Panics
/// As [`write`].
pub fn write_flat<S: AsRef<str>>(database_type: &str, rows: &[[S; 2]]) -> tempfile::NamedTempFile {
    let networks: Vec<ipnet::IpNet> = rows
        .iter()
        .map(|[network, _]| network.as_ref().parse().expect("a network"))
        .collect();
    let version = if networks.iter().all(|n| matches!(n, ipnet::IpNet::V4(_))) {
        mmdb_writer::IpVersion::V4
    } else {
        mmdb_writer::IpVersion::V6
    };
    let mut writer = mmdb_writer::Writer::builder(database_type)
        .ip_version(version)
        .ipv4_aliasing(mmdb_writer::Ipv4Aliasing::Disabled)
        .build();
    for (network, [_, country]) in networks.into_iter().zip(rows) {
        let record = BTreeMap::from([("country_code", country.as_ref())]);
        writer.insert(network, &record).expect("insert a record");
    }
    let file = tempfile::NamedTempFile::new().expect("a temporary file");
    std::fs::write(file.path(), writer.to_bytes().expect("a database")).expect("write it");
    file
}
