//! The boot's evaluation: the dependency pass that plans the runlevel, the tasks it prepares,
//! and the run-time pass streamed to the services while the first of them start.

use super::*;

/// Logs the plan, and every problem, naming the service.
/// The run-time pass of every service, in the order they start (dealt to the shells in turn),
/// each result handed to its service as soon as it is in: the first services start while the
/// shells go on with the others. A service whose result never came fails its start with why.
/// With a fresh /run, a planned service's stale pidfile goes just before its result is handed.
pub(super) fn run_pass_meanwhile(
    l: &load::Loaded,
    settings: &Settings,
    later: Vec<(String, String, Rc<PendingEvaluation>)>,
    clear_pidfiles: bool,
) {
    if later.is_empty() {
        return;
    }
    let mut order: Vec<&str> = l.graph.start.iter().flatten().map(String::as_str).collect();
    for (name, _, _) in &later {
        if !order.contains(&name.as_str()) {
            order.push(name);
        }
    }
    let scripts: Vec<discover::Script> = order
        .iter()
        .filter_map(|n| {
            let (_, path, _) = later.iter().find(|(name, _, _)| name == n)?;
            l.files
                .iter()
                .find(|f| f.skipped.is_none() && f.path() == *path)
                .cloned()
        })
        .collect();
    let planned: std::collections::HashSet<String> = l.graph.phase.keys().cloned().collect();
    let (tx, mut rx) = mpsc::unbounded_channel();
    let mut req = eval::Request::new(std::path::Path::new("/"), &l.runlevel);
    req.env = l.env.clone();
    req.timeout = settings.eval_timeout;
    req.dep_pass = false;
    req.stream = Some(tx);
    req.interleave = true;
    tokio::task::spawn_local(async move {
        let begin = Instant::now();
        let hand = |spec: &crate::script::spec::Spec| {
            let Some((_, _, cell)) = later.iter().find(|(_, p, _)| *p == spec.path) else {
                return;
            };
            if cell.is_set() {
                return;
            }
            if clear_pidfiles
                && planned.contains(&spec.name)
                && let Some(p) = spec.vars.get("pidfile").filter(|p| p.starts_with('/'))
            {
                runfs::remove_stale_pidfiles(std::slice::from_ref(p));
            }
            cell.set(match &spec.error {
                Some(e) => Err(e.clone()),
                None => Ok(Evaluated::of(spec)),
            });
        };
        let all = eval::evaluate(&req, &scripts);
        tokio::pin!(all);
        let specs = loop {
            tokio::select! {
                Some(spec) = rx.recv() => hand(&spec),
                specs = &mut all => break specs,
            }
        };
        while let Ok(spec) = rx.try_recv() {
            hand(&spec);
        }
        for spec in &specs {
            hand(spec);
        }
        for (name, _, cell) in &later {
            if !cell.is_set() {
                cell.set(Err(format!(
                    "{name}: the run-time pass of its script did not run"
                )));
            }
        }
        tracing::debug!(
            "run-time pass of {} scripts in {}",
            scripts.len(),
            since(begin)
        );
    });
}

pub(super) fn report_plan(l: &load::Loaded, begin: Instant) {
    let g = &l.graph;
    let n: usize = g.start.iter().map(Vec::len).sum();
    tracing::info!(
        "runlevel {}: {} scripts evaluated in {}; {n} services to start in {} waves (system: {})",
        l.runlevel,
        l.specs.len(),
        since(begin),
        g.start.len(),
        l.system.sys.as_deref().unwrap_or("none"),
    );
    for (i, w) in g.start.iter().enumerate() {
        tracing::info!("  wave {}: {}", i + 1, w.join(" "));
    }
    // A need cycle is one line, not one per member.
    let in_cycle: std::collections::HashSet<&str> =
        g.need_cycles.iter().flatten().map(String::as_str).collect();
    for c in &g.need_cycles {
        tracing::warn!(
            "need cycle {}: none of its {} services starts",
            crate::graph::cycle_text(c),
            c.len()
        );
    }
    for (s, why) in g
        .failed
        .iter()
        .filter(|(s, _)| !in_cycle.contains(s.as_str()))
    {
        tracing::warn!("{s}: {why}");
    }
    for (s, why) in &g.excluded {
        tracing::debug!("{s}: {why}");
    }
    for c in &g.cycles {
        tracing::warn!(
            "ordering cycle {}: broken at its last edge, all start",
            crate::graph::cycle_text(c)
        );
    }
    if !g.assumed_provided.is_empty() {
        tracing::info!(
            "taken as provided by the container: {}",
            g.assumed_provided.join(" ")
        );
    }
}

/// Each service's direct dependencies (need, want, use, after), a virtual name standing for its
/// providers: whose reexported variables (0.64) its start and stop see.
pub(super) fn env_deps(l: &load::Loaded) -> std::collections::HashMap<String, Vec<String>> {
    l.specs
        .iter()
        .filter(|s| s.error.is_none())
        .map(|s| {
            let d = &s.deps;
            let mut v: Vec<String> = Vec::new();
            for t in d.need.iter().chain(&d.want).chain(&d.use_).chain(&d.after) {
                let names = match l.graph.providers.get(t) {
                    Some(p) => p.clone(),
                    None => vec![t.clone()],
                };
                for n in names {
                    if !v.contains(&n) {
                        v.push(n);
                    }
                }
            }
            (s.name.clone(), v)
        })
        .collect()
}

impl Init {
    /// Reads the init scripts and plans the runlevel, still answering signals: a stop during a
    /// slow (or hung) evaluation is honoured at once, and the evaluation's shells are killed.
    pub(super) async fn evaluate(&mut self, boot: &Boot) {
        let root = std::path::Path::new("/");
        if !discover::SCRIPT_DIRS
            .iter()
            .any(|d| std::path::Path::new(d).is_dir())
        {
            tracing::debug!("no init.d directory: no services to start");
            return;
        }
        // The run-time pass too: a script that leaves its start to the default starts from what
        // it reports, without a shell of its own.
        let mut opts = load::Options::from_settings(root, &boot.settings, boot.runlevel.clone());
        // The graph needs only the dependency pass; the run-time pass follows while the first
        // services start (`run_pass_meanwhile`).
        opts.run_pass = false;
        opts.merge = true;
        let begin = Instant::now();
        let loaded = self
            .answering(load::load(&opts), Listen::Signals, |s| s.stop.is_some())
            .await;
        match loaded {
            Some(Ok(mut l)) => {
                report_plan(&l, begin);
                self.prepare(&mut l, &boot.settings);
            }
            Some(Err(e)) => {
                tracing::error!("{e:#}");
                self.boot_failed = true;
            }
            None => tracing::info!("stop asked for while evaluating the init scripts"),
        }
    }

    /// OpenRC's state directory for this runlevel, with the dependency cache OpenRC's tools
    /// read, kept current by a mirror; None when it cannot be written (or another rcinit has it).
    fn state_dir(&self, l: &load::Loaded) -> Option<Mirror> {
        let state = match self.another_init {
            true => Err(std::io::Error::other("another rcinit keeps it")),
            false => runfs::state_dir(&l.runlevel),
        };
        if state.is_ok()
            && let Err(e) = runfs::write_deptree(&l.deptree(), &l.depconfig())
        {
            tracing::warn!("/run/openrc/deptree: {e}: OpenRC's own tools will build theirs");
        }
        match state {
            Ok(()) => Some(Mirror::new("/run/openrc")),
            Err(e) => {
                tracing::info!(
                    "/run/openrc cannot be written ({e}): OpenRC's own tools will not see the state"
                );
                None
            }
        }
    }

    /// One task per planned service, ready to start.
    pub(super) fn prepare(&mut self, l: &mut load::Loaded, settings: &Settings) {
        let mirror = self.state_dir(l);
        *self.control.runlevel.borrow_mut() = l.runlevel.clone();
        let mut env = l.env.clone();
        env.push(("RCINIT_SHIM".into(), "1".into()));
        // Without OpenRC in the image, scripts' own calls of start-stop-daemon and
        // supervise-daemon reach rcinit's stand-ins (the shim aliases them: a busybox shell
        // would otherwise run its own applet, whatever PATH says).
        if openrc_installed() {
            if self.role == Role::Pid1 {
                self.links = cover_openrc_helpers();
            }
        } else if let Some(dir) = helper_links() {
            env.push(("RCINIT_HELPERS".into(), dir.into()));
        }
        let ctx = Rc::new(Ctx {
            reaper: Rc::clone(&self.reaper),
            env,
            runlevel: l.runlevel.clone(),
            shell: "/bin/sh".into(),
            ready_timeout: settings.ready_timeout,
            critical: settings.critical.clone(),
            critical_failed: self.critical_tx.clone(),
            down: tokio::sync::watch::channel(false).0,
            start_timeout: settings.start_timeout,
            mirror,
            booting: std::cell::Cell::new(true),
            reexports: Default::default(),
            env_deps: env_deps(l),
        });
        if self.run == Run::Cleared {
            // The planned services evaluated whole already; the others' go as their results come.
            let pidfiles: Vec<String> = l
                .specs
                .iter()
                .filter(|s| s.run_pass && l.graph.phase.contains_key(&s.name))
                .filter_map(|s| {
                    s.vars
                        .get("pidfile")
                        .filter(|p| p.starts_with('/'))
                        .cloned()
                })
                .collect();
            runfs::remove_stale_pidfiles(&pidfiles);
        }
        let defs = defs_of(l);
        let later: Vec<(String, String, Rc<PendingEvaluation>)> = defs
            .iter()
            .filter(|d| !d.fast.is_set())
            .map(|d| (d.name.clone(), d.path.clone(), Rc::clone(&d.fast)))
            .collect();
        run_pass_meanwhile(l, settings, later, self.run == Run::Cleared);
        let rl = Rc::new(Runlevel::new(&l.graph, defs, Rc::clone(&ctx)));
        *self.control.services.borrow_mut() = Some(Rc::clone(&rl));
        self.services = Some(rl);
        self.ctx = Some(ctx);
    }
}

/// A service task's definition for every evaluated script (its parts moved out of the spec,
/// not copied), and for every runlevel entry without a script.
fn defs_of(l: &mut load::Loaded) -> Vec<Def> {
    // The specs give their parts to the services (moved, not copied); they go after this.
    // A script that failed to evaluate still has its task: the runlevel's own show in the
    // status as failed, with why, and a start by hand says why too.
    let nostop = &l.nostop;
    let mut defs: Vec<Def> = l
        .specs
        .iter_mut()
        .map(|s| {
            // D-41: by keyword, or named in rc.conf's rc_nostop.
            let no_stop = crate::policy::budget::no_stop_at_shutdown(&s.deps.keyword)
                || nostop.contains(&s.name);
            let (dir, _) = s.path.rsplit_once('/').unwrap_or(("/etc/init.d", ""));
            let dir = dir.to_owned();
            let critical = s
                .vars
                .get("rcinit_critical")
                .is_some_and(|v| crate::words::yes(v));
            Def {
                name: std::mem::take(&mut s.name),
                dir,
                path: std::mem::take(&mut s.path),
                // Known already when one load gave both passes.
                fast: match &s.error {
                    Some(e) => PendingEvaluation::known(Err(e.clone())),
                    None if s.run_pass => PendingEvaluation::known(Ok(Evaluated::take(s))),
                    None => Rc::new(PendingEvaluation::default()),
                },
                critical,
                needs: std::mem::take(&mut s.deps.need),
                no_timeout: crate::policy::budget::no_timeout(&s.deps.keyword),
                no_stop,
                reexport: std::mem::take(&mut s.deps.reexport),
            }
        })
        .collect();
    // What is left of them is not needed any more: the peak of a large boot is here.
    l.specs = Vec::new();
    // A runlevel entry without any script (a dangling link) shows too.
    let known: std::collections::HashSet<String> = defs.iter().map(|d| d.name.clone()).collect();
    for (name, why) in l
        .graph
        .failed
        .iter()
        .filter(|(n, _)| l.graph.failed_in_plan.contains(*n) && !known.contains(*n))
    {
        defs.push(Def {
            name: name.clone(),
            dir: "/etc/init.d".into(),
            path: format!("/etc/init.d/{name}"),
            fast: PendingEvaluation::known(Err(why.clone())),
            critical: false,
            needs: Vec::new(),
            no_timeout: false,
            no_stop: false,
            reexport: Vec::new(),
        });
    }
    defs
}
