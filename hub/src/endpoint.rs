//! The endpoint agents are told to dial (published in `cceone-hub-info`, rendered by `cceonectl
//! cluster register`) and the names the hub's serving certificate carries so agents can verify
//! it. An explicit public endpoint wins; else the listen address when it is a specific one; a
//! hub on `0.0.0.0` or `::` cannot be dialled at that address, so it falls back to this host's
//! first usable non-loopback address, and says so. The choice is a pure function of the listen
//! address and the host's addresses; [`host_addresses`] is the only I/O.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// How the advertised endpoint was chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// Given as the public endpoint.
    Explicit,
    /// The (specific) listen address.
    ListenAddress,
    /// The hub listens on every address; this host's first usable non-loopback address.
    HostAddress,
    /// The hub listens on every address and the host has no other: loopback, reachable only
    /// from this host.
    Loopback,
}

/// The endpoint agents are told to dial.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Advertised {
    /// `host:port` (IPv6 bracketed).
    pub endpoint: String,
    /// How it was chosen.
    pub source: Source,
}

impl Advertised {
    /// Choose the endpoint: `explicit` when non-blank, else from the bound address and the
    /// host's addresses (in interface order).
    pub fn choose(explicit: &str, bound: SocketAddr, host_addrs: &[IpAddr]) -> Advertised {
        let explicit = explicit.trim();
        if !explicit.is_empty() {
            return Advertised {
                endpoint: explicit.to_string(),
                source: Source::Explicit,
            };
        }
        let (ip, source) = if !bound.ip().is_unspecified() {
            (bound.ip(), Source::ListenAddress)
        } else if let Some(ip) = first_dialable(bound.ip(), host_addrs) {
            (ip, Source::HostAddress)
        } else {
            (loopback_of(bound.ip()), Source::Loopback)
        };
        Advertised {
            endpoint: SocketAddr::new(ip, bound.port()).to_string(),
            source,
        }
    }

    /// Why the operator should look at this choice, when they should: a warning to log.
    pub fn warning(&self) -> Option<String> {
        match self.source {
            Source::Explicit | Source::ListenAddress => None,
            Source::HostAddress => Some(format!(
                "the hub listens on every address and no public endpoint was given: agents are told to dial {}, this host's first non-loopback address; pass --public-endpoint HOST:PORT if they reach the hub another way",
                self.endpoint
            )),
            Source::Loopback => Some(format!(
                "the hub listens on every address, no public endpoint was given and this host has no non-loopback address: agents are told to dial {}, which only agents on this host can reach; pass --public-endpoint HOST:PORT",
                self.endpoint
            )),
        }
    }
}

/// An address an agent elsewhere can dial: not loopback, unspecified or multicast, and not IPv6
/// link-local (dialling that needs a zone the endpoint string cannot carry).
fn dialable(ip: &IpAddr) -> bool {
    let v6_link_local = matches!(ip, IpAddr::V6(v6) if v6.segments()[0] & 0xffc0 == 0xfe80);
    !(ip.is_loopback() || ip.is_unspecified() || ip.is_multicast() || v6_link_local)
}

/// The first dialable address of the listen address's family; for `::` (which takes IPv4 too
/// on a dual-stack host) IPv6 first, then IPv4.
fn first_dialable(listen: IpAddr, host_addrs: &[IpAddr]) -> Option<IpAddr> {
    let of = |v4: bool| {
        host_addrs
            .iter()
            .copied()
            .find(|ip| ip.is_ipv4() == v4 && dialable(ip))
    };
    match listen {
        IpAddr::V4(_) => of(true),
        IpAddr::V6(_) => of(false).or_else(|| of(true)),
    }
}

fn loopback_of(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::LOCALHOST),
    }
}

/// The host of a `host:port` endpoint, without IPv6 brackets.
fn host_of(endpoint: &str) -> Option<&str> {
    let (host, _) = endpoint.rsplit_once(':')?;
    Some(host.trim_start_matches('[').trim_end_matches(']')).filter(|h| !h.is_empty())
}

/// The serving certificate's names beyond its defaults (localhost and loopback): `extra`, the
/// hosts of the advertised and private endpoints, the listen address when specific, and when
/// the hub listens on every address each of the host's dialable addresses, so an agent told
/// any of them (or an endpoint chosen before an address changed) still verifies the hub.
pub fn certificate_names(
    extra: &[String],
    advertised: &str,
    private: Option<&str>,
    bound: SocketAddr,
    host_addrs: &[IpAddr],
) -> Vec<String> {
    let mut names: Vec<String> = extra.to_vec();
    let mut push = |name: String| {
        if !names.contains(&name) {
            names.push(name);
        }
    };
    for ep in std::iter::once(advertised).chain(private) {
        if let Some(host) = host_of(ep) {
            push(host.to_string());
        }
    }
    if bound.ip().is_unspecified() {
        for ip in host_addrs.iter().filter(|ip| dialable(ip)) {
            push(ip.to_string());
        }
    } else {
        push(bound.ip().to_string());
    }
    names
}

/// Where a client on this host reaches the hub: the listen address, or loopback when it
/// listens on every address (what `cceone up`'s own agents dial; loopback is always in the
/// certificate).
pub fn local_endpoint(bound: SocketAddr) -> SocketAddr {
    if bound.ip().is_unspecified() {
        SocketAddr::new(loopback_of(bound.ip()), bound.port())
    } else {
        bound
    }
}

/// This host's interface addresses, loopback left out, interfaces that are up first (each group
/// in interface order). Empty when they cannot be listed.
pub fn host_addresses() -> Vec<IpAddr> {
    match if_addrs::get_if_addrs() {
        Ok(mut ifaces) => {
            ifaces.retain(|i| !i.is_loopback());
            // A stable sort keeps the interface order within each group.
            ifaces.sort_by_key(|i| !i.is_oper_up());
            ifaces.iter().map(if_addrs::Interface::ip).collect()
        }
        Err(e) => {
            tracing::warn!(error = %e, "cannot list this host's addresses");
            Vec::new()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ips(list: &[&str]) -> Vec<IpAddr> {
        list.iter().filter_map(|s| s.parse().ok()).collect()
    }

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn the_advertised_endpoint() {
        let host = ips(&["fe80::1", "192.0.2.2", "fd00::2", "10.0.0.5"]);
        let cases: [(&str, &str, &[IpAddr], &str, Source); 9] = [
            // Explicit wins, even over a specific listen address.
            (
                "hub.example.com:443",
                "10.231.0.1:9443",
                &host,
                "hub.example.com:443",
                Source::Explicit,
            ),
            (
                "10.231.0.1:9443",
                "10.231.0.1:0",
                &[],
                "10.231.0.1:9443",
                Source::Explicit,
            ),
            // A specific listen address is itself the endpoint (the bound port).
            (
                "",
                "10.231.0.1:34567",
                &host,
                "10.231.0.1:34567",
                Source::ListenAddress,
            ),
            (
                " ",
                "127.0.0.1:9443",
                &host,
                "127.0.0.1:9443",
                Source::ListenAddress,
            ),
            (
                "",
                "[fd00::9]:9443",
                &host,
                "[fd00::9]:9443",
                Source::ListenAddress,
            ),
            // Every address: the first dialable one of the family.
            (
                "",
                "0.0.0.0:9443",
                &host,
                "192.0.2.2:9443",
                Source::HostAddress,
            ),
            (
                "",
                "[::]:9443",
                &host,
                "[fd00::2]:9443",
                Source::HostAddress,
            ),
            (
                "",
                "[::]:9443",
                &ips(&["fe80::1", "10.0.0.5"]),
                "10.0.0.5:9443",
                Source::HostAddress,
            ),
            // Nothing but loopback.
            (
                "",
                "0.0.0.0:9443",
                &ips(&["fe80::1", "224.0.0.1"]),
                "127.0.0.1:9443",
                Source::Loopback,
            ),
        ];
        for (explicit, bound, host, want, source) in cases {
            let got = Advertised::choose(explicit, addr(bound), host);
            assert_eq!(
                (got.endpoint.as_str(), got.source),
                (want, source),
                "{explicit:?} {bound} {host:?}"
            );
            let warns = got.warning();
            assert_eq!(
                warns.is_some(),
                matches!(source, Source::HostAddress | Source::Loopback),
                "{warns:?}"
            );
            if let Some(w) = warns {
                assert!(w.contains(want) && w.contains("--public-endpoint"), "{w}");
            }
        }
    }

    #[test]
    fn the_certificate_names_the_endpoint_agents_dial() {
        let host = ips(&["192.0.2.2", "fe80::1", "fd00::2"]);
        let names = certificate_names(
            &["hub.internal".into()],
            "hub.example.com:443",
            Some("[fd00::7]:9443"),
            addr("10.231.0.1:9443"),
            &host,
        );
        assert_eq!(
            names,
            ["hub.internal", "hub.example.com", "fd00::7", "10.231.0.1"]
        );
        // On every address: the advertised one and every other dialable address.
        let bound = addr("0.0.0.0:9443");
        let adv = Advertised::choose("", bound, &host);
        let names = certificate_names(&[], &adv.endpoint, None, bound, &host);
        assert_eq!(names, ["192.0.2.2", "fd00::2"]);
    }

    #[test]
    fn local_clients_dial_loopback_only_for_a_wildcard() {
        assert_eq!(local_endpoint(addr("0.0.0.0:9443")), addr("127.0.0.1:9443"));
        assert_eq!(local_endpoint(addr("[::]:9443")), addr("[::1]:9443"));
        assert_eq!(
            local_endpoint(addr("10.231.0.1:9443")),
            addr("10.231.0.1:9443")
        );
    }

    #[test]
    fn host_addresses_leave_loopback_out() {
        assert!(host_addresses().iter().all(|ip| !ip.is_loopback()));
    }
}
