//! Cluster selection under spread constraints (Karmada
//! `pkg/scheduler/core/spreadconstraint`): by cluster (min/max groups, swapping in clusters with
//! more room when the best-scored ones cannot hold the replicas) and by region (the best
//! combination of regions found by depth-first search, one cluster per region, then the best of
//! the rest). Zone and provider constraints only filter clusters lacking the property, as in
//! Karmada.

use std::collections::BTreeMap;

use cceone_karmada_api::BindingSpec;
use cceone_karmada_api::policy::{Placement, SpreadConstraint};

use super::{Candidate, ScheduleError, placement_of, scheduling_type};

/// `sortClusters`: score descending, available replicas descending, name ascending.
pub(super) fn sort_candidates(c: &mut [Candidate]) {
    c.sort_by(|a, b| {
        b.score
            .cmp(&a.score)
            .then(b.available.cmp(&a.available))
            .then(a.name.cmp(b.name))
    });
}

/// A spread constraint's `(minGroups, maxGroups)`.
fn groups(sc: Option<&SpreadConstraint>) -> (i64, i64) {
    sc.map_or((0, 0), |sc| {
        (sc.min_groups.unwrap_or(0), sc.max_groups.unwrap_or(0))
    })
}

/// `SelectBestClusters`.
pub(super) fn select_best<'a>(
    spec: &BindingSpec,
    candidates: Vec<Candidate<'a>>,
    replicas: i32,
) -> Result<Vec<Candidate<'a>>, ScheduleError> {
    let placement = placement_of(spec);
    let constraints = placement.spread_constraints();
    if constraints.is_empty() || ignore_spread(placement) {
        return Ok(candidates);
    }
    let rs = placement.replica_scheduling.as_ref();
    let need = if rs.is_none() || scheduling_type(placement) == "Duplicated" {
        None
    } else {
        Some(i64::from(replicas))
    };
    // Like Karmada's map keyed by field: the last constraint of a field wins.
    let by_field = |f: &str| {
        constraints
            .iter()
            .rev()
            .find(|c| c.spread_by_field.as_deref() == Some(f))
    };
    if let Some(region) = by_field("region") {
        by_region(spec, region, by_field("cluster"), candidates)
    } else if let Some(cluster) = by_field("cluster") {
        by_cluster(cluster, candidates, need)
    } else {
        Err(ScheduleError::Scheduler(
            "just support cluster and region spread constraint".into(),
        ))
    }
}

/// `shouldIgnoreSpreadConstraint`: static weights ignore spread constraints.
fn ignore_spread(placement: &Placement) -> bool {
    let Some(rs) = &placement.replica_scheduling else {
        return false;
    };
    rs.replica_scheduling_type.as_deref() == Some("Divided")
        && rs.replica_division_preference.as_deref() == Some("Weighted")
        && rs.weight_preference.as_ref().is_none_or(|w| {
            w.static_weight_list.as_ref().is_some_and(|l| !l.is_empty())
                && w.dynamic_weight.as_deref().unwrap_or("").is_empty()
        })
}

/// `selectBestClustersByCluster`.
fn by_cluster<'a>(
    sc: &SpreadConstraint,
    candidates: Vec<Candidate<'a>>,
    need: Option<i64>,
) -> Result<Vec<Candidate<'a>>, ScheduleError> {
    let (min, max) = groups(Some(sc));
    let total = candidates.len();
    if (total as i64) < min {
        return Err(ScheduleError::Scheduler(
            "the number of feasible clusters is less than spreadConstraint.MinGroups".into(),
        ));
    }
    let count = usize::try_from(max.max(0)).unwrap_or(0).min(total);
    let Some(need) = need else {
        let mut c = candidates;
        c.truncate(count);
        return Ok(c);
    };
    let selected = by_available_resource(candidates, count, need);
    if selected.is_empty() {
        return Err(ScheduleError::Scheduler(format!(
            "no enough resource when selecting {count} clusters"
        )));
    }
    Ok(selected)
}

/// `selectClustersByAvailableResource`: take the best `count`; while they cannot hold `need`,
/// replace the worst-scored ones by the roomiest of the rest.
fn by_available_resource(mut all: Vec<Candidate>, count: usize, need: i64) -> Vec<Candidate> {
    let enough = |v: &[Candidate]| v.iter().map(|c| c.available).sum::<i64>() >= need;
    let mut rest = all.split_off(count);
    let mut chosen = all;
    let mut idx = chosen.len();
    while !enough(&chosen) && idx > 0 {
        idx -= 1;
        let mut best: Option<usize> = None;
        let mut most = chosen[idx].available;
        for (i, c) in rest.iter().enumerate() {
            if most < c.available {
                most = c.available;
                best = Some(i);
            }
        }
        if let Some(i) = best {
            std::mem::swap(&mut chosen[idx], &mut rest[i]);
        }
    }
    if enough(&chosen) { chosen } else { Vec::new() }
}

/// A region with its clusters (in candidate order) and group score.
struct Region<'a> {
    name: String,
    clusters: Vec<Candidate<'a>>,
    score: i64,
}

/// `selectBestClustersByRegion`.
fn by_region<'a>(
    spec: &BindingSpec,
    region_sc: &SpreadConstraint,
    cluster_sc: Option<&SpreadConstraint>,
    candidates: Vec<Candidate<'a>>,
) -> Result<Vec<Candidate<'a>>, ScheduleError> {
    let (region_min, region_max) = groups(Some(region_sc));
    let (cluster_min, cluster_max) = groups(cluster_sc);
    let mut map: BTreeMap<String, Vec<Candidate<'a>>> = BTreeMap::new();
    for c in &candidates {
        let region = c.cluster.spec.as_ref().map_or("", |s| s.region());
        if !region.is_empty() {
            map.entry(region.to_string()).or_default().push(c.clone());
        }
    }
    if (map.len() as i64) < region_min {
        return Err(ScheduleError::Scheduler(
            "the number of feasible region is less than spreadConstraint.MinGroups".into(),
        ));
    }
    let regions: Vec<Region> = map
        .into_iter()
        .map(|(name, clusters)| {
            let score = group_score(spec, &clusters, region_min);
            Region {
                name,
                clusters,
                score,
            }
        })
        .collect();
    let groups: Vec<Group> = regions
        .iter()
        .map(|r| Group {
            name: r.name.clone(),
            value: r.clusters.len() as i64,
            weight: r.score,
        })
        .collect();
    let chosen = select_groups(groups, region_min, region_max, cluster_min);
    if chosen.is_empty() {
        return Err(ScheduleError::Scheduler(
            "the number of clusters is less than the cluster spreadConstraint.MinGroups".into(),
        ));
    }
    let mut selected = Vec::new();
    let mut rest = Vec::new();
    for g in &chosen {
        if let Some(r) = regions.iter().find(|r| r.name == g.name)
            && let Some((first, others)) = r.clusters.split_first()
        {
            selected.push(first.clone());
            rest.extend(others.iter().cloned());
        }
    }
    let need = usize::try_from(cluster_max.max(0))
        .unwrap_or(0)
        .min(rest.len() + selected.len());
    if need > selected.len() {
        sort_candidates(&mut rest);
        let more = need - selected.len();
        selected.extend(rest.into_iter().take(more));
    }
    Ok(selected)
}

/// Weight unit of group scores: replicas count before cluster scores.
const WEIGHT_UNIT: i64 = 1000;

/// `calcGroupScore` / `calcGroupScoreForDuplicate`.
fn group_score(spec: &BindingSpec, clusters: &[Candidate], min_groups: i64) -> i64 {
    let placement = placement_of(spec);
    let replicas = i64::from(super::replicas(spec));
    if scheduling_type(placement) == "Duplicated" {
        let valid: Vec<&Candidate> = clusters
            .iter()
            .filter(|c| c.available >= replicas)
            .collect();
        if valid.is_empty() {
            return 0;
        }
        let n = valid.len() as i64;
        return n * WEIGHT_UNIT + valid.iter().map(|c| c.score).sum::<i64>() / n;
    }
    let min_groups = min_groups.max(1);
    let target = (replicas + min_groups - 1) / min_groups;
    let cluster_min = placement
        .spread_constraints()
        .iter()
        .filter(|c| c.spread_by_field.as_deref() == Some("cluster"))
        .filter_map(|c| c.min_groups)
        .next_back()
        .unwrap_or(0)
        .max(min_groups);
    let (mut sum_available, mut sum_score, mut valid) = (0_i64, 0_i64, 0_i64);
    for c in clusters {
        sum_available += c.available;
        sum_score += c.score;
        valid += 1;
        if valid >= cluster_min && sum_available >= target {
            break;
        }
    }
    if sum_available < target {
        return sum_available * WEIGHT_UNIT + sum_score / (clusters.len().max(1) as i64);
    }
    target * WEIGHT_UNIT + sum_score / valid.max(1)
}

/// A group (region) for the path search.
#[derive(Debug, Clone)]
struct Group {
    name: String,
    /// Clusters in the group.
    value: i64,
    /// The group score.
    weight: i64,
}

/// One combination of groups found by the search.
#[derive(Debug, Clone)]
struct Path {
    id: usize,
    groups: Vec<Group>,
    weight: i64,
    value: i64,
}

/// `selectGroups`: all combinations of `min..=max` groups holding at least `target` clusters,
/// the best by total score, then clusters, then discovery order, preferring a best path's own
/// prefixes.
fn select_groups(mut groups: Vec<Group>, min: i64, max: i64, target: i64) -> Vec<Group> {
    if groups.is_empty() {
        return Vec::new();
    }
    groups.sort_by(|a, b| {
        a.value
            .cmp(&b.value)
            .then(b.weight.cmp(&a.weight))
            .then(a.name.cmp(&b.name))
    });
    let mut paths = Vec::new();
    let mut current: Vec<usize> = Vec::new();
    let mut next_id = 0;
    dfs(
        &groups,
        &mut current,
        &mut paths,
        &mut next_id,
        0,
        0,
        (min, max, target),
    );
    if paths.is_empty() {
        return Vec::new();
    }
    paths.sort_by(|a, b| {
        b.weight
            .cmp(&a.weight)
            .then(b.value.cmp(&a.value))
            .then(a.id.cmp(&b.id))
    });
    let mut best = paths[0].clone();
    for p in paths.iter().skip(1) {
        let is_prefix = p.groups.len() < best.groups.len()
            && p.groups
                .iter()
                .zip(&best.groups)
                .all(|(a, b)| a.name == b.name);
        if is_prefix {
            best = p.clone();
        }
    }
    best.groups
}

/// `findFeasiblePaths`' depth-first search, step for step (including its early `break` when
/// every group is needed).
fn dfs(
    groups: &[Group],
    current: &mut Vec<usize>,
    paths: &mut Vec<Path>,
    next_id: &mut usize,
    mut sum: i64,
    begin: usize,
    (min, max, target): (i64, i64, i64),
) {
    let len = current.len() as i64;
    if sum >= target && len >= min && len <= max {
        *next_id += 1;
        let mut chosen: Vec<Group> = current.iter().map(|&i| groups[i].clone()).collect();
        chosen.sort_by(|a, b| b.weight.cmp(&a.weight).then(a.name.cmp(&b.name)));
        paths.push(Path {
            id: *next_id,
            weight: chosen.iter().map(|g| g.weight).sum(),
            value: chosen.iter().map(|g| g.value).sum(),
            groups: chosen,
        });
        return;
    }
    if len >= max {
        return;
    }
    for i in begin..groups.len() {
        sum += groups[i].value;
        current.push(i);
        dfs(
            groups,
            current,
            paths,
            next_id,
            sum,
            i + 1,
            (min, max, target),
        );
        if groups.len() as i64 == min {
            break;
        }
        sum -= groups[i].value;
        current.pop();
    }
}
