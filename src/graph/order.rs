//! Ordering: the adjacency OpenRC's traversal follows, per service, in kind and list order.

use std::collections::{BTreeMap, BTreeSet};

use super::Input;
use super::resolve::{Ctx, Kind, ORDER_KINDS, Resolved};

/// Each planned service's ordering dependencies (need, want, use, after, then the `before`s
/// pointing at it), same phase only; the container-provided names met go to `assumed_used`.
pub(super) fn ordering_adjacency(
    input: &Input<'_>,
    ctx: &Ctx<'_>,
    phase_of: &BTreeMap<String, usize>,
    assumed_used: &mut BTreeSet<String>,
) -> BTreeMap<String, Vec<String>> {
    let forward = forward_edges(input, ctx);
    let before_of = before_links(input, ctx, phase_of, &forward);
    phase_of
        .keys()
        .map(|s| {
            (
                s.clone(),
                ordering_deps(ctx, s, &before_of, phase_of, assumed_used),
            )
        })
        .collect()
}

/// `need` edges (dependent, dependency) between planned services: they are hard, so a cycle
/// through one is broken at one of its soft edges instead.
pub(super) fn hard_edges(
    ctx: &Ctx<'_>,
    phase_of: &BTreeMap<String, usize>,
) -> BTreeSet<(String, String)> {
    phase_of
        .keys()
        .flat_map(|s| {
            ctx.needed(s)
                .into_iter()
                .flat_map(move |(_, v)| v.into_iter().map(move |x| (s.clone(), x)))
        })
        .collect()
}

/// Every usable service's need/want/use/after targets, resolved: for D-07's reachability.
fn forward_edges<'a>(input: &Input<'a>, ctx: &Ctx<'_>) -> BTreeMap<&'a str, Vec<String>> {
    input
        .specs
        .iter()
        .filter(|s| ctx.usable(&s.name))
        .map(|s| {
            let mut v = Vec::new();
            for kind in ORDER_KINDS {
                for t in ctx.targets(s, kind) {
                    if let Resolved::Services(x) = ctx.resolve(t) {
                        v.extend(x);
                    }
                }
            }
            (s.name.as_str(), v)
        })
        .collect()
}

/// Whether `to` is reachable from `from` over the forward edges.
fn reaches(forward: &BTreeMap<&str, Vec<String>>, from: &str, to: &str) -> bool {
    let mut seen = BTreeSet::new();
    let mut todo = vec![from.to_owned()];
    while let Some(n) = todo.pop() {
        for t in forward.get(n.as_str()).into_iter().flatten() {
            if t == to {
                return true;
            }
            if seen.insert(t.clone()) {
                todo.push(t.clone());
            }
        }
    }
    false
}

/// The planned services that say `before X`, per X: backlinks followed with `after`.
fn before_links(
    input: &Input<'_>,
    ctx: &Ctx<'_>,
    phase_of: &BTreeMap<String, usize>,
    forward: &BTreeMap<&str, Vec<String>>,
) -> BTreeMap<String, Vec<String>> {
    let mut m: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for s in input
        .specs
        .iter()
        .filter(|s| phase_of.contains_key(&s.name))
    {
        for t in &s.deps.before {
            if let Resolved::Services(v) = ctx.resolve(t) {
                for x in v {
                    // D-07: `before X` is dropped when X is already reachable from here
                    // through need/want/use/after.
                    if !reaches(forward, &s.name, &x) {
                        m.entry(x).or_default().push(s.name.clone());
                    }
                }
            }
        }
    }
    m
}

/// What `s` starts after, in the order OpenRC's traversal follows, without repeats.
fn ordering_deps(
    ctx: &Ctx<'_>,
    s: &str,
    before_of: &BTreeMap<String, Vec<String>>,
    phase_of: &BTreeMap<String, usize>,
    assumed_used: &mut BTreeSet<String>,
) -> Vec<String> {
    let spec = ctx.specs[s];
    let mut out = Vec::new();
    for kind in ORDER_KINDS {
        for t in ctx.targets(spec, kind) {
            match ctx.resolve(t) {
                Resolved::Services(v) => out.extend(v),
                Resolved::Assumed => {
                    assumed_used.insert(t.clone());
                }
                _ => {}
            }
        }
        if kind == Kind::After
            && let Some(b) = before_of.get(s)
        {
            out.extend(b.iter().cloned());
        }
    }
    // Only services of the same phase order each other; earlier phases are done already.
    out.retain(|t| t != s && phase_of.get(t) == phase_of.get(s));
    let mut seen = BTreeSet::new();
    out.retain(|t| seen.insert(t.clone()));
    out
}
