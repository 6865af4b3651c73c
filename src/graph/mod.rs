//! Dependency resolution and the start and stop plans (pure).
//!
//! Input: the evaluated services, the system type, the runlevel phases (sysinit, boot, the target
//! runlevel with its stacked ones). Output: which services start, in waves that may run
//! concurrently while every ordering edge holds; which are excluded or fail, and why.
//!
//! OpenRC's own order (openrc-compat.md D-25, D-26) is a depth-first post-order over each
//! runlevel's services sorted by name, following need, want, use, after (with `before` backlinks)
//! in that order; a visited set breaks ordering cycles at the back edge. rcinit runs the same
//! traversal to decide which edge of a cycle to drop, then layers what is left into waves.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::script::spec::Spec;

mod cycles;
mod failures;
mod order;
mod phases;
mod resolve;
mod waves;

use cycles::break_cycles;
use failures::{fail_broken, fail_dependents, fail_need_cycles, fail_unmet_needs};
use order::{hard_edges, ordering_adjacency};
use phases::{Placed, place_in_phases};
use resolve::Ctx;
use waves::{depths, waves_by_depth};

/// Virtual names a container runtime has already taken care of (D-21 extension).
pub const CONTAINER_PROVIDED: &[&str] =
    &["net", "loopback", "localmount", "netmount", "dev", "sysfs"];

/// What the graph is built from.
#[derive(Debug, Clone)]
pub struct Input<'a> {
    pub specs: &'a [Spec],
    /// The detected system type (lower case), for keyword exclusion (D-04).
    pub sys: Option<&'a str>,
    /// Virtual names that count as provided when no service provides them.
    pub assumed: Vec<String>,
    /// Runlevel phases in start order, each with its services (entry names).
    pub phases: Vec<(String, Vec<String>)>,
}

/// The resolved graph.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Graph {
    /// Waves of services that may start concurrently, in order.
    pub start: Vec<Vec<String>>,
    /// The reverse: dependents first.
    pub stop: Vec<Vec<String>>,
    /// Services that will not start, and why.
    pub failed: BTreeMap<String, String>,
    /// Those of `failed` the runlevel asked for (listed, or needed or wanted by what is):
    /// they are part of the runlevel's status, failed, not silently absent.
    #[serde(skip)]
    pub failed_in_plan: BTreeSet<String>,
    /// Services a keyword drops on this system, and why.
    pub excluded: BTreeMap<String, String>,
    /// Ordering cycles, each broken at its last edge as OpenRC's traversal breaks it.
    pub cycles: Vec<Vec<String>>,
    /// `need` cycles: none of their members starts.
    pub need_cycles: Vec<Vec<String>>,
    /// Names taken as provided by the container, used by some dependency.
    pub assumed_provided: Vec<String>,
    /// Virtual name -> its providers.
    pub providers: BTreeMap<String, Vec<String>>,
    /// Ordering edges kept (dependency, dependent).
    pub edges: Vec<(String, String)>,
    /// Configuration problems that do not stop anything (D-08).
    pub warnings: Vec<String>,
    /// The phase (sysinit, boot, runlevel...) each planned service starts in.
    #[serde(skip)]
    pub phase: BTreeMap<String, usize>,
    /// `need` relations between planned services (dependency, dependent), across phases too:
    /// a dependent does not start when what it needs failed (D-32).
    #[serde(skip)]
    pub needs: Vec<(String, String)>,
    /// For every loaded script, planned or not, the `need` targets nothing provides (OpenRC's
    /// generator warns of each; `lint` reports them).
    #[serde(skip)]
    pub missing_needs: BTreeMap<String, Vec<String>>,
}

/// Why a keyword excludes a service on `sys`, if it does (D-04).
pub fn exclusion(keywords: &[String], sys: Option<&str>) -> Option<String> {
    let sys = sys?;
    keywords
        .iter()
        .find(|k| **k == format!("-{sys}") || **k == format!("no{sys}"))
        .map(|k| format!("keyword {k} excludes it on this system ({sys})"))
}

/// A cycle for a message: `a -> b -> a`, or its first members and how many there are, so a
/// report is linear in the cycles, not in the square of their length.
pub fn cycle_text(cycle: &[String]) -> String {
    const SHOWN: usize = 6;
    match cycle {
        [] => String::new(),
        [first, ..] if cycle.len() <= SHOWN => format!("{} -> {first}", cycle.join(" -> ")),
        _ => format!(
            "{} -> ... ({} services in all)",
            cycle[..SHOWN].join(" -> "),
            cycle.len()
        ),
    }
}

/// Builds the graph and the plans.
pub fn build(input: &Input<'_>) -> Graph {
    let mut g = Graph::default();
    let ctx = Ctx::new(input, &mut g.warnings);
    let Placed {
        mut phase_of,
        mut failed,
        reached,
    } = place_in_phases(input, &ctx);

    // Hard failures: missing or broken needs, need cycles, and whatever needs a failed service.
    let mut assumed_used = fail_unmet_needs(&ctx, &phase_of, &mut failed);
    g.need_cycles = fail_need_cycles(&ctx, &phase_of, &mut failed);
    fail_dependents(&ctx, &phase_of, &mut failed);
    fail_broken(input, &mut failed);
    g.failed_in_plan = failed
        .keys()
        .filter(|s| reached.contains(*s))
        .cloned()
        .collect();
    phase_of.retain(|s, _| !failed.contains_key(s));

    let adjacency = ordering_adjacency(input, &ctx, &phase_of, &mut assumed_used);
    let hard = hard_edges(&ctx, &phase_of);
    let (kept, cycles) = break_cycles(input, &ctx, &phase_of, &adjacency, &hard);
    g.cycles = cycles;

    let (depth, count) = depths(input.phases.len(), &phase_of, &kept);
    let waves = waves_by_depth(&depth, count);
    g.stop = waves.iter().rev().cloned().collect();
    g.start = waves;
    g.edges = kept
        .iter()
        .flat_map(|(s, ds)| ds.iter().map(move |d| (d.clone(), s.clone())))
        .collect();
    g.needs = hard
        .iter()
        .filter(|(s, t)| depth.contains_key(s) && depth.contains_key(t))
        .map(|(s, t)| (t.clone(), s.clone()))
        .collect();
    g.phase = phase_of
        .iter()
        .filter(|(s, _)| depth.contains_key(*s))
        .map(|(s, p)| (s.clone(), *p))
        .collect();
    g.missing_needs = ctx.missing_needs();
    g.failed = failed;
    g.excluded = ctx.excluded;
    g.providers = ctx.providers;
    g.assumed_provided = assumed_used.into_iter().collect();
    g
}

#[cfg(test)]
mod tests;
