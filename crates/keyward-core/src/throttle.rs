//! The failed-attempt throttle's rules: what counts as a failed attempt, which addresses
//! are counted together, and the bounded list of addresses over the limit. The front end
//! counts (a rate limiter) and keeps the list; it asks these rules what to do.
//!
//! ```text
//! counted:  missing_key, malformed, bad_checksum, unknown_key, revoked, expired,
//!           wrong_environment   (after the attempt's audit event and alert)
//! bucket:   an IPv4 address as it is; an IPv6 address by its /64 ("2001:db8:1:2::/64"),
//!           an IPv4-mapped IPv6 address as its IPv4 address
//! refused:  a failed attempt from a blocked bucket; never a credential that passes
//! ```
//!
//! The credential is judged first: a valid key is never refused because others behind
//! the same address (a NAT, a proxy, an office) failed.

use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, Ipv6Addr};

use crate::code::Code;

/// Whether a verdict is a failed attempt the throttle counts: no key, junk, a key nobody
/// holds, or a key that no longer (or never here) works.
pub fn counts(code: Code) -> bool {
    matches!(
        code,
        Code::MissingKey
            | Code::Malformed
            | Code::BadChecksum
            | Code::UnknownKey
            | Code::Revoked
            | Code::Expired
            | Code::WrongEnvironment
    )
}

/// Whether a request with this verdict is refused (429) because its address is blocked:
/// only failed attempts are; a credential that passed, or failed for a scope or a limit
/// of its own, is answered as it would be anywhere.
pub fn refuses(blocked: bool, code: Code) -> bool {
    blocked && counts(code)
}

/// The bucket a client address is counted in: IPv6 by its /64 (one subscriber's
/// network; the other 64 bits are theirs to choose), IPv4 as it is. Text that is no
/// address is its own bucket.
pub fn bucket(ip: &str) -> String {
    match ip.trim().parse::<IpAddr>() {
        Ok(IpAddr::V4(v4)) => v4.to_string(),
        Ok(IpAddr::V6(v6)) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let s = v6.segments();
                let net = Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0);
                format!("{net}/64")
            }
        },
        Err(_) => ip.to_owned(),
    }
}

/// Buckets over the limit, each until a time (ms); at most `capacity` of them, the one
/// blocked longest ago evicted first when a new one comes.
#[derive(Debug)]
pub struct Blocklist {
    capacity: usize,
    until: HashMap<String, (f64, u64)>,
    /// Insertion order: sequence → bucket.
    order: BTreeMap<u64, String>,
    next: u64,
}

impl Blocklist {
    /// An empty list holding at most `capacity` buckets (at least 1).
    pub fn new(capacity: usize) -> Self {
        Blocklist {
            capacity: capacity.max(1),
            until: HashMap::new(),
            order: BTreeMap::new(),
            next: 0,
        }
    }

    /// Whether `bucket` is blocked at `now_ms` (an expired entry is dropped).
    pub fn is_blocked(&mut self, bucket: &str, now_ms: f64) -> bool {
        match self.until.get(bucket) {
            Some(&(until, _)) if until > now_ms => true,
            Some(&(_, seq)) => {
                self.until.remove(bucket);
                self.order.remove(&seq);
                false
            }
            None => false,
        }
    }

    /// Blocks `bucket` until `until_ms`, evicting the oldest entries past capacity.
    pub fn block(&mut self, bucket: &str, until_ms: f64) {
        if let Some((_, seq)) = self.until.remove(bucket) {
            self.order.remove(&seq);
        }
        while self.until.len() >= self.capacity {
            let Some((_, oldest)) = self.order.pop_first() else {
                break;
            };
            self.until.remove(&oldest);
        }
        let seq = self.next;
        self.next += 1;
        self.until.insert(bucket.to_owned(), (until_ms, seq));
        self.order.insert(seq, bucket.to_owned());
    }

    /// How many buckets are held.
    pub fn len(&self) -> usize {
        self.until.len()
    }

    /// Whether none is held.
    pub fn is_empty(&self) -> bool {
        self.until.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key_that_does_not_work_is_a_failed_attempt() {
        for c in [
            Code::MissingKey,
            Code::Malformed,
            Code::BadChecksum,
            Code::UnknownKey,
            Code::Revoked,
            Code::Expired,
            Code::WrongEnvironment,
        ] {
            assert!(counts(c), "{c:?}");
            assert!(refuses(true, c), "{c:?}");
            assert!(!refuses(false, c), "{c:?}");
        }
        // A key that works is never refused for its address, nor one refused for its own
        // scope or limits.
        for c in [
            Code::Valid,
            Code::InsufficientScope,
            Code::RateLimited,
            Code::UsageExceeded,
        ] {
            assert!(!counts(c), "{c:?}");
            assert!(!refuses(true, c), "{c:?}");
        }
    }

    #[test]
    fn ipv6_is_counted_by_its_64() {
        assert_eq!(bucket("2001:db8:1:2:aaaa::1"), "2001:db8:1:2::/64");
        assert_eq!(
            bucket("2001:db8:1:2:ffff:ffff:ffff:ffff"),
            "2001:db8:1:2::/64"
        );
        assert_eq!(bucket("2001:0db8:0001:0002::"), "2001:db8:1:2::/64");
        assert_ne!(bucket("2001:db8:1:3::1"), bucket("2001:db8:1:2::1"));
        assert_eq!(bucket("203.0.113.9"), "203.0.113.9");
        assert_eq!(bucket("::ffff:203.0.113.9"), "203.0.113.9");
        assert_eq!(bucket("not an ip"), "not an ip");
    }

    #[test]
    fn a_full_list_evicts_the_oldest_not_everything() {
        let mut list = Blocklist::new(3);
        for (i, b) in ["a", "b", "c"].iter().enumerate() {
            list.block(b, 1000.0 + i as f64);
        }
        list.block("d", 2000.0);
        assert_eq!(list.len(), 3);
        assert!(!list.is_blocked("a", 0.0), "the oldest went");
        for b in ["b", "c", "d"] {
            assert!(list.is_blocked(b, 0.0), "{b} stays");
        }
        // Blocking again moves a bucket to the back of the line.
        list.block("b", 3000.0);
        list.block("e", 3000.0);
        assert!(!list.is_blocked("c", 0.0));
        assert!(
            list.is_blocked("b", 0.0) && list.is_blocked("d", 0.0) && list.is_blocked("e", 0.0)
        );
        // An entry past its time is no block, and leaves.
        assert!(!list.is_blocked("d", 2000.0));
        assert_eq!(list.len(), 2);
    }
}
