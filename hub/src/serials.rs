//! Which certificates may speak for a cluster. Each registration (a redeemed bootstrap token)
//! starts a new list holding the serial of the certificate it issued; each rotation adds its
//! certificate's serial and retires the oldest beyond the newest two (the previous certificate
//! stays valid until the next rotation, so an agent that has not yet switched keeps working). A
//! certificate whose serial is not listed is refused at the handshake, however long its
//! validity: re-registering a cluster retires every certificate issued before.
//!
//! The lists live in `status.certificateSerials` of the RegisteredCluster; this hub's own
//! writes are also kept here, because its watch of the clusters may lag behind them.

use std::collections::HashMap;

use parking_lot::Mutex;

/// Serials kept per cluster: the current certificate and the one before it.
pub(crate) const KEEP: usize = 2;

/// The list after a registration issued `serial`.
pub(crate) fn after_registration(serial: &str) -> Vec<String> {
    vec![serial.to_string()]
}

/// The list after a rotation issued `serial`.
pub(crate) fn after_rotation(current: &[String], serial: &str) -> Vec<String> {
    let mut list: Vec<String> = current.iter().filter(|s| *s != serial).cloned().collect();
    list.push(serial.to_string());
    let excess = list.len().saturating_sub(KEEP);
    list.drain(..excess);
    list
}

/// Whether a certificate may speak for a cluster whose list is `allowed`. With no list yet (a
/// cluster registered anew whose agent has not redeemed its token, or one registered before
/// serials were recorded) a certificate issued before the cluster object was created is still
/// refused: it belongs to an earlier registration of the same name.
pub(crate) fn admits(
    allowed: &[String],
    serial: Option<&str>,
    issued_at: Option<i64>,
    registered_at: Option<i64>,
) -> bool {
    if !allowed.is_empty() {
        return serial.is_some_and(|s| allowed.iter().any(|a| a == s));
    }
    match (issued_at, registered_at) {
        (Some(issued), Some(registered)) => issued >= registered,
        _ => true,
    }
}

/// The serial number of a DER certificate, lowercase hex.
pub(crate) fn of_der(der: &[u8]) -> Option<String> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
    Some(
        cert.tbs_certificate
            .raw_serial()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect(),
    )
}

/// The serial number of a PEM certificate, lowercase hex.
pub(crate) fn of_pem(pem: &str) -> Option<String> {
    let (_, p) = x509_parser::pem::parse_x509_pem(pem.as_bytes()).ok()?;
    of_der(&p.contents)
}

/// The lists this hub wrote, newer than what its watch may have seen yet. Each is kept with
/// the creation time of the cluster object it was written for, so a list never outlives a
/// deleted and re-created cluster of the same name.
#[derive(Default)]
pub(crate) struct Written {
    lists: Mutex<HashMap<String, WrittenList>>,
}

/// A list and the creation time of the cluster object it was written for.
type WrittenList = (Option<jiff::Timestamp>, Vec<String>);

impl Written {
    /// The current list of the cluster object created at `created`: what this hub last wrote
    /// for it, else `cached` from the watch.
    pub(crate) fn current(
        &self,
        cluster: &str,
        created: Option<jiff::Timestamp>,
        cached: &[String],
    ) -> Vec<String> {
        match self.lists.lock().get(cluster) {
            Some((at, list)) if *at == created => list.clone(),
            _ => cached.to_vec(),
        }
    }

    /// Records a list this hub is writing for the cluster object created at `created`.
    pub(crate) fn set(&self, cluster: &str, created: Option<jiff::Timestamp>, list: Vec<String>) {
        self.lists
            .lock()
            .insert(cluster.to_string(), (created, list));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registration_resets_and_rotation_keeps_the_newest_two() {
        let reg = after_registration("a");
        assert_eq!(reg, ["a"]);
        let one = after_rotation(&reg, "b");
        assert_eq!(one, ["a", "b"]);
        let two = after_rotation(&one, "c");
        assert_eq!(two, ["b", "c"]);
        assert!(!admits(&two, Some("a"), None, None));
        assert!(admits(&two, Some("b"), None, None));
        assert!(!admits(&two, None, None, None));
        // The list decides even for a certificate issued after the registration.
        assert!(!admits(&two, Some("z"), Some(200), Some(100)));
        // No list: only the issue time against the registration counts.
        assert!(admits(&[], Some("anything"), Some(100), Some(100)));
        assert!(!admits(&[], Some("anything"), Some(99), Some(100)));
        assert!(admits(&[], None, None, Some(100)));
        assert_eq!(after_registration("z"), ["z"]);
        assert_eq!(after_rotation(&two, "c"), ["b", "c"]);
    }

    #[test]
    fn written_lists_win_over_the_cache() {
        let w = Written::default();
        let cached = vec!["old".to_string()];
        let t1 = Some(jiff::Timestamp::from_second(100).unwrap_or_default());
        let t2 = Some(jiff::Timestamp::from_second(200).unwrap_or_default());
        assert_eq!(w.current("x", t1, &cached), cached);
        w.set("x", t1, vec!["new".into()]);
        assert_eq!(w.current("x", t1, &cached), ["new"]);
        // The name deleted and registered again: the old object's list no longer applies.
        assert_eq!(w.current("x", t2, &[]), Vec::<String>::new());
    }
}
