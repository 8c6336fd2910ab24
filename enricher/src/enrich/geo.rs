//! Country, region and city of a client network, from a MaxMind-format
//! `.mmdb` file (GeoLite2/GeoIP2 City or Country, or any database with the
//! same record layout), with a bounded cache per network.
//!
//! The enricher only knows a network (/24 or /48), never a host. When the
//! database has one record for the whole network, that record answers. When
//! the network spans several records, only what they all agree on is kept
//! (same country but different cities: the country alone), so the answer is
//! never more precise than the network allows. How much of the answer is
//! stored is then limited by consent ([`Precision`], per site).

use std::net::IpAddr;
use std::num::NonZeroUsize;
use std::path::Path;

use ipnetwork::IpNetwork;
use lru::LruCache;
use maxminddb::geoip2::City;
use maxminddb::{MaxMindDbError, Reader, WithinOptions};
use serde::Deserialize;

use super::ip::Network;

/// Most records a network may span before only the country is trusted.
const MAX_RECORDS_PER_NETWORK: usize = 1024;

/// How precise the stored location may be.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Precision {
    /// No location at all.
    None,
    /// ISO country code.
    Country,
    /// Country and first-level subdivision (ISO 3166-2 code).
    Region,
    /// Country, region and city name.
    City,
}

/// A location, as precise as the database and the network allow.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Place {
    /// ISO 3166-1 alpha-2 country code, e.g. `IT`.
    pub country: String,
    /// ISO 3166-2 code of the first subdivision, e.g. `62`.
    pub region: String,
    /// City name in English.
    pub city: String,
}

impl Place {
    fn from_record(record: &City<'_>) -> Self {
        Self {
            country: record.country.iso_code.unwrap_or_default().to_owned(),
            region: record
                .subdivisions
                .first()
                .and_then(|s| s.iso_code)
                .unwrap_or_default()
                .to_owned(),
            city: record.city.names.english.unwrap_or_default().to_owned(),
        }
    }

    /// What `self` and `other` agree on, from the country down.
    fn common(mut self, other: &Self) -> Self {
        if self.country != other.country {
            return Self::default();
        }
        if self.region != other.region {
            self.region.clear();
            self.city.clear();
        } else if self.city != other.city {
            self.city.clear();
        }
        self
    }

    /// The place cut to `precision`.
    #[must_use]
    pub fn limited(&self, precision: Precision) -> Self {
        let keep = |level: Precision, value: &str| {
            if precision >= level {
                value.to_owned()
            } else {
                String::new()
            }
        };
        Self {
            country: keep(Precision::Country, &self.country),
            region: keep(Precision::Region, &self.region),
            city: keep(Precision::City, &self.city),
        }
    }
}

/// The database could not be used.
#[derive(Debug, thiserror::Error)]
#[error("geo database {path}: {source}")]
pub struct GeoError {
    /// The file.
    pub path: String,
    /// What was wrong with it.
    #[source]
    pub source: MaxMindDbError,
}

/// A geo database with a cache of answers per network.
pub struct GeoDb {
    reader: Reader<Vec<u8>>,
    cache: LruCache<Network, Place>,
}

impl std::fmt::Debug for GeoDb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GeoDb")
            .field("database_type", &self.database_type())
            .field("cached", &self.cache.len())
            .finish_non_exhaustive()
    }
}

impl GeoDb {
    /// Opens and verifies `path`; the file is read into memory.
    ///
    /// # Errors
    /// When the file cannot be read or is not a valid MaxMind DB.
    pub fn open(path: &Path, cache_entries: NonZeroUsize) -> Result<Self, GeoError> {
        let error = |source| GeoError {
            path: path.display().to_string(),
            source,
        };
        let reader = Reader::open_readfile(path).map_err(error)?;
        reader.verify().map_err(error)?;
        Ok(Self {
            reader,
            cache: LruCache::new(cache_entries),
        })
    }

    /// `database_type` from the file's metadata, e.g. `GeoLite2-City`.
    #[must_use]
    pub fn database_type(&self) -> &str {
        &self.reader.metadata().database_type
    }

    /// The place of `network`, cached. Lookup errors (a corrupt record) give
    /// an empty place; the caller counts them through `failed`.
    pub fn locate(&mut self, network: Network, failed: impl FnOnce()) -> &Place {
        let reader = &self.reader;
        self.cache.get_or_insert(network, || {
            lookup(reader, network).unwrap_or_else(|error| {
                tracing::debug!(%error, "geo lookup failed");
                failed();
                Place::default()
            })
        })
    }
}

/// The place of a whole network: one record, or what all its records agree on.
fn lookup(reader: &Reader<Vec<u8>>, network: Network) -> Result<Place, MaxMindDbError> {
    if matches!(network.addr, IpAddr::V6(_)) && reader.metadata().ip_version == 4 {
        return Ok(Place::default());
    }
    let found = reader.lookup(network.addr)?;
    if found.network()?.prefix() <= network.len {
        return Ok(found
            .decode::<City<'_>>()?
            .map(|record| Place::from_record(&record))
            .unwrap_or_default());
    }
    let cidr = IpNetwork::new(network.addr, network.len)
        .map_err(|e| MaxMindDbError::invalid_input(e.to_string()))?;
    let mut common: Option<Place> = None;
    for (seen, item) in reader.within(cidr, WithinOptions::default())?.enumerate() {
        let Some(record) = item?.decode::<City<'_>>()? else {
            continue;
        };
        let place = Place::from_record(&record);
        common = Some(match common {
            None => place,
            Some(so_far) => so_far.common(&place),
        });
        if seen >= MAX_RECORDS_PER_NETWORK {
            return Ok(common.unwrap_or_default().limited(Precision::Country));
        }
    }
    Ok(common.unwrap_or_default())
}

/// A small database for tests: documentation networks with known places.
#[cfg(test)]
pub(crate) mod fixture {
    /// `[network, country, region, city]` rows of the test database.
    pub const ROWS: &[[&str; 4]] = &[
        ["203.0.113.0/24", "IT", "62", "Rome"],
        // One /24 split in two halves, same country and region, two cities.
        ["198.51.100.0/25", "IT", "25", "Milan"],
        ["198.51.100.128/25", "IT", "25", "Bergamo"],
        // Two countries in one /24.
        ["192.0.2.0/25", "FR", "IDF", "Paris"],
        ["192.0.2.128/25", "DE", "BE", "Berlin"],
        ["2001:db8:1::/48", "DE", "BY", "Munich"],
        // A /48 split at /56: same city everywhere.
        ["2001:db8:2::/56", "ES", "MD", "Madrid"],
        ["2001:db8:2:100::/56", "ES", "MD", "Madrid"],
    ];

    /// The test database written to a temporary file.
    pub fn file() -> tempfile::NamedTempFile {
        fiducia_testkit::mmdb::write(ROWS)
    }
}

#[cfg(test)]
mod tests {
    use fiducia_proto::v1::IpPrefix;

    use super::*;
    use crate::enrich::ip;

    fn db() -> GeoDb {
        let file = fixture::file();
        GeoDb::open(file.path(), NonZeroUsize::new(16).unwrap()).unwrap()
    }

    fn net(bytes: Vec<u8>, len: u32) -> Network {
        ip::network(&IpPrefix {
            network: bytes,
            prefix_len: len,
        })
        .unwrap()
        .network
    }

    fn v6(s: &str) -> Vec<u8> {
        s.parse::<std::net::Ipv6Addr>().unwrap().octets().to_vec()
    }

    #[test]
    fn networks_are_located_no_finer_than_their_records_agree() {
        let mut db = db();
        for (network, want) in [
            (net(vec![203, 0, 113, 0], 24), ("IT", "62", "Rome")),
            (net(vec![198, 51, 100, 0], 24), ("IT", "25", "")),
            (net(vec![192, 0, 2, 0], 24), ("", "", "")),
            (net(vec![100, 64, 0, 0], 24), ("", "", "")),
            (net(v6("2001:db8:1::"), 48), ("DE", "BY", "Munich")),
            (net(v6("2001:db8:2::"), 48), ("ES", "MD", "Madrid")),
            (net(v6("2001:db8:ffff::"), 48), ("", "", "")),
            // IPv4-mapped IPv6 reads as IPv4.
            (net(v6("::ffff:203.0.113.0"), 120), ("IT", "62", "Rome")),
        ] {
            let place = db.locate(network, || panic!("no lookup error"));
            assert_eq!(
                (
                    place.country.as_str(),
                    place.region.as_str(),
                    place.city.as_str()
                ),
                want,
                "{network:?}"
            );
        }
    }

    #[test]
    fn precision_cuts_the_place() {
        let place = Place {
            country: "IT".into(),
            region: "62".into(),
            city: "Rome".into(),
        };
        for (precision, want) in [
            (Precision::City, ("IT", "62", "Rome")),
            (Precision::Region, ("IT", "62", "")),
            (Precision::Country, ("IT", "", "")),
            (Precision::None, ("", "", "")),
        ] {
            let cut = place.limited(precision);
            assert_eq!(
                (cut.country.as_str(), cut.region.as_str(), cut.city.as_str()),
                want
            );
        }
    }

    #[test]
    fn answers_are_cached_and_the_cache_is_bounded() {
        let mut db = db();
        for i in 0..100_u8 {
            db.locate(net(vec![10, i, 0, 0], 24), || {});
        }
        assert_eq!(db.cache.len(), 16);
    }

    #[test]
    fn a_file_that_is_not_a_database_is_refused() {
        let file = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(file.path(), b"not an mmdb").unwrap();
        let error = GeoDb::open(file.path(), NonZeroUsize::new(1).unwrap()).unwrap_err();
        assert!(error.to_string().contains("geo database"), "{error}");
    }
}
