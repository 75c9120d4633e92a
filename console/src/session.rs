//! Console sessions and one-time sign-in links, held in memory only (a restart signs everyone
//! out). A session maps a random cookie value to the bearer token the user signed in with, so
//! the token never reaches the page's script or its URL. Pure: time is passed in.

use std::collections::HashMap;
use std::time::{Duration, Instant};

/// How long a session lasts from sign-in.
pub(crate) const SESSION_TTL: Duration = Duration::from_secs(12 * 3600);
/// How long a one-time sign-in link stays usable.
pub(crate) const LINK_TTL: Duration = Duration::from_secs(24 * 3600);
/// Sessions (and, apart, links) kept at most; past it the one nearest expiry is dropped.
const MAX_ENTRIES: usize = 10_000;

/// Who a session or link speaks for.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Identity {
    /// The bearer token requests are made with.
    pub(crate) token: String,
    /// The user name the API reported for it (shown in the page).
    pub(crate) user: String,
}

impl std::fmt::Debug for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Identity")
            .field("token", &"<masked>")
            .field("user", &self.user)
            .finish()
    }
}

#[derive(Debug)]
struct Entry {
    who: Identity,
    expires: Instant,
}

/// The sessions and pending sign-in links.
#[derive(Debug, Default)]
pub(crate) struct Sessions {
    sessions: HashMap<String, Entry>,
    links: HashMap<String, Entry>,
}

fn insert(
    map: &mut HashMap<String, Entry>,
    id: String,
    who: Identity,
    expires: Instant,
    now: Instant,
) {
    if map.len() >= MAX_ENTRIES {
        map.retain(|_, e| e.expires > now);
    }
    if map.len() >= MAX_ENTRIES
        && let Some(oldest) = map
            .iter()
            .min_by_key(|(_, e)| e.expires)
            .map(|(k, _)| k.clone())
    {
        map.remove(&oldest);
    }
    map.insert(id, Entry { who, expires });
}

impl Sessions {
    /// Start a session with id `id` (a fresh random value) for `who`.
    pub(crate) fn create(&mut self, id: String, who: Identity, now: Instant) {
        insert(&mut self.sessions, id, who, now + SESSION_TTL, now);
    }

    /// The identity of a live session.
    pub(crate) fn get(&self, id: &str, now: Instant) -> Option<&Identity> {
        self.sessions
            .get(id)
            .filter(|e| e.expires > now)
            .map(|e| &e.who)
    }

    /// End a session.
    pub(crate) fn remove(&mut self, id: &str) {
        self.sessions.remove(id);
    }

    /// Register a one-time sign-in link with id `id` for `who`.
    pub(crate) fn add_link(&mut self, id: String, who: Identity, now: Instant) {
        insert(&mut self.links, id, who, now + LINK_TTL, now);
    }

    /// Use a link: its identity, once, while it is fresh.
    pub(crate) fn redeem_link(&mut self, id: &str, now: Instant) -> Option<Identity> {
        self.links
            .remove(id)
            .filter(|e| e.expires > now)
            .map(|e| e.who)
    }
}

/// The value of cookie `name` in a `Cookie` header's text.
pub(crate) fn cookie<'a>(header: &'a str, name: &str) -> Option<&'a str> {
    header.split(';').find_map(|kv| {
        let (k, v) = kv.trim().split_once('=')?;
        (k == name).then_some(v.trim())
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn who(u: &str) -> Identity {
        Identity {
            token: format!("token-of-{u}"),
            user: u.into(),
        }
    }

    #[test]
    fn sessions_expire_and_end() {
        let t0 = Instant::now();
        let mut s = Sessions::default();
        s.create("a".into(), who("alice"), t0);
        assert_eq!(s.get("a", t0).unwrap().user, "alice");
        assert!(s.get("b", t0).is_none());
        assert!(s.get("a", t0 + SESSION_TTL).is_none(), "expired");
        s.remove("a");
        assert!(s.get("a", t0).is_none());
    }

    #[test]
    fn a_link_works_once_and_only_while_fresh() {
        let t0 = Instant::now();
        let mut s = Sessions::default();
        s.add_link("l".into(), who("admin"), t0);
        assert_eq!(s.redeem_link("l", t0).unwrap().user, "admin");
        assert!(s.redeem_link("l", t0).is_none(), "used up");
        s.add_link("m".into(), who("admin"), t0);
        assert!(s.redeem_link("m", t0 + LINK_TTL).is_none(), "stale");
    }

    #[test]
    fn the_store_is_bounded() {
        let t0 = Instant::now();
        let mut s = Sessions::default();
        for i in 0..MAX_ENTRIES + 5 {
            s.create(
                format!("s{i}"),
                who("u"),
                t0 + Duration::from_millis(i as u64),
            );
        }
        assert_eq!(s.sessions.len(), MAX_ENTRIES);
        assert!(s.get("s0", t0).is_none(), "the oldest went first");
        assert!(s.get(&format!("s{}", MAX_ENTRIES + 4), t0).is_some());
    }

    #[test]
    fn cookies_are_found_by_exact_name() {
        let h = "a=1; cceone-console=xyz; cceone-console-x=no";
        assert_eq!(cookie(h, "cceone-console"), Some("xyz"));
        assert_eq!(cookie(h, "b"), None);
        assert_eq!(cookie("", "a"), None);
    }

    #[test]
    fn identities_do_not_print_their_token() {
        assert!(!format!("{:?}", who("alice")).contains("token-of"));
    }
}
