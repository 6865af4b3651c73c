//! Which phase each service starts in: its runlevel's, or that of the first service whose
//! need/want pulls it in.

use std::collections::{BTreeMap, BTreeSet};

use super::Input;
use super::resolve::{Ctx, Resolved};

/// The services the phases reach, before the hard failures are known.
pub(super) struct Placed {
    /// The phase each service that may start starts in.
    pub(super) phase_of: BTreeMap<String, usize>,
    /// Names the phases ask for that have no script or a broken one, and why.
    pub(super) failed: BTreeMap<String, String>,
    /// Every name the phases asked for, directly or through a need/want.
    pub(super) reached: BTreeSet<String>,
}

/// Walks each phase's entries and what they need or want, phase after phase.
pub(super) fn place_in_phases(input: &Input<'_>, ctx: &Ctx<'_>) -> Placed {
    let mut phase_of: BTreeMap<String, usize> = BTreeMap::new();
    let mut failed: BTreeMap<String, String> = BTreeMap::new();
    let mut reached: BTreeSet<String> = BTreeSet::new();
    for (i, (_, names)) in input.phases.iter().enumerate() {
        let mut todo: Vec<String> = names.clone();
        while let Some(n) = todo.pop() {
            if phase_of.contains_key(&n) {
                continue;
            }
            reached.insert(n.clone());
            match ctx.specs.get(n.as_str()) {
                None => {
                    failed.insert(
                        n.clone(),
                        format!("no init script {n} in any init.d directory"),
                    );
                    continue;
                }
                Some(s) if s.error.is_some() => {
                    failed.insert(n.clone(), s.error.clone().unwrap_or_default());
                    continue;
                }
                Some(_) if ctx.excluded.contains_key(&n) => continue,
                Some(s) => {
                    phase_of.insert(n.clone(), i);
                    for t in s.deps.need.iter().chain(&s.deps.want) {
                        match ctx.resolve(t) {
                            Resolved::Services(v) => todo.extend(v),
                            // Needed, so reported as the runlevel's own failure; a broken
                            // script only wanted stays out of it (D-33).
                            Resolved::Broken if s.deps.need.contains(t) => todo.push(t.clone()),
                            _ => {}
                        }
                    }
                }
            }
        }
    }
    Placed {
        phase_of,
        failed,
        reached,
    }
}
