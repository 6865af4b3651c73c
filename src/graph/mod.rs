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

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde::Serialize;

use crate::script::spec::Spec;

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

const ORDER_KINDS: [Kind; 4] = [Kind::Need, Kind::Want, Kind::Use, Kind::After];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Need,
    Want,
    Use,
    After,
}

struct Ctx<'a> {
    specs: BTreeMap<&'a str, &'a Spec>,
    /// Generation order (deptree order): position of each service.
    order: HashMap<&'a str, usize>,
    providers: BTreeMap<String, Vec<String>>,
    /// Services of the runlevel phases (not pulled-in ones), for provider choice.
    in_levels: BTreeSet<String>,
    excluded: BTreeMap<String, String>,
    /// Virtual names only excluded services provide: dropped from every list like the services.
    dropped: BTreeSet<String>,
    assumed: BTreeSet<String>,
}

enum Resolved {
    /// Real services (one, or the chosen providers).
    Services(Vec<String>),
    /// Satisfied without a node (assumed provided by the container).
    Assumed,
    /// Dropped (target excluded by keyword): no effect.
    Dropped,
    /// A service that exists but failed to load.
    Broken,
    /// Nothing of that name.
    Missing,
}

impl<'a> Ctx<'a> {
    fn usable(&self, name: &str) -> bool {
        self.specs.get(name).is_some_and(|s| s.error.is_none()) && !self.excluded.contains_key(name)
    }

    fn resolve(&self, name: &str) -> Resolved {
        if self.excluded.contains_key(name) || self.dropped.contains(name) {
            return Resolved::Dropped;
        }
        if let Some(s) = self.specs.get(name) {
            return match &s.error {
                None => Resolved::Services(vec![name.to_owned()]),
                Some(_) => Resolved::Broken,
            };
        }
        if let Some(p) = self.providers.get(name) {
            // D-20: the providers in the runlevels, all of them; otherwise the first one.
            let in_lv: Vec<String> = p
                .iter()
                .filter(|x| self.in_levels.contains(*x))
                .cloned()
                .collect();
            return Resolved::Services(if in_lv.is_empty() {
                vec![p[0].clone()]
            } else {
                in_lv
            });
        }
        if self.assumed.contains(name) {
            return Resolved::Assumed;
        }
        Resolved::Missing
    }

    /// What `s` needs, each name with the services it resolves to (providers for a virtual).
    fn needed(&self, s: &str) -> Vec<(&'a str, Vec<String>)> {
        self.specs[s]
            .deps
            .need
            .iter()
            .filter_map(|t| match self.resolve(t) {
                Resolved::Services(v) => Some((t.as_str(), v)),
                _ => None,
            })
            .collect()
    }

    fn targets(&self, s: &Spec, kind: Kind) -> &'a [String] {
        let spec = self.specs[s.name.as_str()];
        match kind {
            Kind::Need => &spec.deps.need,
            Kind::Want => &spec.deps.want,
            Kind::Use => &spec.deps.use_,
            Kind::After => &spec.deps.after,
        }
    }
}

/// Builds the graph and the plans.
#[expect(clippy::too_many_lines, reason = "to be split (issue 23)")]
pub fn build(input: &Input<'_>) -> Graph {
    let mut g = Graph::default();
    let mut ctx = Ctx {
        specs: input.specs.iter().map(|s| (s.name.as_str(), s)).collect(),
        order: input
            .specs
            .iter()
            .enumerate()
            .map(|(i, s)| (s.name.as_str(), i))
            .collect(),
        providers: BTreeMap::new(),
        // D-20: "in the runlevel or the boot runlevel": sysinit members do not count.
        in_levels: input
            .phases
            .iter()
            .filter(|(level, _)| level != "sysinit")
            .flat_map(|(_, l)| l.iter().cloned())
            .collect(),
        excluded: BTreeMap::new(),
        dropped: BTreeSet::new(),
        assumed: BTreeSet::new(),
    };
    for s in input.specs {
        if s.error.is_none()
            && let Some(why) = exclusion(&s.raw.keyword, input.sys)
        {
            ctx.excluded.insert(s.name.clone(), why);
        }
    }
    let usable: Vec<&Spec> = input.specs.iter().filter(|s| ctx.usable(&s.name)).collect();
    for s in usable {
        for v in &s.deps.provide {
            if ctx.specs.contains_key(v.as_str()) {
                g.warnings
                    .push(format!("{v} is the name of a real and virtual service"));
                continue;
            }
            ctx.providers
                .entry(v.clone())
                .or_default()
                .push(s.name.clone());
        }
    }
    for s in input
        .specs
        .iter()
        .filter(|s| ctx.excluded.contains_key(&s.name))
    {
        for v in &s.deps.provide {
            if !ctx.providers.contains_key(v) {
                ctx.dropped.insert(v.clone());
            }
        }
    }
    ctx.assumed = input
        .assumed
        .iter()
        .filter(|n| !ctx.providers.contains_key(*n) && !ctx.specs.contains_key(n.as_str()))
        .cloned()
        .collect();

    // Which phase each service starts in: its runlevel's, or that of the first service whose
    // need/want pulls it in.
    let mut phase_of: BTreeMap<String, usize> = BTreeMap::new();
    let mut failed: BTreeMap<String, String> = BTreeMap::new();
    let mut reached: BTreeSet<String> = BTreeSet::new();
    let mut assumed_used = BTreeSet::new();
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

    // Hard failures: missing or broken needs, need cycles, and whatever needs a failed service.
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
    for cycle in need_cycles(&phase_of, &ctx) {
        let why = format!("need cycle: {}", cycle_text(&cycle));
        for m in &cycle {
            failed.insert(m.clone(), why.clone());
        }
        g.need_cycles.push(cycle);
    }
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
    for s in input.specs {
        if s.error.is_some() && !failed.contains_key(&s.name) {
            failed.insert(s.name.clone(), s.error.clone().unwrap_or_default());
        }
    }
    g.failed_in_plan = failed
        .keys()
        .filter(|s| reached.contains(*s))
        .cloned()
        .collect();
    phase_of.retain(|s, _| !failed.contains_key(s));

    // Ordering: the adjacency OpenRC's traversal follows, per service, in kind and list order.
    // Every service's need/want/use/after targets, resolved: for D-07's reachability.
    let forward: BTreeMap<&str, Vec<String>> = input
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
        .collect();
    let reaches = |from: &str, to: &str| -> bool {
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
    };
    let before_of: BTreeMap<String, Vec<String>> = {
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
                        if !reaches(&s.name, &x) {
                            m.entry(x).or_default().push(s.name.clone());
                        }
                    }
                }
            }
        }
        m
    };
    let mut deps_of = |s: &str| -> Vec<String> {
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
    };
    let adjacency: BTreeMap<String, Vec<String>> =
        phase_of.keys().map(|s| (s.clone(), deps_of(s))).collect();

    // `need` edges are hard: a cycle through one is broken at one of its soft edges instead.
    let hard: BTreeSet<(String, String)> = phase_of
        .keys()
        .flat_map(|s| {
            ctx.needed(s)
                .into_iter()
                .flat_map(move |(_, v)| v.into_iter().map(move |x| (s.clone(), x)))
        })
        .collect();
    let mut kept: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (i, (_, names)) in input.phases.iter().enumerate() {
        let mut roots: Vec<String> = phase_of
            .iter()
            .filter(|(_, p)| **p == i)
            .map(|(s, _)| s.clone())
            .collect();
        // Runlevel entries first, sorted by name (D-26); then pulled-in ones in deptree order.
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
        let mut dfs = Dfs {
            state: BTreeMap::new(),
            stack: Vec::new(),
            hard: &hard,
            hard_back: Vec::new(),
        };
        for r in &roots {
            dfs.visit(r, &adjacency, &mut kept, &mut g.cycles);
        }
        for (u, t) in std::mem::take(&mut dfs.hard_back) {
            keep_hard_edge(&u, &t, &hard, &mut kept, &mut g.cycles);
        }
    }

    // Waves: longest path from the sources, phase after phase.
    let mut depth: BTreeMap<String, usize> = BTreeMap::new();
    let mut base = 0;
    for i in 0..input.phases.len() {
        let members: Vec<&String> = phase_of
            .iter()
            .filter(|(_, p)| **p == i)
            .map(|(s, _)| s)
            .collect();
        let mut local: BTreeMap<&str, usize> = BTreeMap::new();
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
        let mut top = 0;
        for m in &members {
            let d = level(m, &kept, &mut local);
            top = top.max(d + 1);
            depth.insert((*m).clone(), base + d);
        }
        base += top;
    }
    let mut waves: Vec<Vec<String>> = vec![Vec::new(); base];
    for (s, d) in &depth {
        waves[*d].push(s.clone());
    }
    waves.retain(|w| !w.is_empty());
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
    for (name, spec) in &ctx.specs {
        if spec.error.is_some() || ctx.excluded.contains_key(*name) {
            continue;
        }
        let missing: Vec<String> = spec
            .deps
            .need
            .iter()
            .filter(|t| matches!(ctx.resolve(t), Resolved::Missing))
            .cloned()
            .collect();
        if !missing.is_empty() {
            g.missing_needs.insert((*name).to_owned(), missing);
        }
    }
    g.failed = failed;
    g.excluded = ctx.excluded;
    g.providers = ctx.providers;
    g.assumed_provided = assumed_used.into_iter().collect();
    g
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
    struct T<'b> {
        adj: &'b BTreeMap<&'b str, Vec<String>>,
        index: HashMap<String, usize>,
        low: HashMap<String, usize>,
        on: BTreeSet<String>,
        stack: Vec<String>,
        next: usize,
        out: Vec<Vec<String>>,
    }
    impl T<'_> {
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
    let mut t = T {
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

#[cfg(test)]
mod tests;
