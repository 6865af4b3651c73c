//! Cycle breaking: OpenRC's traversal, phase by phase, drops the edge that closes an ordering
//! cycle; a `need` edge is kept and a soft edge of its cycle dropped instead.

use std::collections::{BTreeMap, BTreeSet};

use super::Input;
use super::resolve::Ctx;

/// The ordering edges kept (service -> its dependencies) and the cycles broken on the way.
pub(super) fn break_cycles(
    input: &Input<'_>,
    ctx: &Ctx<'_>,
    phase_of: &BTreeMap<String, usize>,
    adjacency: &BTreeMap<String, Vec<String>>,
    hard: &BTreeSet<(String, String)>,
) -> (BTreeMap<String, Vec<String>>, Vec<Vec<String>>) {
    let mut kept: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut cycles: Vec<Vec<String>> = Vec::new();
    for (i, (_, names)) in input.phases.iter().enumerate() {
        let roots = phase_roots(ctx, phase_of, i, names);
        let mut dfs = Dfs {
            state: BTreeMap::new(),
            stack: Vec::new(),
            hard,
            hard_back: Vec::new(),
        };
        for r in &roots {
            dfs.visit(r, adjacency, &mut kept, &mut cycles);
        }
        for (u, t) in std::mem::take(&mut dfs.hard_back) {
            keep_hard_edge(&u, &t, hard, &mut kept, &mut cycles);
        }
    }
    (kept, cycles)
}

/// Phase `i`'s services in the order the traversal starts from them: runlevel entries first,
/// sorted by name (D-26); then pulled-in ones in deptree order.
fn phase_roots(
    ctx: &Ctx<'_>,
    phase_of: &BTreeMap<String, usize>,
    i: usize,
    names: &[String],
) -> Vec<String> {
    let mut roots: Vec<String> = phase_of
        .iter()
        .filter(|(_, p)| **p == i)
        .map(|(s, _)| s.clone())
        .collect();
    roots.sort_by_key(|s| {
        (
            !names.contains(s),
            if names.contains(s) {
                0
            } else {
                ctx.order[s.as_str()]
            },
            s.clone(),
        )
    });
    roots
}

/// Keeps the hard edge u -> t (t starts before u), dropping soft edges of every cycle it closes:
/// the soft edge nearest to `u` on the path from t back to u.
fn keep_hard_edge(
    u: &str,
    t: &str,
    hard: &BTreeSet<(String, String)>,
    kept: &mut BTreeMap<String, Vec<String>>,
    cycles: &mut Vec<Vec<String>>,
) {
    loop {
        // Path t -> ... -> u over kept edges (a -> b: b is a dependency of a).
        let mut parent: BTreeMap<String, String> = BTreeMap::new();
        let mut todo = std::collections::VecDeque::from([t.to_owned()]);
        let mut found = false;
        while let Some(n) = todo.pop_front() {
            if n == u {
                found = true;
                break;
            }
            for d in kept.get(&n).cloned().unwrap_or_default() {
                if d != t && !parent.contains_key(&d) {
                    parent.insert(d.clone(), n.clone());
                    todo.push_back(d);
                }
            }
        }
        if !found {
            kept.entry(u.to_owned()).or_default().push(t.to_owned());
            return;
        }
        let mut path = vec![u.to_owned()];
        while let Some(p) = parent.get(path.last().map(String::as_str).unwrap_or(t)) {
            path.push(p.clone());
        }
        path.reverse(); // t ... u
        // Edges along the path are (path[i] -> path[i+1]); drop the soft one nearest to u.
        let Some(i) = (0..path.len() - 1)
            .rev()
            .find(|&i| !hard.contains(&(path[i].clone(), path[i + 1].clone())))
        else {
            // Only hard edges: a need cycle, already failed before ordering; nothing to keep.
            return;
        };
        if let Some(v) = kept.get_mut(&path[i]) {
            v.retain(|x| *x != path[i + 1]);
        }
        let mut c = vec![u.to_owned()];
        c.extend(path.iter().cloned());
        cycles.push(c);
    }
}

/// OpenRC's traversal: post-order DFS; an edge to a service still on the stack closes a cycle and
/// is dropped there, unless it is a `need` edge (kept by `keep_hard_edge` afterwards).
struct Dfs<'h> {
    state: BTreeMap<String, u8>, // 1 on stack, 2 done
    stack: Vec<String>,
    hard: &'h BTreeSet<(String, String)>,
    hard_back: Vec<(String, String)>,
}

impl Dfs<'_> {
    fn visit(
        &mut self,
        s: &str,
        adj: &BTreeMap<String, Vec<String>>,
        kept: &mut BTreeMap<String, Vec<String>>,
        cycles: &mut Vec<Vec<String>>,
    ) {
        if self.state.contains_key(s) {
            return;
        }
        self.state.insert(s.to_owned(), 1);
        self.stack.push(s.to_owned());
        let mut mine = Vec::new();
        for t in adj.get(s).into_iter().flatten() {
            match self.state.get(t.as_str()) {
                Some(1) if self.hard.contains(&(s.to_owned(), t.clone())) => {
                    self.hard_back.push((s.to_owned(), t.clone()));
                }
                Some(1) => {
                    let from = self.stack.iter().position(|x| x == t).unwrap_or(0);
                    let mut c: Vec<String> = self.stack[from..].to_vec();
                    c.push(t.clone());
                    cycles.push(c);
                }
                Some(_) => mine.push(t.clone()),
                None => {
                    self.visit(t, adj, kept, cycles);
                    mine.push(t.clone());
                }
            }
        }
        kept.insert(s.to_owned(), mine);
        self.stack.pop();
        self.state.insert(s.to_owned(), 2);
    }
}
