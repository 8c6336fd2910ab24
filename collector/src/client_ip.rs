//! The client's address, and its truncation before anything is published:
//! IPv4 to /24, IPv6 to /48. A full address never leaves this module, nor
//! does a full IPv4 address embedded in an IPv6 one: 6to4 (`2002::/16`,
//! the IPv4 address in bits 16-47) is cut to /40, so its IPv4 to /24, and
//! Teredo (`2001:0::/32`, the relay's IPv4 in bits 32-63, the client's
//! obfuscated in the last 32) to /32.
//!
//! The address is the socket peer's, unless the peer is a configured trusted
//! proxy: then `X-Forwarded-For` is read from the right, skipping trusted
//! hops, and the first untrusted hop is the client (the leftmost entries are
//! whatever the client chose to send, so they are never believed).

use std::net::{IpAddr, Ipv4Addr};

use actix_web::HttpRequest;
use ipnet::IpNet;

use fiducia_proto::v1::IpPrefix;

/// The client address as far as it can be trusted; `None` when unknown.
#[must_use]
pub fn client_ip(request: &HttpRequest, trusted_proxies: &[IpNet]) -> Option<IpAddr> {
    let peer = request.peer_addr()?.ip();
    let forwarded = request
        .headers()
        .get_all("x-forwarded-for")
        .filter_map(|v| v.to_str().ok())
        .collect::<Vec<_>>()
        .join(",");
    Some(resolve(peer, &forwarded, trusted_proxies))
}

/// Walks `X-Forwarded-For` from the right while hops are trusted.
fn resolve(peer: IpAddr, forwarded: &str, trusted: &[IpNet]) -> IpAddr {
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
    if !is_trusted(&peer) {
        return peer;
    }
    let mut client = peer;
    for hop in forwarded
        .rsplit(',')
        .map(str::trim)
        .filter(|h| !h.is_empty())
    {
        let Ok(ip) = hop.parse::<IpAddr>() else {
            // Garbage in the chain: stop at the last address we could trust.
            break;
        };
        client = ip;
        if !is_trusted(&ip) {
            break;
        }
    }
    client
}

/// A truncated network as text, `203.0.113.0/24` or `2001:db8::/48`
/// (empty when it holds no address).
#[must_use]
pub fn prefix_text(prefix: &IpPrefix) -> String {
    let address = match prefix.network.len() {
        4 => <[u8; 4]>::try_from(prefix.network.as_slice()).map(IpAddr::from),
        _ => <[u8; 16]>::try_from(prefix.network.as_slice()).map(IpAddr::from),
    };
    address.map_or_else(|_| String::new(), |a| format!("{a}/{}", prefix.prefix_len))
}

/// The network part only: IPv4 /24, IPv6 /48 (IPv4-mapped IPv6 as IPv4;
/// 6to4 /40 and Teredo /32, whose /48 would hold embedded IPv4 bits).
#[must_use]
pub fn truncate(ip: IpAddr) -> IpPrefix {
    match ip {
        IpAddr::V4(v4) => v4_prefix(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4_prefix(v4),
            None => {
                let segments = v6.segments();
                let prefix_len: u8 = match segments {
                    [0x2002, ..] => 40,
                    [0x2001, 0, ..] => 32,
                    _ => 48,
                };
                let mut octets = v6.octets();
                octets[usize::from(prefix_len / 8)..].fill(0);
                IpPrefix {
                    network: octets.to_vec(),
                    prefix_len: u32::from(prefix_len),
                }
            }
        },
    }
}

fn v4_prefix(v4: Ipv4Addr) -> IpPrefix {
    let mut octets = v4.octets();
    octets[3] = 0;
    IpPrefix {
        network: octets.to_vec(),
        prefix_len: 24,
    }
}

#[cfg(test)]
mod tests {
    use std::net::Ipv6Addr;

    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn a_truncated_network_reads_as_cidr() {
        let v4 = truncate("203.0.113.77".parse().unwrap());
        assert_eq!(prefix_text(&v4), "203.0.113.0/24");
        let v6 = truncate("2001:db8:1234:5678::1".parse().unwrap());
        assert_eq!(prefix_text(&v6), "2001:db8:1234::/48");
        assert_eq!(prefix_text(&IpPrefix::default()), "");
    }

    #[test]
    fn addresses_are_truncated_to_their_network() {
        for (input, network, len) in [
            ("203.0.113.77", vec![203, 0, 113, 0], 24),
            ("::ffff:198.51.100.9", vec![198, 51, 100, 0], 24),
            (
                "2001:db8:abcd:12:34:56:78:9a",
                "2001:db8:abcd::"
                    .parse::<Ipv6Addr>()
                    .unwrap()
                    .octets()
                    .to_vec(),
                48,
            ),
        ] {
            let prefix = truncate(ip(input));
            assert_eq!(prefix.network, network, "{input}");
            assert_eq!(prefix.prefix_len, len, "{input}");
        }
    }

    #[test]
    fn embedded_ipv4_addresses_keep_no_more_than_their_network() {
        // 6to4 of 192.0.2.77: 2002:c000:024d::/48 would be the whole address.
        let six_to_four = truncate(ip("2002:c000:24d:1::5"));
        assert_eq!(six_to_four.prefix_len, 40);
        assert_eq!(
            six_to_four.network,
            "2002:c000:200::".parse::<Ipv6Addr>().unwrap().octets()
        );
        // Teredo: relay 65.54.227.120, client 192.0.2.45 obfuscated.
        let teredo = truncate(ip("2001:0:4136:e378:8000:63bf:3fff:fdd2"));
        assert_eq!(teredo.prefix_len, 32);
        assert!(teredo.network[4..].iter().all(|b| *b == 0));
        // Other 2001: networks are ordinary /48s.
        assert_eq!(truncate(ip("2001:db8:1:2::1")).prefix_len, 48);
    }

    #[test]
    fn no_host_bits_survive() {
        let prefix = truncate(ip("2001:db8:ffff:ffff:ffff:ffff:ffff:ffff"));
        assert!(prefix.network[6..].iter().all(|b| *b == 0));
    }

    #[test]
    fn forwarded_for_is_believed_only_from_trusted_proxies() {
        let trusted: Vec<IpNet> = vec!["10.0.0.0/8".parse().unwrap()];
        // Untrusted peer: its header is ignored.
        assert_eq!(
            resolve(ip("203.0.113.1"), "198.51.100.1", &trusted),
            ip("203.0.113.1")
        );
        // Trusted peer: the rightmost untrusted hop is the client.
        assert_eq!(
            resolve(ip("10.0.0.2"), "6.6.6.6, 198.51.100.1, 10.0.0.9", &trusted),
            ip("198.51.100.1")
        );
        // Trusted peer without a header: the peer is all we know.
        assert_eq!(resolve(ip("10.0.0.2"), "", &trusted), ip("10.0.0.2"));
        // Garbage stops the walk at the last trusted hop.
        assert_eq!(
            resolve(ip("10.0.0.2"), "198.51.100.1, bogus", &trusted),
            ip("10.0.0.2")
        );
    }

    mod properties {
        use proptest::prelude::*;

        proptest! {
            /// No host bit of any client address survives truncation.
            #[test]
            fn truncation_keeps_no_host_bits(ip in any::<std::net::IpAddr>()) {
                let prefix = super::super::truncate(ip);
                let kept = usize::try_from(prefix.prefix_len / 8).unwrap();
                prop_assert!(prefix.prefix_len == 24 || prefix.prefix_len == 48);
                prop_assert!(prefix.network[kept..].iter().all(|b| *b == 0));
            }
        }
    }
}
