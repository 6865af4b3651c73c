use super::*;
use crate::script::spec::{Deps, add_dep};

fn svc(name: &str, deps: &[(&str, &str)]) -> Spec {
    let (mut raw, mut d) = (Deps::default(), Deps::default());
    for (v, w) in deps {
        add_dep(name, &mut raw, &mut d, v, w);
    }
    Spec {
        name: name.into(),
        path: format!("/etc/init.d/{name}"),
        raw,
        deps: d,
        ..Spec::default()
    }
}

fn broken(name: &str) -> Spec {
    Spec {
        error: Some(format!("error loading /etc/init.d/{name}")),
        ..svc(name, &[])
    }
}

fn plan(specs: &[Spec], default: &[&str]) -> Graph {
    plan_with(specs, None, &[], &[("default", default)])
}

fn plan_with(
    specs: &[Spec],
    sys: Option<&str>,
    assumed: &[&str],
    phases: &[(&str, &[&str])],
) -> Graph {
    build(&Input {
        specs,
        sys,
        assumed: assumed.iter().map(|s| s.to_string()).collect(),
        phases: phases
            .iter()
            .map(|(n, l)| (n.to_string(), l.iter().map(|s| s.to_string()).collect()))
            .collect(),
    })
}

fn wave_of(g: &Graph, s: &str) -> usize {
    g.start
        .iter()
        .position(|w| w.iter().any(|x| x == s))
        .unwrap_or_else(|| panic!("{s} not in the plan: {:?}", g.start))
}

fn waves(g: &Graph) -> Vec<Vec<&str>> {
    g.start
        .iter()
        .map(|w| w.iter().map(String::as_str).collect())
        .collect()
}

#[test]
fn independent_services_share_a_wave_and_edges_order_them() {
    let specs = [
        svc("a", &[("need", "b"), ("after", "c")]),
        svc("b", &[]),
        svc("c", &[]),
        svc("d", &[]),
    ];
    let g = plan(&specs, &["a", "c", "d"]);
    assert_eq!(waves(&g), vec![vec!["b", "c", "d"], vec!["a"]]);
    assert_eq!(
        g.stop,
        vec![
            vec!["a".to_string()],
            vec!["b".into(), "c".into(), "d".into()]
        ]
    );
}

#[test]
#[expect(clippy::too_many_lines, reason = "a table of cases")]
fn table_of_verbs() {
    // (services, runlevel, expected: Some(before, after) pairs that must hold; absent services)
    struct Case {
        specs: Vec<Spec>,
        level: Vec<&'static str>,
        order: Vec<(&'static str, &'static str)>,
        absent: Vec<&'static str>,
    }
    let cases = vec![
        // need pulls in from outside the runlevel.
        Case {
            specs: vec![svc("a", &[("need", "b")]), svc("b", &[])],
            level: vec!["a"],
            order: vec![("b", "a")],
            absent: vec![],
        },
        // want pulls in too; a failing want does not block.
        Case {
            specs: vec![svc("a", &[("want", "b")]), svc("b", &[])],
            level: vec!["a"],
            order: vec![("b", "a")],
            absent: vec![],
        },
        Case {
            specs: vec![svc("a", &[("want", "b")]), broken("b")],
            level: vec!["a"],
            order: vec![],
            absent: vec!["b"],
        },
        // use does not pull in, but orders when both start.
        Case {
            specs: vec![svc("a", &[("use", "b")]), svc("b", &[])],
            level: vec!["a"],
            order: vec![],
            absent: vec!["b"],
        },
        Case {
            specs: vec![svc("a", &[("use", "b")]), svc("b", &[])],
            level: vec!["a", "b"],
            order: vec![("b", "a")],
            absent: vec![],
        },
        // after never starts its target.
        Case {
            specs: vec![svc("a", &[("after", "b")]), svc("b", &[])],
            level: vec!["a"],
            order: vec![],
            absent: vec!["b"],
        },
        // before X is after-me in X.
        Case {
            specs: vec![svc("a", &[("before", "b")]), svc("b", &[])],
            level: vec!["a", "b"],
            order: vec![("a", "b")],
            absent: vec![],
        },
        // after * (the shell's glob, expanded to names) with a before: later statement wins.
        Case {
            specs: vec![
                svc("a", &[("after", "b c"), ("before", "c")]),
                svc("b", &[]),
                svc("c", &[]),
            ],
            level: vec!["a", "b", "c"],
            order: vec![("b", "a"), ("a", "c")],
            absent: vec![],
        },
        // virtual: need net through a provider; all providers in the runlevel are waited for.
        Case {
            specs: vec![
                svc("a", &[("need", "net")]),
                svc("p1", &[("provide", "net")]),
                svc("p2", &[("provide", "net")]),
            ],
            level: vec!["a", "p1", "p2"],
            order: vec![("p1", "a"), ("p2", "a")],
            absent: vec![],
        },
        // no provider in the runlevel: the first in deptree order is pulled in.
        Case {
            specs: vec![
                svc("a", &[("need", "net")]),
                svc("p1", &[("provide", "net")]),
                svc("p2", &[("provide", "net")]),
            ],
            level: vec!["a"],
            order: vec![("p1", "a")],
            absent: vec!["p2"],
        },
        // before a virtual name orders before every provider.
        Case {
            specs: vec![
                svc("fw", &[("before", "net")]),
                svc("p1", &[("provide", "net")]),
            ],
            level: vec!["fw", "p1"],
            order: vec![("fw", "p1")],
            absent: vec![],
        },
    ];
    for (i, c) in cases.iter().enumerate() {
        let g = plan(&c.specs, &c.level);
        for (x, y) in &c.order {
            assert!(
                wave_of(&g, x) < wave_of(&g, y),
                "case {i}: {x} before {y}: {:?}",
                g.start
            );
        }
        for a in &c.absent {
            assert!(
                !g.start.iter().flatten().any(|s| s == a),
                "case {i}: {a} must not start: {:?}",
                g.start
            );
        }
    }
}

#[test]
fn a_missing_need_fails_the_service_and_its_dependents_only() {
    let specs = [
        svc("a", &[("need", "ghost")]),
        svc("b", &[("need", "a")]),
        svc("c", &[("use", "ghost"), ("after", "ghost")]),
    ];
    let g = plan(&specs, &["a", "b", "c"]);
    assert_eq!(waves(&g), vec![vec!["c"]]);
    assert!(
        g.failed["a"].contains("needs ghost, which does not exist"),
        "{:?}",
        g.failed
    );
    assert!(g.failed["b"].contains("needs a"), "{:?}", g.failed);
}

#[test]
fn a_need_cycle_fails_its_members_with_the_path() {
    let specs = [
        svc("a", &[("need", "b")]),
        svc("b", &[("need", "c")]),
        svc("c", &[("need", "a")]),
        svc("d", &[]),
        svc("e", &[("need", "a")]),
    ];
    let g = plan(&specs, &["a", "d", "e"]);
    assert_eq!(waves(&g), vec![vec!["d"]]);
    for m in ["a", "b", "c"] {
        assert!(
            g.failed[m].starts_with("need cycle: a -> b -> c -> a"),
            "{m}: {:?}",
            g.failed
        );
    }
    assert!(g.failed["e"].contains("will not start"));
}

#[test]
fn an_ordering_cycle_is_broken_where_openrc_breaks_it_and_both_start() {
    // OpenRC visits a first (sorted), follows a -> b, then b -> a is the back edge: b starts first.
    let specs = [svc("a", &[("after", "b")]), svc("b", &[("after", "a")])];
    let g = plan(&specs, &["a", "b"]);
    assert_eq!(waves(&g), vec![vec!["b"], vec!["a"]]);
    assert_eq!(
        g.cycles,
        vec![vec!["a".to_string(), "b".into(), "a".into()]]
    );
    // use/want mixed cycles also start everything.
    let specs = [
        svc("a", &[("use", "b")]),
        svc("b", &[("want", "c")]),
        svc("c", &[("after", "a")]),
    ];
    let g = plan(&specs, &["a", "b", "c"]);
    assert_eq!(g.start.iter().flatten().count(), 3);
    assert_eq!(g.cycles.len(), 1);
}

#[test]
fn keyword_exclusion_drops_rather_than_breaks() {
    let specs = [
        svc("hw", &[("keyword", "-docker"), ("provide", "clock")]),
        svc("app", &[("need", "hw clock")]),
        svc("lxconly", &[("keyword", "nolxc")]),
    ];
    let g = plan_with(
        &specs,
        Some("docker"),
        &[],
        &[("default", &["app", "hw", "lxconly"])],
    );
    assert_eq!(waves(&g), vec![vec!["app", "lxconly"]]);
    assert!(g.excluded["hw"].contains("-docker"));
    assert!(g.failed.is_empty(), "{:?}", g.failed);
    // Without a system type nothing is excluded.
    let g = plan_with(&specs, None, &[], &[("default", &["app", "hw", "lxconly"])]);
    assert!(g.excluded.is_empty());
    assert_eq!(waves(&g), vec![vec!["hw", "lxconly"], vec!["app"]]);
}

#[test]
fn container_provided_names_satisfy_need_only_without_a_provider() {
    let specs = [svc("web", &[("need", "net localmount"), ("use", "dns")])];
    let g = plan_with(
        &specs,
        Some("docker"),
        CONTAINER_PROVIDED,
        &[("default", &["web"])],
    );
    assert_eq!(waves(&g), vec![vec!["web"]]);
    assert_eq!(
        g.assumed_provided,
        vec!["localmount".to_string(), "net".into()]
    );
    // Without the assumption, need net fails as in OpenRC.
    let g = plan_with(&specs, Some("docker"), &[], &[("default", &["web"])]);
    assert!(g.failed["web"].contains("needs net"), "{:?}", g.failed);
    // A real provider wins over the assumption.
    let specs = [
        svc("web", &[("need", "net")]),
        svc("dhcp", &[("provide", "net")]),
    ];
    let g = plan_with(
        &specs,
        Some("docker"),
        CONTAINER_PROVIDED,
        &[("default", &["web"])],
    );
    assert_eq!(waves(&g), vec![vec!["dhcp"], vec!["web"]]);
    assert!(g.assumed_provided.is_empty());
}

#[test]
fn phases_start_in_order_and_pulled_in_services_join_the_first_phase_that_needs_them() {
    let specs = [
        svc("s", &[]),
        svc("b", &[("need", "x")]),
        svc("x", &[]),
        svc("d", &[("need", "x")]),
    ];
    let g = plan_with(
        &specs,
        None,
        &[],
        &[("sysinit", &["s"]), ("boot", &["b"]), ("default", &["d"])],
    );
    assert_eq!(waves(&g), vec![vec!["s"], vec!["x"], vec!["b"], vec!["d"]]);
}

#[test]
fn a_broken_script_fails_alone() {
    let specs = [broken("bad"), svc("good", &[("after", "bad")])];
    let g = plan(&specs, &["bad", "good"]);
    assert_eq!(waves(&g), vec![vec!["good"]]);
    assert!(g.failed["bad"].contains("error loading"));
}

#[test]
fn a_real_and_virtual_name_is_a_warning() {
    let specs = [svc("a", &[("provide", "b")]), svc("b", &[])];
    let g = plan(&specs, &["a", "b"]);
    assert_eq!(
        g.warnings,
        vec!["b is the name of a real and virtual service".to_string()]
    );
}

#[test]
fn before_is_dropped_when_the_target_is_already_a_dependency_d07() {
    // b needs a and says `before *` (the shell expands it to every name): a still starts first.
    let specs = [
        svc("a", &[]),
        svc("b", &[("need", "a"), ("before", "a b c")]),
        svc("c", &[]),
    ];
    let g = plan(&specs, &["a", "b", "c"]);
    assert!(wave_of(&g, "a") < wave_of(&g, "b"), "{:?}", g.start);
    assert!(wave_of(&g, "b") < wave_of(&g, "c"), "{:?}", g.start);
    assert!(g.cycles.is_empty(), "{:?}", g.cycles);
}

#[test]
fn a_cycle_through_a_need_is_broken_at_a_soft_edge() {
    // The traversal visits p first and meets q -> p (a need) as the back edge: keep the need,
    // drop p's `after q` instead.
    let specs = [svc("p", &[("after", "q")]), svc("q", &[("need", "p")])];
    let g = plan(&specs, &["p", "q"]);
    assert_eq!(waves(&g), vec![vec!["p"], vec!["q"]]);
    assert_eq!(g.cycles.len(), 1, "{:?}", g.cycles);
    assert!(g.failed.is_empty());
}

#[test]
fn providers_are_chosen_among_runlevel_and_boot_members_not_sysinit() {
    // Two providers of clock: `early` (in sysinit, failing: it needs what does not exist) and
    // `late` (in default). D-20 counts only the runlevel and boot members, so app waits for late
    // alone and does not fail with early.
    let specs = [
        svc("early", &[("provide", "clock"), ("need", "ghost")]),
        svc("late", &[("provide", "clock")]),
        svc("app", &[("need", "clock")]),
    ];
    let g = plan_with(
        &specs,
        None,
        &[],
        &[("sysinit", &["early"]), ("default", &["app", "late"])],
    );
    assert!(!g.failed.contains_key("app"), "{:?}", g.failed);
    assert!(wave_of(&g, "late") < wave_of(&g, "app"), "{:?}", g.start);
}

/// Issue 18: what the runlevel asked for and cannot start is part of its status, failed; a
/// broken script that is only wanted, or outside the runlevel, is not (D-33).
#[test]
fn failures_the_runlevel_asked_for_are_in_the_plan_and_only_those() {
    let specs = [
        broken("listed"),
        broken("needed"),
        broken("wanted"),
        broken("elsewhere"),
        svc("app", &[("need", "needed"), ("want", "wanted")]),
        svc("ok", &[("want", "wanted")]),
    ];
    let g = plan(&specs, &["listed", "app", "ok", "ghost"]);
    let in_plan: Vec<&str> = g.failed_in_plan.iter().map(String::as_str).collect();
    assert_eq!(in_plan, ["app", "ghost", "listed", "needed"]);
    assert!(g.failed.contains_key("wanted") && g.failed.contains_key("elsewhere"));
    assert_eq!(waves(&g), [["ok"]]);
}
