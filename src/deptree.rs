//! OpenRC's dependency cache (`/run/openrc/deptree`, R-20) written from rcinit's evaluation,
//! so that OpenRC's own tools in the image (openrc-run, rc-service, rc-status) read the graph
//! rcinit runs, the names the container provides included (pure).
//!
//! OpenRC builds the cache from its generator's lists in phases (librc-depend): services a
//! keyword excludes on this system go, with their names and what they provide dropped from
//! every other list (D-04); every provided name becomes a node (D-05); back-links are added,
//! and a need of nothing is marked `broken`; a `before` that is also a dependency is dropped.
//! openrc-run refuses to start a service with a broken need. rcinit takes names a container
//! runtime has already seen to (`net`, `localmount`...) as provided when nothing provides them:
//! here they are dropped like the provides of an excluded service, which is what OpenRC does
//! in a container whose image has their providers marked `-docker`.

/// One node: a service or a provided name, with its lists in the order they were made.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Node {
    service: String,
    types: Vec<(String, Vec<String>)>,
}

impl Node {
    fn get(&self, t: &str) -> Option<&Vec<String>> {
        self.types.iter().find(|(k, _)| k == t).map(|(_, v)| v)
    }

    fn list(&mut self, t: &str) -> &mut Vec<String> {
        let i = match self.types.iter().position(|(k, _)| k == t) {
            Some(i) => i,
            None => {
                self.types.push((t.to_owned(), Vec::new()));
                self.types.len() - 1
            }
        };
        &mut self.types[i].1
    }

    fn add_unique(&mut self, t: &str, v: &str) {
        let l = self.list(t);
        if !l.iter().any(|x| x == v) {
            l.push(v.to_owned());
        }
    }

    /// Removes the first `v` of list `t` (the list stays, empty or not).
    fn delete_in(&mut self, t: &str, v: &str) {
        if let Some((_, l)) = self.types.iter_mut().find(|(k, _)| k == t)
            && let Some(i) = l.iter().position(|x| x == v)
        {
            l.remove(i);
        }
    }

    /// Removes the first `v` of every list, and the lists left empty.
    fn delete_everywhere(&mut self, v: &str) {
        for (_, l) in &mut self.types {
            if let Some(i) = l.iter().position(|x| x == v) {
                l.remove(i);
            }
        }
        self.types.retain(|(_, l)| !l.is_empty());
    }
}

/// A script's dependency lists as the generator gives them (after D-01..D-03).
#[derive(Debug, Clone, Default)]
pub struct Script<'a> {
    pub name: &'a str,
    pub need: &'a [String],
    pub use_: &'a [String],
    pub want: &'a [String],
    pub after: &'a [String],
    pub before: &'a [String],
    pub provide: &'a [String],
    pub keyword: &'a [String],
    /// 0.64: variables a started service hands to what starts after it.
    pub reexport: &'a [String],
}

impl<'a> From<&'a crate::script::spec::Spec> for Script<'a> {
    fn from(s: &'a crate::script::spec::Spec) -> Self {
        let d = &s.deps;
        Script {
            name: &s.name,
            need: &d.need,
            use_: &d.use_,
            want: &d.want,
            after: &d.after,
            before: &d.before,
            provide: &d.provide,
            keyword: &d.keyword,
            reexport: &d.reexport,
        }
    }
}

const BACKLINKS: [(&str, &str); 6] = [
    ("ineed", "needsme"),
    ("iuse", "usesme"),
    ("iwant", "wantsme"),
    ("iafter", "ibefore"),
    ("ibefore", "iafter"),
    ("iprovide", "providedby"),
];

/// A value the cache can hold: its lines are `depinfo_N_type_M='value'`, read back by
/// splitting on `_` and `=` up to the value and unquoting it.
fn storable(v: &str) -> bool {
    !v.is_empty()
        && !v
            .bytes()
            .any(|b| b == b'\'' || b == b'\n' || b == b'\r' || b == 0)
}

fn position(tree: &[Node], name: &str) -> Option<usize> {
    tree.iter().position(|n| n.service == name)
}

/// The cache's nodes for these scripts (in generation order) on system `sys` (lower case),
/// with `assumed` names taken as provided when nothing provides them.
fn build(scripts: &[Script<'_>], sys: Option<&str>, assumed: &[String]) -> Vec<Node> {
    let mut tree = script_nodes(scripts);
    if let Some(sys) = sys {
        drop_excluded(&mut tree, sys);
    }
    drop_assumed(&mut tree, assumed);
    add_virtuals(&mut tree);
    add_backlinks(&mut tree);
    drop_redundant_befores(&mut tree);
    tree
}

/// One node per script, with the generator's lists that hold anything storable.
fn script_nodes(scripts: &[Script<'_>]) -> Vec<Node> {
    scripts
        .iter()
        .filter(|s| storable(s.name))
        .map(|s| {
            let mut types = Vec::new();
            for (t, l) in [
                ("ineed", s.need),
                ("iuse", s.use_),
                ("iwant", s.want),
                ("iafter", s.after),
                ("ibefore", s.before),
                ("iprovide", s.provide),
                ("keyword", s.keyword),
                ("reexport", s.reexport),
            ] {
                let l: Vec<String> = l.iter().filter(|v| storable(v)).cloned().collect();
                if !l.is_empty() {
                    types.push((t.to_owned(), l));
                }
            }
            Node {
                service: s.name.to_owned(),
                types,
            }
        })
        .collect()
}

/// What this system excludes goes, with its name and its provides (D-04).
fn drop_excluded(tree: &mut Vec<Node>, sys: &str) {
    let (nosys, onosys) = (
        format!("-{}", sys.to_lowercase()),
        format!("no{}", sys.to_lowercase()),
    );
    let mut i = 0;
    while i < tree.len() {
        let excluded = tree[i]
            .get("keyword")
            .is_some_and(|k| k.iter().any(|w| *w == nosys || *w == onosys));
        if !excluded {
            i += 1;
            continue;
        }
        let gone = tree.remove(i);
        let provides = gone.get("iprovide").cloned().unwrap_or_default();
        for n in tree.iter_mut() {
            n.delete_everywhere(&gone.service);
            for p in &provides {
                n.delete_everywhere(p);
            }
        }
    }
}

/// The container's names, where nothing left provides them, go like an excluded provide.
fn drop_assumed(tree: &mut [Node], assumed: &[String]) {
    let provided: std::collections::HashSet<String> = tree
        .iter()
        .flat_map(|n| n.get("iprovide").cloned().unwrap_or_default())
        .chain(tree.iter().map(|n| n.service.clone()))
        .collect();
    for a in assumed.iter().filter(|a| !provided.contains(*a)) {
        for n in tree.iter_mut() {
            n.delete_everywhere(a);
        }
    }
}

/// Every provided name a node (D-05).
fn add_virtuals(tree: &mut Vec<Node>) {
    let mut virtuals: Vec<Node> = Vec::new();
    for n in tree.iter() {
        for p in n.get("iprovide").into_iter().flatten() {
            if !virtuals.iter().any(|v| v.service == *p) {
                virtuals.push(Node {
                    service: p.clone(),
                    types: Vec::new(),
                });
            }
        }
    }
    tree.extend(virtuals);
}

/// Back-links; a need of nothing is broken. A node reached later sees the links added to
/// it by earlier ones (as OpenRC's single pass does).
fn add_backlinks(tree: &mut [Node]) {
    for i in 0..tree.len() {
        for (dep, back) in BACKLINKS {
            let Some(targets) = tree[i].get(dep).cloned() else {
                continue;
            };
            let me = tree[i].service.clone();
            for t in targets {
                match position(tree, &t) {
                    Some(j) => tree[j].add_unique(back, &me),
                    None if dep == "ineed" => tree[i].add_unique("broken", &t),
                    None => {}
                }
            }
        }
    }
}

/// A `before` of what is also a dependency (directly, or through what it provides) goes.
fn drop_redundant_befores(tree: &mut [Node]) {
    for i in 0..tree.len() {
        let Some(before) = tree[i].get("ibefore").cloned() else {
            continue;
        };
        let me = tree[i].service.clone();
        let mut sorted: Vec<String> = ["ineed", "iwant", "iuse", "iafter"]
            .iter()
            .flat_map(|t| tree[i].get(t).cloned().unwrap_or_default())
            .collect();
        if tree[i].get("providedby").is_none() {
            sorted.push(me.clone());
        }
        for b in before {
            let mut hit = false;
            for s in &sorted {
                let Some(j) = position(tree, s) else {
                    continue;
                };
                if *s == b {
                    tree[j].delete_in("iafter", &me);
                    hit = true;
                    break;
                }
                if tree[j].get("iprovide").is_some_and(|p| p.contains(&b)) {
                    if let Some(k) = position(tree, &b) {
                        tree[k].delete_in("iafter", &me);
                    }
                    hit = true;
                    break;
                }
            }
            if hit {
                tree[i].delete_in("ibefore", &b);
            }
        }
    }
}

/// The cache file's text.
pub fn render(scripts: &[Script<'_>], sys: Option<&str>, assumed: &[String]) -> String {
    let mut out = String::new();
    for (i, n) in build(scripts, sys, assumed).iter().enumerate() {
        out.push_str(&format!("depinfo_{i}_service='{}'\n", n.service));
        for (t, l) in &n.types {
            for (k, v) in l.iter().enumerate() {
                out.push_str(&format!("depinfo_{i}_{t}_{k}='{v}'\n"));
            }
        }
    }
    out
}

/// A cache read back as OpenRC reads it: service -> type -> list (for tests and comparisons).
pub type Parsed =
    std::collections::BTreeMap<String, std::collections::BTreeMap<String, Vec<String>>>;

/// Parses a cache file (OpenRC's or rcinit's); a node of a name seen before is merged.
pub fn parse(text: &str) -> Parsed {
    let mut out = Parsed::new();
    let mut names: std::collections::HashMap<String, String> = Default::default();
    for line in text.lines() {
        let Some(rest) = line.strip_prefix("depinfo_") else {
            continue;
        };
        let Some((index, rest)) = rest.split_once('_') else {
            continue;
        };
        let Some((key, value)) = rest.split_once('=') else {
            continue;
        };
        let value = value.trim_matches('\'').to_owned();
        if key == "service" {
            names.insert(index.to_owned(), value.clone());
            out.entry(value).or_default();
            continue;
        }
        let Some((t, _)) = key.rsplit_once('_') else {
            continue;
        };
        let Some(svc) = names.get(index) else {
            continue;
        };
        out.entry(svc.clone())
            .or_default()
            .entry(t.to_owned())
            .or_default()
            .push(value);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> Vec<String> {
        s.split_whitespace().map(str::to_owned).collect()
    }

    struct Lists {
        name: &'static str,
        need: Vec<String>,
        after: Vec<String>,
        before: Vec<String>,
        provide: Vec<String>,
        keyword: Vec<String>,
    }

    fn lists(name: &'static str, need: &str, after: &str, before: &str, provide: &str) -> Lists {
        Lists {
            name,
            need: v(need),
            after: v(after),
            before: v(before),
            provide: v(provide),
            keyword: Vec::new(),
        }
    }

    fn scripts(l: &[Lists]) -> Vec<Script<'_>> {
        l.iter()
            .map(|l| Script {
                name: l.name,
                need: &l.need,
                after: &l.after,
                before: &l.before,
                provide: &l.provide,
                keyword: &l.keyword,
                ..Script::default()
            })
            .collect()
    }

    #[test]
    fn back_links_virtual_nodes_and_broken_needs_d05() {
        let l = [
            lists("web", "db net", "", "", ""),
            lists("pg", "", "", "", "db"),
        ];
        let p = parse(&render(&scripts(&l), None, &[]));
        assert_eq!(p["web"]["ineed"], v("db net"));
        assert_eq!(p["web"]["broken"], v("net"));
        assert_eq!(p["db"]["providedby"], v("pg"));
        assert_eq!(p["db"]["needsme"], v("web"));
        assert_eq!(p["pg"]["iprovide"], v("db"));
        // The container's names: dropped where nothing provides them, nothing broken.
        let p = parse(&render(&scripts(&l), Some("docker"), &v("net localmount")));
        assert_eq!(p["web"]["ineed"], v("db"));
        assert!(!p["web"].contains_key("broken"), "{p:?}");
        // A real provider keeps the name.
        let l2 = [
            lists("web", "net", "", "", ""),
            lists("networking", "", "", "", "net"),
        ];
        let p = parse(&render(&scripts(&l2), Some("docker"), &v("net")));
        assert_eq!(p["web"]["ineed"], v("net"));
        assert_eq!(p["net"]["providedby"], v("networking"));
    }

    #[test]
    fn a_keyword_excludes_the_service_and_what_it_provides_d04() {
        let mut l = [
            lists("web", "net", "", "", ""),
            lists("networking", "", "", "", "net"),
        ];
        l[1].keyword = v("-docker");
        let p = parse(&render(&scripts(&l), Some("docker"), &[]));
        assert!(
            !p.contains_key("networking") && !p.contains_key("net"),
            "{p:?}"
        );
        assert!(!p["web"].contains_key("ineed") && !p["web"].contains_key("broken"));
        // Elsewhere it stays.
        let p = parse(&render(&scripts(&l), Some("lxc"), &[]));
        assert_eq!(p["web"]["ineed"], v("net"));
    }

    #[test]
    fn before_and_after_mirror_and_a_before_that_is_a_dependency_goes() {
        let l = [
            lists("a", "", "b", "", ""),
            lists("b", "", "", "", ""),
            lists("c", "", "", "d", ""),
            lists("d", "", "", "", ""),
            // e needs f and says before f: the loop's before goes, with f's after e.
            lists("e", "f", "", "f", ""),
            lists("f", "", "", "", ""),
        ];
        let p = parse(&render(&scripts(&l), None, &[]));
        assert_eq!(p["b"]["ibefore"], v("a"));
        // A name nothing is gets no node: an after of it is only a wish.
        let p2 = parse(&render(&scripts(&l[..1]), None, &[]));
        assert!(!p2.contains_key("b"));
        assert_eq!(p["d"]["iafter"], v("c"));
        assert_eq!(p["c"]["ibefore"], v("d"));
        assert!(p["e"].get("ibefore").is_none_or(|l| l.is_empty()), "{p:?}");
        assert!(p["f"].get("iafter").is_none_or(|l| l.is_empty()), "{p:?}");
        assert_eq!(p["f"]["needsme"], v("e"));
    }

    #[test]
    fn hostile_names_never_make_a_line_of_their_own() {
        let l = [lists("web", "x'\ndepinfo_0_ineed_9='evil", "", "", "")];
        let text = render(&scripts(&l), None, &[]);
        assert!(!text.contains("evil"), "{text}");
        assert_eq!(text.lines().count(), 1);
    }
}
