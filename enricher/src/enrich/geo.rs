//! Country, region and city of a client network, from one or more
//! MaxMind-format `.mmdb` files, with a bounded cache per network.
//!
//! Two record layouts are read, chosen from each file's `database_type`
//! ([`Layout`]): MaxMind's GeoIP2 one (GeoIP2/GeoLite2 City or Country,
//! DB-IP's own `DBIP-*-Lite` files, any database with the same layout) and
//! the flat one of the ip-location-db packages (`country_code`, and `city`
//! in their city databases), which ship one file per address family. A
//! network is looked up in the files that cover its family, IPv4-only files
//! first for an IPv4 network, in the order given; the first that knows its
//! country answers.
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
use maxminddb::{LookupResult, MaxMindDbError, Reader, WithinOptions};
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

/// How a database's records are laid out, from its `database_type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// MaxMind's GeoIP2 layout: `country.iso_code`,
    /// `subdivisions[0].iso_code`, `city.names.en`. Database types with a
    /// `City`, `Country` or `Enterprise` part: `GeoIP2-City`,
    /// `GeoLite2-Country`, `DBIP-City-Lite`, ...
    GeoIp2,
    /// ip-location-db's flat layout: `country_code`, and `city` in its city
    /// databases (their `state1` is a name, not an ISO 3166-2 code, so the
    /// region stays empty). Database types `country` and `city`, followed
    /// by the address family the file covers: `country ipv4`,
    /// `country ipv6`, `country ipvAll`, `city ipv4`, ...
    Flat,
}

impl Layout {
    /// The layout of a database of type `database_type`; `None` for any
    /// other kind of database (ASN, anonymous IP, ...).
    #[must_use]
    pub fn of(database_type: &str) -> Option<Self> {
        let kind = match database_type.split_once(' ') {
            Some((kind, family)) if family.starts_with("ipv") => kind,
            _ => database_type,
        };
        match kind {
            "country" | "city" => Some(Self::Flat),
            other
                if other
                    .split('-')
                    .any(|part| matches!(part, "City" | "Country" | "Enterprise")) =>
            {
                Some(Self::GeoIp2)
            }
            _ => None,
        }
    }
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

/// A record of ip-location-db's flat layout.
#[derive(Deserialize)]
struct FlatRecord<'a> {
    #[serde(borrow, default)]
    country_code: Option<&'a str>,
    #[serde(borrow, default)]
    city: Option<&'a str>,
}

impl Place {
    fn from_geoip2(record: &City<'_>) -> Self {
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

    fn from_flat(record: &FlatRecord<'_>) -> Self {
        Self {
            country: record.country_code.unwrap_or_default().to_owned(),
            region: String::new(),
            city: record.city.unwrap_or_default().to_owned(),
        }
    }

    /// The place of one record read in `layout`; `None` when it has no data.
    fn decode<S: AsRef<[u8]>>(
        layout: Layout,
        found: &LookupResult<'_, S>,
    ) -> Result<Option<Self>, MaxMindDbError> {
        Ok(match layout {
            Layout::GeoIp2 => found.decode::<City<'_>>()?.map(|r| Self::from_geoip2(&r)),
            Layout::Flat => found
                .decode::<FlatRecord<'_>>()?
                .map(|r| Self::from_flat(&r)),
        })
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

/// A database could not be used.
#[derive(Debug, thiserror::Error)]
pub enum GeoError {
    /// The file cannot be read or is not a valid MaxMind DB.
    #[error("geo database {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// What was wrong with it.
        #[source]
        source: MaxMindDbError,
    },
    /// A valid database of a kind the enricher cannot read places from.
    #[error(
        "geo database {path}: database_type {database_type:?} is not a location database the enricher reads \
         (GeoIP2/GeoLite2 City or Country layout, or ip-location-db's `country ipv4`, `city ipv6`, ...)"
    )]
    Layout {
        /// The file.
        path: String,
        /// Its `database_type`.
        database_type: String,
    },
}

/// One opened file.
struct Source {
    reader: Reader<Vec<u8>>,
    layout: Layout,
}

impl Source {
    fn ip_version(&self) -> u16 {
        self.reader.metadata().ip_version
    }
}

/// The geo databases with a cache of answers per network.
pub struct GeoDb {
    sources: Vec<Source>,
    cache: LruCache<Network, Place>,
}

impl std::fmt::Debug for GeoDb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GeoDb")
            .field("database_types", &self.database_types())
            .field("cached", &self.cache.len())
            .finish_non_exhaustive()
    }
}

impl GeoDb {
    /// Opens and verifies `path`; the file is read into memory.
    ///
    /// # Errors
    /// As [`Self::open_all`].
    pub fn open(path: &Path, cache_entries: NonZeroUsize) -> Result<Self, GeoError> {
        Self::open_all(&[path], cache_entries)
    }

    /// Opens and verifies every file of `paths` (but those with an empty
    /// `description`, as ip-location-db's), in the order lookups try them;
    /// each file is read into memory.
    ///
    /// # Errors
    /// When a file cannot be read, is not a valid MaxMind DB, or its
    /// `database_type` is not a location layout ([`Layout::of`]).
    pub fn open_all<P: AsRef<Path>>(
        paths: &[P],
        cache_entries: NonZeroUsize,
    ) -> Result<Self, GeoError> {
        let sources = paths
            .iter()
            .map(|path| {
                let path = path.as_ref();
                let error = |source| GeoError::Read {
                    path: path.display().to_string(),
                    source,
                };
                let reader = Reader::open_readfile(path).map_err(error)?;
                // ip-location-db's files have an empty `description`, which
                // `verify` refuses before checking anything else: those are
                // used unverified, and a corrupt record then only fails its
                // own lookups (counted in `geo_errors`).
                if !reader.metadata().description.is_empty() {
                    reader.verify().map_err(error)?;
                }
                let database_type = &reader.metadata().database_type;
                let layout = Layout::of(database_type).ok_or_else(|| GeoError::Layout {
                    path: path.display().to_string(),
                    database_type: database_type.clone(),
                })?;
                Ok(Source { reader, layout })
            })
            .collect::<Result<_, GeoError>>()?;
        Ok(Self {
            sources,
            cache: LruCache::new(cache_entries),
        })
    }

    /// `database_type` of each file, e.g. `GeoLite2-City` or `country ipv4`.
    #[must_use]
    pub fn database_types(&self) -> Vec<&str> {
        self.sources
            .iter()
            .map(|s| s.reader.metadata().database_type.as_str())
            .collect()
    }

    /// The place of `network`, cached. Lookup errors (a corrupt record) give
    /// an empty place; the caller counts them through `failed`.
    pub fn locate(&mut self, network: Network, failed: impl FnOnce()) -> &Place {
        let sources = &self.sources;
        self.cache.get_or_insert(network, || {
            lookup_all(sources, network).unwrap_or_else(|error| {
                tracing::debug!(%error, "geo lookup failed");
                failed();
                Place::default()
            })
        })
    }
}

/// The place of `network` from the first file covering its address family
/// that knows its country: IPv4-only files first for IPv4 (IPv6 files may
/// hold IPv4 too), only IPv6 files for IPv6. An error is returned only when
/// no file answered.
fn lookup_all(sources: &[Source], network: Network) -> Result<Place, MaxMindDbError> {
    let v4_only = |s: &&Source| s.ip_version() == 4;
    let v6 = |s: &&Source| s.ip_version() != 4;
    let candidates: Vec<&Source> = match network.addr {
        IpAddr::V4(_) => sources
            .iter()
            .filter(v4_only)
            .chain(sources.iter().filter(v6))
            .collect(),
        IpAddr::V6(_) => sources.iter().filter(v6).collect(),
    };
    let mut failure = None;
    for source in candidates {
        match lookup(source, network) {
            Ok(place) if !place.country.is_empty() => return Ok(place),
            Ok(_) => {}
            Err(error) => {
                failure.get_or_insert(error);
            }
        }
    }
    failure.map_or_else(|| Ok(Place::default()), Err)
}

/// The place of a whole network in one file: one record, or what all its
/// records agree on.
fn lookup(source: &Source, network: Network) -> Result<Place, MaxMindDbError> {
    let Source { reader, layout } = source;
    let found = reader.lookup(network.addr)?;
    if found.network()?.prefix() <= network.len {
        return Ok(Place::decode(*layout, &found)?.unwrap_or_default());
    }
    let cidr = IpNetwork::new(network.addr, network.len)
        .map_err(|e| MaxMindDbError::invalid_input(e.to_string()))?;
    let mut common: Option<Place> = None;
    for (seen, item) in reader.within(cidr, WithinOptions::default())?.enumerate() {
        let Some(place) = Place::decode(*layout, &item?)? else {
            continue;
        };
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

    fn country(db: &mut GeoDb, network: Network) -> String {
        db.locate(network, || panic!("no lookup error for {network:?}"))
            .country
            .clone()
    }

    /// ip-location-db's two files: IPv4 and IPv6 in flat records.
    fn flat_files() -> [tempfile::NamedTempFile; 2] {
        let v4 = fiducia_testkit::mmdb::write_flat(
            "country ipv4",
            &[
                ["203.0.113.0/24", "IT"],
                // Records finer than the /24 the enricher looks up.
                ["198.51.100.0/25", "FR"],
                ["198.51.100.128/26", "FR"],
                ["192.0.2.0/25", "FR"],
                ["192.0.2.128/25", "DE"],
            ],
        );
        let v6 = fiducia_testkit::mmdb::write_flat(
            "country ipv6",
            &[
                ["2001:db8:1::/48", "DE"],
                ["2001:db8:2::/56", "ES"],
                ["2001:db8:2:100::/56", "ES"],
            ],
        );
        [v4, v6]
    }

    #[test]
    fn each_address_family_is_looked_up_in_the_file_that_covers_it() {
        let [ipv4_file, ipv6_file] = flat_files();
        // The IPv6 file first: IPv4 networks still go to the IPv4 file.
        let mut db = GeoDb::open_all(
            &[ipv6_file.path(), ipv4_file.path()],
            NonZeroUsize::new(16).unwrap(),
        )
        .unwrap();
        assert_eq!(db.database_types(), ["country ipv6", "country ipv4"]);
        for (network, want) in [
            (net(vec![203, 0, 113, 0], 24), "IT"),
            (net(vec![198, 51, 100, 0], 24), "FR"),
            (net(vec![192, 0, 2, 0], 24), ""),
            (net(v6("2001:db8:1::"), 48), "DE"),
            (net(v6("2001:db8:2::"), 48), "ES"),
            (net(v6("::ffff:203.0.113.0"), 120), "IT"),
            // In neither file: empty, and no error.
            (net(vec![100, 64, 0, 0], 24), ""),
            (net(v6("2001:db8:ffff::"), 48), ""),
        ] {
            assert_eq!(country(&mut db, network), want, "{network:?}");
        }
        let place = db.locate(net(vec![203, 0, 113, 0], 24), || {}).clone();
        assert_eq!((place.region.as_str(), place.city.as_str()), ("", ""));
    }

    #[test]
    fn a_network_a_file_does_not_know_is_looked_up_in_the_next() {
        let [flat_v4, _] = flat_files();
        // The GeoIP2-layout fixture knows 198.51.100.0/24 as Italy, the flat
        // file as France: the first file listed wins; 2001:db8:1::/48 is in
        // the fixture only.
        let geoip2 = fixture::file();
        let mut db = GeoDb::open_all(
            &[flat_v4.path(), geoip2.path()],
            NonZeroUsize::new(16).unwrap(),
        )
        .unwrap();
        assert_eq!(country(&mut db, net(vec![198, 51, 100, 0], 24)), "FR");
        assert_eq!(country(&mut db, net(v6("2001:db8:1::"), 48)), "DE");
        let mut db = GeoDb::open_all(
            &[geoip2.path(), flat_v4.path()],
            NonZeroUsize::new(16).unwrap(),
        )
        .unwrap();
        // IPv4-only files are tried first for IPv4, whatever the order.
        assert_eq!(country(&mut db, net(vec![198, 51, 100, 0], 24)), "FR");
        assert_eq!(country(&mut db, net(vec![203, 0, 113, 0], 24)), "IT");
    }

    #[test]
    fn layouts_come_from_the_database_type() {
        for (database_type, want) in [
            ("GeoLite2-City", Some(Layout::GeoIp2)),
            ("GeoIP2-Country", Some(Layout::GeoIp2)),
            ("GeoIP2-Enterprise", Some(Layout::GeoIp2)),
            ("DBIP-City-Lite", Some(Layout::GeoIp2)),
            ("DBIP-Country-Lite", Some(Layout::GeoIp2)),
            ("country ipv4", Some(Layout::Flat)),
            ("country ipv6", Some(Layout::Flat)),
            ("country ipvAll", Some(Layout::Flat)),
            ("city ipv4", Some(Layout::Flat)),
            ("country", Some(Layout::Flat)),
            ("country codes", None),
            ("asn ipv4", None),
            ("GeoLite2-ASN", None),
            ("GeoIP2-Anonymous-IP", None),
            ("asn", None),
            ("Cityscape", None),
        ] {
            assert_eq!(Layout::of(database_type), want, "{database_type}");
        }
    }

    #[test]
    fn a_database_without_locations_is_refused() {
        let asn = fiducia_testkit::mmdb::write_flat("GeoLite2-ASN", &[["203.0.113.0/24", "IT"]]);
        let [v4, _] = flat_files();
        let error =
            GeoDb::open_all(&[v4.path(), asn.path()], NonZeroUsize::new(1).unwrap()).unwrap_err();
        let message = error.to_string();
        assert!(matches!(error, GeoError::Layout { .. }), "{message}");
        assert!(message.contains("\"GeoLite2-ASN\""), "{message}");
        assert!(
            message.contains(&asn.path().display().to_string()),
            "{message}"
        );
    }

    #[test]
    fn a_file_that_is_not_a_database_is_refused() {
        let file = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(file.path(), b"not an mmdb").unwrap();
        let error = GeoDb::open(file.path(), NonZeroUsize::new(1).unwrap()).unwrap_err();
        assert!(error.to_string().contains("geo database"), "{error}");
    }
}
