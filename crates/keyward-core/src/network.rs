//! Allowed client networks: CIDR blocks, IPv4 and IPv6, and the client address matched
//! against them.
//!
//! ```text
//! block    = address [ "/" prefix ]      ; a bare address is its /32 or /128
//! address  = IPv4 / IPv6                 ; no zone id ("fe80::1%eth0" is refused)
//! prefix   = 0-32 (IPv4), 0-128 (IPv6)   ; host bits past the prefix must be zero
//! ```
//!
//! An IPv4-mapped IPv6 address (`::ffff:203.0.113.9`) is its IPv4 address, both as a client
//! and as a block (`::ffff:203.0.113.0/120` is `203.0.113.0/24`). A zone id is refused, not
//! stripped: it names an interface of the host that wrote it, so it means nothing to
//! keyward, and silently dropping it would turn one link-local address into another.
//!
//! ```
//! use keyward_core::{Networks, client_ip};
//! let allowed = Networks::parse(&["203.0.113.0/24", "2001:db8::/32"]).unwrap();
//! assert!(allowed.admits(client_ip("::ffff:203.0.113.9").unwrap()));
//! assert!(!allowed.admits(client_ip("198.51.100.1").unwrap()));
//! ```

use core::fmt;
use core::str::FromStr;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// At most this many blocks on one key.
pub const MAX_NETWORKS: usize = 100;

/// One CIDR block, canonical: IPv4-mapped blocks are IPv4, host bits are zero.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Network {
    v6: bool,
    /// The address as a number (IPv4 in the low 32 bits).
    bits: u128,
    prefix: u8,
}

/// Why a block or a list of blocks was refused; the message names the block.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NetworkError(String);

impl fmt::Display for NetworkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for NetworkError {}

impl Network {
    fn width(v6: bool) -> u8 {
        if v6 { 128 } else { 32 }
    }

    fn mask(v6: bool, prefix: u8) -> u128 {
        let width = Self::width(v6);
        let all = if v6 { u128::MAX } else { u128::from(u32::MAX) };
        if prefix == 0 {
            0
        } else {
            all & (all << (width - prefix))
        }
    }

    /// The block's length in bits (`/24` is 24).
    pub fn prefix(&self) -> u8 {
        self.prefix
    }

    /// Whether the block holds the (canonical) address.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let (v6, bits) = number(ip);
        v6 == self.v6 && bits & Self::mask(v6, self.prefix) == self.bits
    }

    /// Whether every address of `other` lies in this block.
    pub fn covers(&self, other: &Network) -> bool {
        self.v6 == other.v6
            && self.prefix <= other.prefix
            && other.bits & Self::mask(self.v6, self.prefix) == self.bits
    }

    /// The two halves of the block, or `None` for a single address.
    fn halves(&self) -> Option<(Network, Network)> {
        let width = Self::width(self.v6);
        if self.prefix >= width {
            return None;
        }
        let prefix = self.prefix + 1;
        let high = 1u128 << (width - prefix);
        let half = |bits| Network {
            v6: self.v6,
            bits,
            prefix,
        };
        Some((half(self.bits), half(self.bits | high)))
    }
}

/// An address as (is IPv6, number), IPv4-mapped IPv6 as IPv4.
fn number(ip: IpAddr) -> (bool, u128) {
    match ip.to_canonical() {
        IpAddr::V4(v4) => (false, u128::from(u32::from(v4))),
        IpAddr::V6(v6) => (true, u128::from(v6)),
    }
}

/// Parses a client address (`CF-Connecting-IP`, `context.ip`, a socket's address): IPv4 or
/// IPv6, IPv4-mapped IPv6 read as IPv4. `None` for anything else, zone ids included: a
/// use from an address keyward cannot read is a use from an unknown address.
pub fn client_ip(s: &str) -> Option<IpAddr> {
    s.trim().parse::<IpAddr>().ok().map(|ip| ip.to_canonical())
}

impl FromStr for Network {
    type Err = NetworkError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad =
            |why: &str| NetworkError(format!("'{}' is not a CIDR block: {why}", s.escape_debug()));
        if s.contains('%') {
            return Err(bad("zone ids are not allowed"));
        }
        let (addr, prefix) = match s.split_once('/') {
            Some((addr, prefix)) => (addr, Some(prefix)),
            None => (s, None),
        };
        let ip: IpAddr = addr
            .parse()
            .map_err(|_| bad("expected an IPv4 or IPv6 address"))?;
        let width = match ip {
            IpAddr::V4(_) => 32,
            IpAddr::V6(_) => 128,
        };
        let prefix = match prefix {
            None => width,
            Some(p) if !p.is_empty() && p.len() <= 3 && p.bytes().all(|b| b.is_ascii_digit()) => p
                .parse::<u8>()
                .ok()
                .filter(|&n| n <= width)
                .ok_or_else(|| bad(&format!("the prefix length must be 0 to {width}")))?,
            Some(_) => return Err(bad(&format!("the prefix length must be 0 to {width}"))),
        };
        let (mut v6, mut bits) = match ip {
            IpAddr::V4(v4) => (false, u128::from(u32::from(v4))),
            IpAddr::V6(v6) => (true, u128::from(v6)),
        };
        let mut prefix = prefix;
        // ::ffff:a.b.c.d/96+ is the IPv4 block a.b.c.d/(prefix - 96).
        if v6 && prefix >= 96 && bits >> 32 == 0xffff {
            v6 = false;
            bits &= u128::from(u32::MAX);
            prefix -= 96;
        }
        if bits & !Network::mask(v6, prefix) != 0 {
            let canonical = Network {
                v6,
                bits: bits & Network::mask(v6, prefix),
                prefix,
            };
            return Err(bad(&format!(
                "bits are set past the prefix (the block is '{canonical}')"
            )));
        }
        Ok(Network { v6, bits, prefix })
    }
}

impl fmt::Display for Network {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.v6 {
            write!(f, "{}/{}", Ipv6Addr::from(self.bits), self.prefix)
        } else {
            // Lossless: an IPv4 block keeps its number in the low 32 bits.
            let v4 = u32::try_from(self.bits & u128::from(u32::MAX)).unwrap_or(0);
            write!(f, "{}/{}", Ipv4Addr::from(v4), self.prefix)
        }
    }
}

impl fmt::Debug for Network {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Network({self})")
    }
}

/// A key's allowed client networks: at most [`MAX_NETWORKS`] blocks, kept sorted and
/// without duplicates. Empty means the key is not restricted by address.
#[derive(Clone, Default, PartialEq, Eq, Hash)]
pub struct Networks(Vec<Network>);

impl Networks {
    /// Parses a list of blocks.
    ///
    /// # Errors
    /// [`NetworkError`] for a block that is not CIDR, or more than [`MAX_NETWORKS`].
    pub fn parse<S: AsRef<str>>(blocks: &[S]) -> Result<Self, NetworkError> {
        if blocks.len() > MAX_NETWORKS {
            return Err(NetworkError(format!(
                "at most {MAX_NETWORKS} allowed networks, got {}",
                blocks.len()
            )));
        }
        let mut list = blocks
            .iter()
            .map(|b| b.as_ref().parse())
            .collect::<Result<Vec<Network>, _>>()?;
        crate::order::sort(&mut list);
        list.dedup();
        Ok(Networks(list))
    }

    /// Whether there are no blocks (the key is not restricted by address).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether the key is restricted by address at all.
    pub fn is_restricted(&self) -> bool {
        !self.0.is_empty()
    }

    /// The blocks.
    pub fn iter(&self) -> impl Iterator<Item = &Network> {
        self.0.iter()
    }

    /// Whether a use from `client` is admitted: always when unrestricted; otherwise only
    /// from a known address inside a block (`None`, an unknown address, is refused).
    pub fn admits_client(&self, client: Option<IpAddr>) -> bool {
        !self.is_restricted() || client.is_some_and(|ip| self.admits(ip))
    }

    /// Whether `ip` lies inside one of the blocks (false when there are none).
    pub fn admits(&self, ip: IpAddr) -> bool {
        self.0.iter().any(|n| n.contains(ip))
    }

    /// Whether every address `inner` admits, this admits too: an unrestricted list
    /// contains everything and is contained only by an unrestricted one. Exact for blocks
    /// covered by several smaller ones together (`10.0.0.0/24` lies inside
    /// `10.0.0.0/25` + `10.0.0.128/25`).
    pub fn contains_all(&self, inner: &Networks) -> bool {
        if !self.is_restricted() {
            return true;
        }
        inner.is_restricted() && inner.0.iter().all(|b| self.covers(b))
    }

    /// Whether the union of the blocks covers `block`: one block holds it, or it is split
    /// where a smaller block lies inside it and both halves are covered. Each split needs
    /// a block strictly inside, so the work is bounded by blocks × prefix bits.
    fn covers(&self, block: &Network) -> bool {
        if self.0.iter().any(|n| n.covers(block)) {
            return true;
        }
        if !self.0.iter().any(|n| block.covers(n)) {
            return false;
        }
        match block.halves() {
            Some((low, high)) => self.covers(&low) && self.covers(&high),
            None => false,
        }
    }
}

impl fmt::Debug for Networks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.0.iter()).finish()
    }
}

impl serde::Serialize for Networks {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.0.iter().map(ToString::to_string))
    }
}

impl<'de> serde::Deserialize<'de> for Networks {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let list = Vec::<String>::deserialize(d)?;
        Networks::parse(&list).map_err(serde::de::Error::custom)
    }
}

#[cfg(feature = "schema")]
impl schemars::JsonSchema for Networks {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Networks".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "array",
            "maxItems": MAX_NETWORKS,
            "items": {"type": "string", "description": "an IPv4 or IPv6 CIDR block; a bare address is its /32 or /128"},
            "description": "allowed client networks; empty or absent: any address"
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn nets(b: &[&str]) -> Networks {
        Networks::parse(b).unwrap()
    }

    fn ip(s: &str) -> IpAddr {
        client_ip(s).unwrap()
    }

    #[test]
    fn bare_addresses_are_single_address_blocks() {
        let n = nets(&["203.0.113.9", "2001:db8::1"]);
        assert!(n.admits(ip("203.0.113.9")));
        assert!(!n.admits(ip("203.0.113.10")));
        assert!(n.admits(ip("2001:db8::1")));
        assert!(!n.admits(ip("2001:db8::2")));
        assert_eq!(
            format!("{n:?}"),
            "[Network(203.0.113.9/32), Network(2001:db8::1/128)]"
        );
    }

    #[test]
    fn mapped_addresses_match_ipv4_blocks_both_ways() {
        let v4 = nets(&["203.0.113.0/24"]);
        assert!(v4.admits(ip("::ffff:203.0.113.9")));
        let mapped = nets(&["::ffff:203.0.113.0/120"]);
        assert_eq!(mapped, v4);
        assert!(mapped.admits(ip("203.0.113.200")));
        // The IPv4-compatible (deprecated) form is not mapped.
        assert!(!v4.admits(ip("::203.0.113.9")));
    }

    #[test]
    fn zero_prefixes_cover_one_family() {
        let all4 = nets(&["0.0.0.0/0"]);
        assert!(all4.admits(ip("198.51.100.7")));
        assert!(!all4.admits(ip("2001:db8::1")));
        let all6 = nets(&["::/0"]);
        assert!(all6.admits(ip("2001:db8::1")));
        assert!(!all6.admits(ip("198.51.100.7")), "a mapped client is IPv4");
    }

    #[test]
    fn refuses_zone_ids_host_bits_and_bad_prefixes() {
        for bad in [
            "fe80::1%eth0",
            "fe80::1%1/64",
            "10.0.0.1/8",
            "10.0.0.0/33",
            "::/129",
            "10.0.0.0/",
            "10.0.0.0/+8",
            "10.0.0.0/008x",
            "10.0.0",
            "",
            " 10.0.0.0/8",
        ] {
            assert!(Networks::parse(&[bad]).is_err(), "{bad}");
        }
        let e = Networks::parse(&["10.0.0.1/8"]).unwrap_err();
        assert!(e.to_string().contains("'10.0.0.0/8'"), "{e}");
        assert!(client_ip("fe80::1%eth0").is_none());
    }

    #[test]
    fn at_most_a_hundred_blocks() {
        let blocks: Vec<String> = (0..=100).map(|i| format!("10.0.{i}.0/24")).collect();
        assert!(Networks::parse(&blocks[..100]).is_ok());
        assert!(Networks::parse(&blocks).is_err());
    }

    #[test]
    fn unknown_clients_fail_closed() {
        assert!(Networks::default().admits_client(None));
        assert!(!nets(&["0.0.0.0/0", "::/0"]).admits_client(None));
    }

    #[test]
    fn containment_of_blocks() {
        let outer = nets(&["10.0.0.0/25", "10.0.0.128/25", "2001:db8::/32"]);
        assert!(
            outer.contains_all(&nets(&["10.0.0.0/24"])),
            "two halves cover the whole"
        );
        assert!(outer.contains_all(&nets(&["10.0.0.7", "2001:db8:1::/48"])));
        assert!(!outer.contains_all(&nets(&["10.0.0.0/23"])));
        assert!(!outer.contains_all(&nets(&["10.0.1.1"])));
        assert!(
            !outer.contains_all(&Networks::default()),
            "unrestricted is wider"
        );
        assert!(Networks::default().contains_all(&outer));
        let overlapping = nets(&["10.0.0.0/8", "10.1.0.0/16"]);
        assert!(overlapping.contains_all(&nets(&["10.1.2.0/24"])));
        assert!(!nets(&["0.0.0.0/1", "128.0.0.0/2"]).contains_all(&nets(&["0.0.0.0/0"])));
        assert!(nets(&["0.0.0.0/1", "128.0.0.0/1"]).contains_all(&nets(&["0.0.0.0/0"])));
    }
}
