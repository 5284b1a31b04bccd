//! Who the client is: the TCP peer, or, behind trusted proxies only, the address they
//! report in `X-Forwarded-For` (or RFC 7239 `Forwarded`).

use std::net::{IpAddr, SocketAddr};

use crate::audit::PeerAddr;
use std::str::FromStr;

use http::{Extensions, HeaderMap};
use ipnet::IpNet;

/// Which header trusted proxies report the client in.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ForwardedHeader {
    /// `X-Forwarded-For: client, proxy1, proxy2` (the default).
    #[default]
    XForwardedFor,
    /// RFC 7239 `Forwarded: for=client, for=proxy1`.
    Forwarded,
}

/// The proxies whose reports of the client's address are believed.
///
/// Without any (the default), forwarding headers are ignored and the client is the TCP
/// peer: an attacker cannot rotate addresses by writing headers. Behind trusted proxies, the
/// header's addresses are walked from the right (the nearest hop first), skipping trusted
/// ones; the first address that is not a trusted proxy is the client. Only the configured
/// header is read: a proxy that appends to `X-Forwarded-For` leaves a `Forwarded` header the
/// client wrote untouched, and the reverse.
///
/// ```
/// use tower_jwt_auth::throttle::TrustedProxies;
///
/// let proxies = TrustedProxies::parse("10.0.0.0/8, 192.0.2.1").unwrap();
/// let mut headers = http::HeaderMap::new();
/// headers.insert("x-forwarded-for", "6.6.6.6, 203.0.113.9, 10.1.2.3".parse().unwrap());
/// // The nearest untrusted hop: what the trusted proxies saw, whatever the client wrote.
/// let peer = "10.0.0.1".parse().ok();
/// assert_eq!(proxies.client(peer, &headers), "203.0.113.9".parse().ok());
/// // A request that does not come through a trusted proxy is its peer.
/// assert_eq!(proxies.client("203.0.113.5".parse().ok(), &headers), "203.0.113.5".parse().ok());
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[must_use = "settings do nothing until given to the auth service"]
pub struct TrustedProxies {
    nets: Vec<IpNet>,
    header: ForwardedHeader,
}

impl TrustedProxies {
    /// No trusted proxy: the client is the TCP peer.
    pub fn none() -> Self {
        Self::default()
    }

    /// Proxies at these addresses or networks.
    pub fn new(nets: impl IntoIterator<Item = IpNet>) -> Self {
        Self {
            nets: nets.into_iter().collect(),
            header: ForwardedHeader::default(),
        }
    }

    /// Comma-separated addresses or CIDRs (`10.0.0.0/8, 192.0.2.1, ::1`); empty: none.
    pub fn parse(list: &str) -> Result<Self, String> {
        let nets = list
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| {
                IpNet::from_str(s)
                    .or_else(|_| IpAddr::from_str(s).map(IpNet::from))
                    .map_err(|_| format!("{s:?} is not an address or a CIDR"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self::new(nets))
    }

    /// The header the proxies report the client in (default `X-Forwarded-For`).
    pub fn header(mut self, header: ForwardedHeader) -> Self {
        self.header = header;
        self
    }

    /// Whether `addr` is a trusted proxy.
    pub fn trusts(&self, addr: IpAddr) -> bool {
        let addr = canonical(addr);
        self.nets.iter().any(|net| net.contains(&addr))
    }

    /// The client of a request from `peer` with `headers`; `None` when the peer is unknown,
    /// or when a hop the walk reaches says nothing usable (the client's keys are then off,
    /// rather than every client behind the proxy sharing one).
    pub fn client(&self, peer: Option<IpAddr>, headers: &HeaderMap) -> Option<IpAddr> {
        let mut client = canonical(peer?);
        if !self.trusts(client) {
            return Some(client);
        }
        let name = match self.header {
            ForwardedHeader::XForwardedFor => "x-forwarded-for",
            ForwardedHeader::Forwarded => "forwarded",
        };
        // Every value of the header, in order, as one list, walked from the right. Read as
        // bytes: a value the client wrote part of may hold any byte, and the hops a trusted
        // proxy appended to it are still to be read.
        let values: Vec<&[u8]> = headers.get_all(name).iter().map(|v| v.as_bytes()).collect();
        for value in values.iter().rev() {
            for hop in value.rsplit(|&b| b == b',') {
                let hop = std::str::from_utf8(hop)
                    .ok()
                    .and_then(|hop| match self.header {
                        ForwardedHeader::XForwardedFor => parse_hop(hop),
                        ForwardedHeader::Forwarded => forwarded_for(hop).and_then(parse_hop),
                    });
                client = canonical(hop?);
                if !self.trusts(client) {
                    return Some(client);
                }
            }
        }
        // Every hop a trusted proxy: the farthest.
        Some(client)
    }
}

/// The `for=` of one element of a `Forwarded` header.
fn forwarded_for(element: &str) -> Option<&str> {
    element.split(';').find_map(|pair| {
        let (name, value) = pair.split_once('=')?;
        name.trim()
            .eq_ignore_ascii_case("for")
            .then(|| value.trim().trim_matches('"'))
    })
}

/// An address as a hop names it: `192.0.2.1`, `192.0.2.1:443`, `2001:db8::1`,
/// `[2001:db8::1]:443`.
fn parse_hop(hop: &str) -> Option<IpAddr> {
    let hop = hop.trim();
    IpAddr::from_str(hop)
        .ok()
        .or_else(|| SocketAddr::from_str(hop).ok().map(|s| s.ip()))
        .or_else(|| {
            let inner = hop.strip_prefix('[')?.strip_suffix(']')?;
            IpAddr::from_str(inner).ok()
        })
}

/// IPv4-mapped IPv6 addresses as the IPv4 address they are (one client, one key).
fn canonical(addr: IpAddr) -> IpAddr {
    match addr {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(addr, IpAddr::V4),
        v4 => v4,
    }
}

/// The TCP peer a request's extensions name as [`PeerAddr`].
pub(crate) fn peer(extensions: &Extensions) -> Option<IpAddr> {
    extensions.get::<PeerAddr>().map(|p| p.0.ip())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        h
    }

    fn ip(s: &str) -> Option<IpAddr> {
        s.parse().ok()
    }

    #[test]
    fn without_trusted_proxies_headers_are_ignored() {
        let none = TrustedProxies::none();
        let h = headers(&[("x-forwarded-for", "1.2.3.4"), ("forwarded", "for=1.2.3.4")]);
        assert_eq!(none.client(ip("192.0.2.1"), &h), ip("192.0.2.1"));
        assert_eq!(none.client(None, &h), None);
    }

    #[test]
    fn walks_from_the_right_skipping_trusted_hops() {
        let p = TrustedProxies::parse("10.0.0.0/8, ::1").unwrap();
        let h = headers(&[
            ("x-forwarded-for", "9.9.9.9, 8.8.8.8"),
            ("x-forwarded-for", "203.0.113.9:5000, 10.0.0.7"),
        ]);
        assert_eq!(p.client(ip("::1"), &h), ip("203.0.113.9"));
        // Only trusted hops: the leftmost one.
        let h = headers(&[("x-forwarded-for", "10.0.0.9")]);
        assert_eq!(p.client(ip("10.0.0.1"), &h), ip("10.0.0.9"));
        // Garbage where the client should be: unknown (not the proxy, which every client
        // behind it would share).
        let h = headers(&[("x-forwarded-for", "1.1.1.1, nonsense, 10.0.0.3")]);
        assert_eq!(p.client(ip("10.0.0.1"), &h), None);
        // Bytes the client wrote do not hide what the proxy appended.
        let mut h = HeaderMap::new();
        h.append(
            "x-forwarded-for",
            http::HeaderValue::from_bytes(b"\xff\xfe, 203.0.113.9").unwrap(),
        );
        assert_eq!(p.client(ip("10.0.0.1"), &h), ip("203.0.113.9"));
        // No header: the proxy itself.
        assert_eq!(p.client(ip("10.0.0.1"), &HeaderMap::new()), ip("10.0.0.1"));
        // IPv4-mapped peers are their IPv4 address.
        assert_eq!(
            TrustedProxies::none().client(ip("::ffff:192.0.2.1"), &HeaderMap::new()),
            ip("192.0.2.1")
        );
    }

    #[test]
    fn forwarded_is_read_only_when_configured() {
        let p = TrustedProxies::parse("10.0.0.1").unwrap();
        let h = headers(&[
            (
                "forwarded",
                r#"for=6.6.6.6, for="[2001:db8::7]:4711";proto=https"#,
            ),
            ("x-forwarded-for", "203.0.113.9"),
        ]);
        assert_eq!(p.client(ip("10.0.0.1"), &h), ip("203.0.113.9"));
        let p = p.header(ForwardedHeader::Forwarded);
        assert_eq!(p.client(ip("10.0.0.1"), &h), ip("2001:db8::7"));
        assert!(TrustedProxies::parse("10.0.0.0/33").is_err());
        assert!(TrustedProxies::parse("").unwrap() == TrustedProxies::none());
    }
}
