//! Replica assignment (Karmada `pkg/scheduler/core/assignment.go`,
//! `division_algorithm.go`) and the Webster / Sainte-Laguë apportionment it divides with
//! (`pkg/util/helper/webstermethod.go`, the `Dispenser` of `pkg/util/helper/binding.go`).

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use cceone_karmada_api::BindingSpec;
use cceone_karmada_api::policy::ReplicaScheduling;

use super::{Candidate, ScheduleError, TargetCluster, placement_of, scheduling_type};
use crate::selector::cluster_matches;

/// A party of the Webster method: a cluster, its votes (weight) and seats (replicas).
#[derive(Debug, Clone)]
struct Party {
    name: String,
    votes: i64,
    seats: i32,
    /// Karmada's UID-derived tie-breaker: prefer lexicographically larger names on ties.
    names_descending: bool,
}

impl Party {
    /// `Votes / (2*Seats + 1)` in float64, exactly as Karmada compares priorities.
    fn priority(&self) -> f64 {
        self.votes as f64 / f64::from(2 * self.seats + 1)
    }
}

impl PartialEq for Party {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Party {}

impl PartialOrd for Party {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Party {
    /// Greater means "gets the next seat": higher priority; on equal priority (the
    /// Dispenser's tie-breaker) fewer seats, then the name in the UID-chosen direction.
    fn cmp(&self, other: &Self) -> Ordering {
        let (a, b) = (self.priority(), other.priority());
        if a == b {
            if self.seats != other.seats {
                return other.seats.cmp(&self.seats);
            }
            return if self.names_descending {
                self.name.cmp(&other.name)
            } else {
                other.name.cmp(&self.name)
            };
        }
        a.partial_cmp(&b).unwrap_or(Ordering::Equal)
    }
}

/// FNV-1a, 32 bit (Go's `hash/fnv.New32a`): Karmada's tie-breaks, reference keys and names
/// hash with it.
pub fn fnv32a(data: &[u8]) -> u32 {
    data.iter().fold(0x811c_9dc5_u32, |h, b| {
        (h ^ u32::from(*b)).wrapping_mul(0x0100_0193)
    })
}

/// `tieBreakerByUID`: an odd FNV-1a hash of the resource UID prefers larger names on ties.
fn names_descending(uid: &str) -> bool {
    !uid.is_empty() && fnv32a(uid.as_bytes()) & 1 == 1
}

/// Allocates `new_seats` among parties by the Webster method with Karmada's tie-breaking
/// (`AllocateWebsterSeats` with `tieBreakerByUID(uid)`): each seat goes to the party with the
/// highest `votes / (2*seats + 1)`; ties go to the party with fewer seats, then to the
/// lexicographically smaller name (larger when the FNV-1a hash of `uid` is odd). Parties only
/// in `initial` join with 0 votes. Returns every party with its seats, sorted by name.
pub fn allocate_webster(
    new_seats: i32,
    votes: &[(String, i64)],
    initial: &[(String, i32)],
    uid: &str,
) -> Vec<(String, i32)> {
    let descending = names_descending(uid);
    let mut parties: Vec<Party> = initial
        .iter()
        .map(|(name, seats)| Party {
            name: name.clone(),
            votes: 0,
            seats: *seats,
            names_descending: descending,
        })
        .collect();
    for (name, v) in votes {
        match parties.iter_mut().find(|p| &p.name == name) {
            Some(p) => p.votes = *v,
            None => parties.push(Party {
                name: name.clone(),
                votes: *v,
                seats: 0,
                names_descending: descending,
            }),
        }
    }
    if parties.is_empty() {
        return Vec::new();
    }
    let mut heap: BinaryHeap<Party> = parties.into_iter().collect();
    for _ in 0..new_seats.max(0) {
        if let Some(mut next) = heap.pop() {
            next.seats += 1;
            heap.push(next);
        }
    }
    let mut out: Vec<(String, i32)> = heap.into_iter().map(|p| (p.name, p.seats)).collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// `AssignReplicas`: replicas for workloads by the placement's strategy, whole propagation to
/// every selected cluster otherwise; clusters left with no replicas are dropped.
pub(super) fn assign(
    spec: &BindingSpec,
    candidates: &[Candidate],
    previous: &[(String, i32)],
    fresh: bool,
) -> Result<Vec<TargetCluster>, ScheduleError> {
    if candidates.is_empty() {
        return Err(ScheduleError::Scheduler(
            "no clusters available to schedule".into(),
        ));
    }
    let replicas = super::replicas(spec);
    let workload = spec.is_workload();
    if !workload {
        return Ok(candidates
            .iter()
            .map(|c| TargetCluster::new(c.name.to_string(), None))
            .collect());
    }
    let placement = placement_of(spec);
    let uid = spec.resource.uid();
    let result: Vec<(String, i32)> = match scheduling_type(placement) {
        "Duplicated" => candidates
            .iter()
            .map(|c| (c.name.to_string(), replicas))
            .collect(),
        "Divided" => {
            let default = ReplicaScheduling::default();
            let rs = placement.replica_scheduling.as_ref().unwrap_or(&default);
            let dynamic_weight = rs
                .weight_preference
                .as_ref()
                .and_then(|w| w.dynamic_weight.as_deref())
                .unwrap_or("");
            match rs.replica_division_preference.as_deref().unwrap_or("") {
                "Aggregated" => dynamic(candidates, previous, replicas, uid, true, fresh)?,
                // An empty preference is defaulted to Weighted by Karmada's mutating webhook.
                "Weighted" | "" if !dynamic_weight.is_empty() => {
                    dynamic(candidates, previous, replicas, uid, false, fresh)?
                }
                "Weighted" | "" => static_weight(candidates, rs, replicas, uid),
                other => {
                    return Err(ScheduleError::Scheduler(format!(
                        "unsupported replica scheduling strategy, replicaSchedulingType: Divided, replicaDivisionPreference: {other}, please try another scheduling strategy"
                    )));
                }
            }
        }
        other => {
            return Err(ScheduleError::Scheduler(format!(
                "unsupported replica scheduling strategy, replicaSchedulingType: {other}, replicaDivisionPreference: {}, please try another scheduling strategy",
                placement
                    .replica_scheduling
                    .as_ref()
                    .and_then(|r| r.replica_division_preference.as_deref())
                    .unwrap_or("")
            )));
        }
    };
    Ok(result
        .into_iter()
        .filter(|(_, r)| *r > 0)
        .map(|(name, r)| TargetCluster::new(name, Some(r)))
        .collect())
}

/// `assignByStaticWeightStrategy`: each candidate's weight is the largest weight of the
/// static-weight rules whose target it matches; candidates matching none are left out, and if
/// no candidate has weight every candidate weighs 1.
fn static_weight(
    candidates: &[Candidate],
    rs: &ReplicaScheduling,
    replicas: i32,
    uid: &str,
) -> Vec<(String, i32)> {
    let rules = rs
        .weight_preference
        .as_ref()
        .and_then(|w| w.static_weight_list.as_deref())
        .unwrap_or(&[]);
    let mut votes: Vec<(String, i64)> = candidates
        .iter()
        .filter_map(|c| {
            let weight = rules
                .iter()
                .filter(|r| cluster_matches(c.cluster, &r.target_cluster))
                .map(|r| r.weight)
                .fold(0_i64, i64::max);
            (weight > 0).then(|| (c.name.to_string(), weight))
        })
        .collect();
    if votes.iter().map(|(_, w)| *w).sum::<i64>() == 0 {
        votes = candidates.iter().map(|c| (c.name.to_string(), 1)).collect();
    }
    allocate_webster(replicas, &votes, &[], uid)
}

/// `assignByDynamicStrategy` in Steady mode (Fresh when a reschedule was triggered): keep the
/// previous result and place only the difference, weighting clusters by available replicas.
fn dynamic(
    candidates: &[Candidate],
    previous: &[(String, i32)],
    replicas: i32,
    uid: &str,
    aggregated: bool,
    fresh: bool,
) -> Result<Vec<(String, i32)>, ScheduleError> {
    // The previous result restricted to clusters that are still candidates.
    let scheduled: Vec<(String, i32)> = previous
        .iter()
        .filter(|(n, _)| candidates.iter().any(|c| c.name == n))
        .cloned()
        .collect();
    let assigned: i64 = scheduled.iter().map(|(_, r)| i64::from(*r)).sum();
    let by_desc = |v: &mut Vec<(String, i32)>| v.sort_by_key(|c| std::cmp::Reverse(c.1));
    if fresh {
        let mut available: Vec<(String, i32)> = candidates
            .iter()
            .map(|c| {
                let again = scheduled
                    .iter()
                    .find(|(n, _)| n == c.name)
                    .map_or(0, |(_, r)| *r);
                (c.name.to_string(), c.allocatable.saturating_add(again))
            })
            .collect();
        by_desc(&mut available);
        return divide(&[], available, replicas, uid, aggregated);
    }
    match assigned.cmp(&i64::from(replicas)) {
        Ordering::Greater => {
            // Scale down proportionally to the previous result.
            let mut available = scheduled.clone();
            by_desc(&mut available);
            divide(&[], available, replicas, uid, aggregated)
        }
        Ordering::Less => {
            let target = replicas - i32::try_from(assigned).unwrap_or(replicas);
            let mut available: Vec<(String, i32)> = candidates
                .iter()
                .map(|c| (c.name.to_string(), c.allocatable))
                .collect();
            by_desc(&mut available);
            divide(&scheduled, available, target, uid, aggregated)
        }
        Ordering::Equal => Ok(scheduled),
    }
}

/// `dynamicDivideReplicas`: place `target` replicas over `available` (weights = available
/// replicas), Aggregated first cutting the list to the fewest clusters that fit (previously used
/// ones first), then merge with the previous result.
fn divide(
    scheduled: &[(String, i32)],
    mut available: Vec<(String, i32)>,
    target: i32,
    uid: &str,
    aggregated: bool,
) -> Result<Vec<(String, i32)>, ScheduleError> {
    let total: i64 = available.iter().map(|(_, r)| i64::from(*r)).sum();
    if total < i64::from(target) {
        return Err(ScheduleError::Unschedulable(format!(
            "Clusters available replicas {total} are not enough to schedule."
        )));
    }
    if aggregated {
        let prior: Vec<&str> = scheduled
            .iter()
            .filter(|(_, r)| *r > 0)
            .map(|(n, _)| n.as_str())
            .collect();
        if !prior.is_empty() {
            let (mut first, rest): (Vec<_>, Vec<_>) = available
                .into_iter()
                .partition(|(n, _)| prior.contains(&n.as_str()));
            first.extend(rest);
            available = first;
        }
        let mut sum = 0_i64;
        if let Some(cut) = available.iter().position(|(_, r)| {
            sum += i64::from(*r);
            sum >= i64::from(target)
        }) {
            available.truncate(cut + 1);
        }
    }
    let votes: Vec<(String, i64)> = available
        .iter()
        .map(|(n, r)| (n.clone(), i64::from(*r)))
        .collect();
    let new = allocate_webster(target, &votes, &[], uid);
    Ok(merge(scheduled, new))
}

/// `util.MergeTargetClusters`: the new result with previous replicas added, then previous
/// clusters the new result lacks (in their previous order, where Go's map order is random).
fn merge(old: &[(String, i32)], mut new: Vec<(String, i32)>) -> Vec<(String, i32)> {
    if old.is_empty() {
        return new;
    }
    if new.is_empty() {
        return old.to_vec();
    }
    for (name, r) in old {
        match new.iter_mut().find(|(n, _)| n == name) {
            Some(entry) => entry.1 += r,
            None => new.push((name.clone(), *r)),
        }
    }
    new
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(v: &[(&str, i64)]) -> Vec<(String, i64)> {
        v.iter().map(|(n, x)| (n.to_string(), *x)).collect()
    }

    #[test]
    fn fnv_matches_go() {
        // Go: fnv.New32a() over "" is the offset basis; over "a" is 0xe40c292c.
        assert_eq!(fnv32a(b""), 0x811c_9dc5);
        assert_eq!(fnv32a(b"a"), 0xe40c_292c);
    }

    #[test]
    fn webster_examples_from_the_issue() {
        let r = allocate_webster(2, &w(&[("a", 2), ("b", 1)]), &[], "");
        assert_eq!(r, vec![("a".into(), 1), ("b".into(), 1)]);
        let r = allocate_webster(3, &w(&[("demo1", 1), ("demo2", 2)]), &[], "");
        assert_eq!(r, vec![("demo1".into(), 1), ("demo2".into(), 2)]);
    }

    #[test]
    fn webster_ties_follow_uid_parity() {
        // One seat, equal weights: ascending names take it unless the uid hash is odd.
        let even = (0..100)
            .map(|i| format!("uid-{i}"))
            .find(|u| !names_descending(u))
            .unwrap_or_default();
        let odd = (0..100)
            .map(|i| format!("uid-{i}"))
            .find(|u| names_descending(u))
            .unwrap_or_default();
        let votes = w(&[("a", 1), ("b", 1)]);
        assert_eq!(allocate_webster(1, &votes, &[], &even)[0], ("a".into(), 1));
        assert_eq!(allocate_webster(1, &votes, &[], &odd)[1], ("b".into(), 1));
    }
}
