//! Hard failures: missing or broken needs, need cycles, and whatever needs a failed service.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use super::resolve::{Ctx, Resolved};
use super::{Input, cycle_text};

/// Fails the placed services whose need is missing or broken; returns the needed names the
/// container is taken to provide.
pub(super) fn fail_unmet_needs(
    ctx: &Ctx<'_>,
    phase_of: &BTreeMap<String, usize>,
    failed: &mut BTreeMap<String, String>,
) -> BTreeSet<String> {
    let mut assumed_used = BTreeSet::new();
    for s in phase_of.keys() {
        for t in &ctx.specs[s.as_str()].deps.need {
            match ctx.resolve(t) {
                Resolved::Missing => {
                    failed
                        .entry(s.clone())
                        .or_insert(format!("needs {t}, which does not exist"));
                }
                Resolved::Broken => {
                    failed
                        .entry(s.clone())
                        .or_insert(format!("needs {t}, which failed to load"));
                }
                Resolved::Assumed => {
                    assumed_used.insert(t.clone());
                }
                _ => {}
            }
        }
    }
    assumed_used
}

/// Fails every member of a need cycle, with the cycle as the reason; returns the cycles.
pub(super) fn fail_need_cycles(
    ctx: &Ctx<'_>,
    phase_of: &BTreeMap<String, usize>,
    failed: &mut BTreeMap<String, String>,
) -> Vec<Vec<String>> {
    let mut found = Vec::new();
    for cycle in need_cycles(phase_of, ctx) {
        let why = format!("need cycle: {}", cycle_text(&cycle));
        for m in &cycle {
            failed.insert(m.clone(), why.clone());
        }
        found.push(cycle);
    }
    found
}

/// Fails what needs a failed service, round after round until nothing more fails.
pub(super) fn fail_dependents(
    ctx: &Ctx<'_>,
    phase_of: &BTreeMap<String, usize>,
    failed: &mut BTreeMap<String, String>,
) {
    loop {
        let mut more = Vec::new();
        for s in phase_of.keys().filter(|s| !failed.contains_key(*s)) {
            for (t, v) in ctx.needed(s) {
                if let Some(bad) = v.iter().find(|x| failed.contains_key(*x)) {
                    more.push((
                        s.clone(),
                        format!("needs {t} ({bad}), which will not start"),
                    ));
                    break;
                }
            }
        }
        if more.is_empty() {
            break;
        }
        failed.extend(more);
    }
}

/// Every script that failed to load is failed, planned or not, with its own error.
pub(super) fn fail_broken(input: &Input<'_>, failed: &mut BTreeMap<String, String>) {
    for s in input.specs {
        if s.error.is_some() && !failed.contains_key(&s.name) {
            failed.insert(s.name.clone(), s.error.clone().unwrap_or_default());
        }
    }
}

/// Strongly connected components of more than one service over `need` edges (Tarjan).
fn need_cycles(members: &BTreeMap<String, usize>, ctx: &Ctx<'_>) -> Vec<Vec<String>> {
    let adj: BTreeMap<&str, Vec<String>> = members
        .keys()
        .map(|s| {
            let v = ctx
                .needed(s)
                .into_iter()
                .flat_map(|(_, x)| x)
                .filter(|x| members.contains_key(x))
                .collect();
            (s.as_str(), v)
        })
        .collect();
    let mut t = Tarjan {
        adj: &adj,
        index: HashMap::new(),
        low: HashMap::new(),
        on: BTreeSet::new(),
        stack: Vec::new(),
        next: 0,
        out: Vec::new(),
    };
    for s in members.keys() {
        if !t.index.contains_key(s) {
            t.strong(s);
        }
    }
    t.out
}

/// Tarjan's walk over the `need` adjacency; `out` collects the components of more than one.
struct Tarjan<'b> {
    adj: &'b BTreeMap<&'b str, Vec<String>>,
    index: HashMap<String, usize>,
    low: HashMap<String, usize>,
    on: BTreeSet<String>,
    stack: Vec<String>,
    next: usize,
    out: Vec<Vec<String>>,
}

impl Tarjan<'_> {
    fn strong(&mut self, v: &str) {
        self.index.insert(v.to_owned(), self.next);
        self.low.insert(v.to_owned(), self.next);
        self.next += 1;
        self.stack.push(v.to_owned());
        self.on.insert(v.to_owned());
        for w in self.adj.get(v).cloned().unwrap_or_default() {
            if !self.index.contains_key(&w) {
                self.strong(&w);
                let l = self.low[&w].min(self.low[v]);
                self.low.insert(v.to_owned(), l);
            } else if self.on.contains(&w) {
                let l = self.index[&w].min(self.low[v]);
                self.low.insert(v.to_owned(), l);
            }
        }
        if self.low[v] == self.index[v] {
            let mut comp = Vec::new();
            while let Some(w) = self.stack.pop() {
                self.on.remove(&w);
                let done = w == v;
                comp.push(w);
                if done {
                    break;
                }
            }
            if comp.len() > 1 {
                comp.reverse();
                self.out.push(comp);
            }
        }
    }
}
