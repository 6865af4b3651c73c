//! Waves: longest path from the sources, phase after phase.

use std::collections::BTreeMap;

/// Each planned service's wave number, and how many wave numbers the phases use in all (a
/// phase's waves follow the previous phase's).
pub(super) fn depths(
    phases: usize,
    phase_of: &BTreeMap<String, usize>,
    kept: &BTreeMap<String, Vec<String>>,
) -> (BTreeMap<String, usize>, usize) {
    let mut depth: BTreeMap<String, usize> = BTreeMap::new();
    let mut base = 0;
    for i in 0..phases {
        let members: Vec<&String> = phase_of
            .iter()
            .filter(|(_, p)| **p == i)
            .map(|(s, _)| s)
            .collect();
        let mut local: BTreeMap<&str, usize> = BTreeMap::new();
        let mut top = 0;
        for m in &members {
            let d = level(m, kept, &mut local);
            top = top.max(d + 1);
            depth.insert((*m).clone(), base + d);
        }
        base += top;
    }
    (depth, base)
}

/// The services of each wave, in order, empty waves left out.
pub(super) fn waves_by_depth(depth: &BTreeMap<String, usize>, count: usize) -> Vec<Vec<String>> {
    let mut waves: Vec<Vec<String>> = vec![Vec::new(); count];
    for (s, d) in depth {
        waves[*d].push(s.clone());
    }
    waves.retain(|w| !w.is_empty());
    waves
}

/// The longest path from `s` to a service with no kept dependency (memoised in `memo`).
fn level<'b>(
    s: &'b str,
    kept: &'b BTreeMap<String, Vec<String>>,
    memo: &mut BTreeMap<&'b str, usize>,
) -> usize {
    if let Some(&d) = memo.get(s) {
        return d;
    }
    let d = kept
        .get(s)
        .map(|ds| {
            ds.iter()
                .map(|t| level(t, kept, memo) + 1)
                .max()
                .unwrap_or(0)
        })
        .unwrap_or(0);
    memo.insert(s, d);
    d
}
