//! What a dependency name stands for: a service, the chosen providers of a virtual name, a name
//! the container provides, or nothing usable.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use super::{Input, exclusion};
use crate::script::spec::Spec;

pub(super) const ORDER_KINDS: [Kind; 4] = [Kind::Need, Kind::Want, Kind::Use, Kind::After];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    Need,
    Want,
    Use,
    After,
}

pub(super) struct Ctx<'a> {
    pub(super) specs: BTreeMap<&'a str, &'a Spec>,
    /// Generation order (deptree order): position of each service.
    pub(super) order: HashMap<&'a str, usize>,
    pub(super) providers: BTreeMap<String, Vec<String>>,
    /// Services of the runlevel phases (not pulled-in ones), for provider choice.
    in_levels: BTreeSet<String>,
    pub(super) excluded: BTreeMap<String, String>,
    /// Virtual names only excluded services provide: dropped from every list like the services.
    dropped: BTreeSet<String>,
    assumed: BTreeSet<String>,
}

pub(super) enum Resolved {
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
    /// Every lookup the later phases resolve names through; a `provide` of a real service's name
    /// is a warning (pushed to `warnings`), not a provider.
    pub(super) fn new(input: &Input<'a>, warnings: &mut Vec<String>) -> Self {
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
            excluded: excluded_by_keyword(input),
            dropped: BTreeSet::new(),
            assumed: BTreeSet::new(),
        };
        ctx.providers = ctx.providers_of_virtuals(input.specs, warnings);
        ctx.dropped = ctx.excluded_virtuals(input.specs);
        ctx.assumed = input
            .assumed
            .iter()
            .filter(|n| !ctx.providers.contains_key(*n) && !ctx.specs.contains_key(n.as_str()))
            .cloned()
            .collect();
        ctx
    }

    /// Virtual name -> its usable providers, in generation order.
    fn providers_of_virtuals(
        &self,
        specs: &[Spec],
        warnings: &mut Vec<String>,
    ) -> BTreeMap<String, Vec<String>> {
        let mut providers: BTreeMap<String, Vec<String>> = BTreeMap::new();
        let usable: Vec<&Spec> = specs.iter().filter(|s| self.usable(&s.name)).collect();
        for s in usable {
            for v in &s.deps.provide {
                if self.specs.contains_key(v.as_str()) {
                    warnings.push(format!("{v} is the name of a real and virtual service"));
                    continue;
                }
                providers.entry(v.clone()).or_default().push(s.name.clone());
            }
        }
        providers
    }

    /// Virtual names only excluded services provide: they go the way of those services.
    fn excluded_virtuals(&self, specs: &[Spec]) -> BTreeSet<String> {
        let mut dropped = BTreeSet::new();
        for s in specs.iter().filter(|s| self.excluded.contains_key(&s.name)) {
            for v in &s.deps.provide {
                if !self.providers.contains_key(v) {
                    dropped.insert(v.clone());
                }
            }
        }
        dropped
    }

    pub(super) fn usable(&self, name: &str) -> bool {
        self.specs.get(name).is_some_and(|s| s.error.is_none()) && !self.excluded.contains_key(name)
    }

    pub(super) fn resolve(&self, name: &str) -> Resolved {
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
    pub(super) fn needed(&self, s: &str) -> Vec<(&'a str, Vec<String>)> {
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

    pub(super) fn targets(&self, s: &Spec, kind: Kind) -> &'a [String] {
        let spec = self.specs[s.name.as_str()];
        match kind {
            Kind::Need => &spec.deps.need,
            Kind::Want => &spec.deps.want,
            Kind::Use => &spec.deps.use_,
            Kind::After => &spec.deps.after,
        }
    }

    /// For every loaded script, planned or not, the `need` targets nothing provides (OpenRC's
    /// generator warns of each).
    pub(super) fn missing_needs(&self) -> BTreeMap<String, Vec<String>> {
        let mut out = BTreeMap::new();
        for (name, spec) in &self.specs {
            if spec.error.is_some() || self.excluded.contains_key(*name) {
                continue;
            }
            let missing: Vec<String> = spec
                .deps
                .need
                .iter()
                .filter(|t| matches!(self.resolve(t), Resolved::Missing))
                .cloned()
                .collect();
            if !missing.is_empty() {
                out.insert((*name).to_owned(), missing);
            }
        }
        out
    }
}

/// Why each loadable service is excluded on this system, if a keyword excludes it (D-04).
fn excluded_by_keyword(input: &Input<'_>) -> BTreeMap<String, String> {
    let mut excluded = BTreeMap::new();
    for s in input.specs {
        if s.error.is_none()
            && let Some(why) = exclusion(&s.raw.keyword, input.sys)
        {
            excluded.insert(s.name.clone(), why);
        }
    }
    excluded
}
