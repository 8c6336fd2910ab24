//! The client network as the collector left it. The collector truncates
//! every address (IPv4 /24, IPv6 /48) and the schema carries only a prefix,
//! so the enricher never sees a host address; it still checks what it reads,
//! because geo precision must come from a network, never from a host: host
//! bits are cleared and a longer prefix is cut back to /24 or /48.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use fiducia_proto::v1::IpPrefix;

/// Longest IPv4 prefix the enricher works with.
pub const V4_MAX_PREFIX: u8 = 24;
/// Longest IPv6 prefix the enricher works with.
pub const V6_MAX_PREFIX: u8 = 48;

/// A client network: an address with its host bits zero, and the prefix length.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Network {
    /// The network address.
    pub addr: IpAddr,
    /// Its prefix length, at most [`V4_MAX_PREFIX`] or [`V6_MAX_PREFIX`].
    pub len: u8,
}

/// What [`network`] made of a prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Parsed {
    /// The usable network.
    pub network: Network,
    /// True when the prefix was longer than allowed or had host bits set,
    /// and was cut back: a collector bug worth counting.
    pub coarsened: bool,
}

/// The network of `prefix`: `None` when absent or malformed (neither 4 nor 16
/// bytes). IPv4-mapped IPv6 networks (`::ffff:a.b.c.d/120`) are read as IPv4.
#[must_use]
pub fn network(prefix: &IpPrefix) -> Option<Parsed> {
    let len = u8::try_from(prefix.prefix_len).unwrap_or(u8::MAX);
    let (addr, len, max) = match prefix.network.len() {
        4 => {
            let octets: [u8; 4] = prefix.network.as_slice().try_into().ok()?;
            (IpAddr::V4(Ipv4Addr::from(octets)), len, V4_MAX_PREFIX)
        }
        16 => {
            let octets: [u8; 16] = prefix.network.as_slice().try_into().ok()?;
            let v6 = Ipv6Addr::from(octets);
            match v6.to_ipv4_mapped() {
                Some(v4) if len >= 96 => (IpAddr::V4(v4), len - 96, V4_MAX_PREFIX),
                _ => (IpAddr::V6(v6), len, V6_MAX_PREFIX),
            }
        }
        _ => return None,
    };
    let kept = len.min(max);
    let masked = mask(addr, kept);
    Some(Parsed {
        network: Network {
            addr: masked,
            len: kept,
        },
        coarsened: kept != len || masked != addr,
    })
}

/// `addr` with every bit after the first `len` cleared.
fn mask(addr: IpAddr, len: u8) -> IpAddr {
    match addr {
        IpAddr::V4(v4) => {
            let bits = u32::from(v4);
            let keep = u32::MAX.checked_shl(32 - u32::from(len)).unwrap_or(0);
            IpAddr::V4(Ipv4Addr::from(bits & keep))
        }
        IpAddr::V6(v6) => {
            let bits = u128::from(v6);
            let keep = u128::MAX.checked_shl(128 - u32::from(len)).unwrap_or(0);
            IpAddr::V6(Ipv6Addr::from(bits & keep))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prefix(network: Vec<u8>, prefix_len: u32) -> IpPrefix {
        IpPrefix {
            network,
            prefix_len,
        }
    }

    fn v6(s: &str) -> Vec<u8> {
        s.parse::<Ipv6Addr>().unwrap().octets().to_vec()
    }

    #[test]
    fn prefixes_become_networks_no_finer_than_the_policy() {
        for (input, addr, len, coarsened) in [
            (prefix(vec![203, 0, 113, 0], 24), "203.0.113.0", 24, false),
            (prefix(vec![10, 1, 0, 0], 16), "10.1.0.0", 16, false),
            // A full address is cut back to its /24.
            (prefix(vec![203, 0, 113, 77], 32), "203.0.113.0", 24, true),
            // Host bits inside a /24 are cleared.
            (prefix(vec![203, 0, 113, 77], 24), "203.0.113.0", 24, true),
            (prefix(v6("2001:db8:1::"), 48), "2001:db8:1::", 48, false),
            (prefix(v6("2001:db8:1:2::1"), 128), "2001:db8:1::", 48, true),
            // IPv4-mapped IPv6 is IPv4.
            (
                prefix(v6("::ffff:198.51.100.0"), 120),
                "198.51.100.0",
                24,
                false,
            ),
            (
                prefix(v6("::ffff:198.51.100.9"), 128),
                "198.51.100.0",
                24,
                true,
            ),
        ] {
            let parsed = network(&input).unwrap();
            assert_eq!(
                parsed.network,
                Network {
                    addr: addr.parse().unwrap(),
                    len
                },
                "{input:?}"
            );
            assert_eq!(parsed.coarsened, coarsened, "{input:?}");
        }
    }

    #[test]
    fn malformed_prefixes_are_no_network() {
        for input in [
            prefix(vec![], 0),
            prefix(vec![1, 2, 3], 24),
            prefix(vec![0; 17], 48),
        ] {
            assert_eq!(network(&input), None, "{input:?}");
        }
    }

    #[test]
    fn absurd_lengths_do_not_panic() {
        let parsed = network(&prefix(vec![203, 0, 113, 0], u32::MAX)).unwrap();
        assert_eq!(parsed.network.len, 24);
        let parsed = network(&prefix(vec![203, 0, 113, 0], 0)).unwrap();
        assert_eq!(parsed.network.addr, "0.0.0.0".parse::<IpAddr>().unwrap());
    }
}
