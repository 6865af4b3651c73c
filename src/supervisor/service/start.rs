//! A start: start_pre, start (the daemon, or the script's own), start_post, inside the start
//! limit (L-06, L-07), and how its end is judged (marks, untracked daemons).

use super::*;
use crate::supervisor::lifecycle::starting::{self, Starting};

impl Svc {
    /// start_pre, start (the daemon, or the script's own), start_post (L-06, L-07), inside the
    /// start limit; a stop request ends it at any point (the stop follows, returned).
    pub(super) async fn start(&mut self, rx: &mut Inbox<Request>) -> Option<StopAsk> {
        let (mut m, acts) =
            Starting::new(Instant::now(), self.def.no_timeout, self.ctx.start_timeout);
        self.start_actions(acts);
        let mut held = Vec::new();
        let mut stop = None;
        // The run-time pass may still be on its way: that wait is part of the start.
        let fast = Rc::clone(&self.def.fast);
        let mut scriptless = None;
        let event = match race(fast.get(), rx, m.deadline(), &mut held, None).await {
            Raced::Done(Err(why)) => starting::Event::Evaluated(Err(why)),
            Raced::Done(Ok(ev)) => {
                let (shape, start) = self.shape_of(ev);
                scriptless = start;
                starting::Event::Evaluated(Ok(shape))
            }
            other => cut(other, &mut stop),
        };
        let mut next = self.start_actions(m.step(event));
        if let Some(starting::Action::Run { scriptless: go }) = next {
            self.started_before = true;
            let steps = self.start_steps(scriptless.filter(|_| go));
            let event = match race(steps, rx, m.deadline(), &mut held, None).await {
                Raced::Done(()) => starting::Event::StepsDone,
                other => cut(other, &mut stop),
            };
            next = self.start_actions(m.step(event));
        }
        self.settle_held(held, stop.is_some());
        // A run cut short did not get to say it is over.
        self.status.send_modify(|s| {
            s.script = None;
            s.until = None;
        });
        if next == Some(starting::Action::StopWhatStarted) {
            // What the start began: its shell and everything in its session (killed with the
            // run), a daemon it spawned.
            let _ = self.stop_all_of_it(later(Duration::from_secs(5))).await;
            self.status.send_modify(|s| s.pid = None);
            self.start_actions(m.step(starting::Event::Cleaned));
        }
        stop
    }

    /// The shape of the start the evaluation reported (its own limit, whether it can go
    /// without a script run), and what a start without the script needs.
    fn shape_of(&self, ev: Evaluated) -> (starting::Shape, Option<ScriptlessStart>) {
        let shape = starting::Shape {
            own_timeout: ev.start_timeout.clone(),
            scriptless: ev.fast.is_some(),
            shares_variables: !self.def.reexport.is_empty()
                || !self.reexported_env("start").is_empty(),
            booting: self.ctx.booting.get(),
            started_before: self.started_before,
        };
        (shape, ev.fast)
    }

    /// Carries out the start machine's state actions; the one with an outcome (run the steps,
    /// stop what the start began), which the machine puts last, is returned.
    fn start_actions(&mut self, acts: Vec<starting::Action>) -> Option<starting::Action> {
        let mut pending = None;
        for a in acts {
            match a {
                starting::Action::Report(state, why) => self.set(state, why),
                starting::Action::Say(level, text) => say(&self.def.name, level, &text),
                starting::Action::Limit(end) => self.status.send_modify(|s| s.until = end),
                other => pending = Some(other),
            }
        }
        pending
    }

    /// Requests that arrived during the start: a start asked for again is over with this one
    /// (when a stop ended it, it must not start the service again after the stop); the others
    /// are answered next.
    fn settle_held(&mut self, held: Vec<Request>, stopped: bool) {
        for r in held {
            match r {
                Request::Start(reply) if stopped => {
                    if let Some(r) = reply {
                        let _ = r.send(());
                    }
                }
                other => self.deferred.push_back(other),
            }
        }
    }

    /// The start limit passed: what the start began is stopped (its shell and everything in its
    /// session were killed with the run) and the start fails.
    pub(super) async fn start_took_too_long(&mut self, limit: Duration) {
        let why = crate::policy::budget::start_too_long(limit);
        tracing::error!(
            "{}: {why} (rcinit_start_timeout, RCINIT_START_TIMEOUT); stopping what it started",
            self.def.name
        );
        let _ = self.stop_all_of_it(later(Duration::from_secs(5))).await;
        self.status.send_modify(|s| s.pid = None);
        self.set(State::Failed, Some(Why::Said(why)));
    }

    /// The start's steps themselves.
    pub(super) async fn start_steps(&mut self, fast: Option<ScriptlessStart>) {
        self.start_error = None;
        // A plan of an earlier start (or an earlier version of the script) is not this one's.
        self.launch = None;
        self.feed_now(Event::Planned(lifecycle::Settings::default()));
        let scripted = fast.is_none();
        if let Some(f) = &fast
            && f.vars
                .get("rcinit_critical")
                .is_some_and(|v| crate::words::yes(v))
        {
            self.critical = true;
        }
        let run = match fast {
            Some(fast) => {
                self.vars = Rc::clone(&fast.vars);
                self.script_stop = fast.script_stop;
                let ok = self
                    .start_daemon(&fast.vars, &fast.argv, &fast.exported)
                    .await;
                ScriptRun {
                    exit: Some(Exit::Code(if ok { 0 } else { 1 })),
                    loaded: true,
                    ..ScriptRun::default()
                }
            }
            None => self.script("start", None, None, None).await,
        };
        // Inactive stands whatever the start returned (OpenRC 0.56+); stopped and failed only
        // mark a start that succeeded.
        let marked = run
            .marked
            .clone()
            .filter(|m| m.as_str() == "inactive" || matches!(run.exit, Some(Exit::Code(0))));
        match run.exit {
            _ if self.own_mark(marked.as_deref()).await => {}
            Some(Exit::Code(0)) => self.start_succeeded(scripted).await,
            other => self.start_failed(other, run.loaded).await,
        }
    }

    /// The start returned 0: what it left decides the state (a daemon followed, an exit to
    /// count, a daemon outside rcinit, or nothing: a one-shot).
    async fn start_succeeded(&mut self, scripted: bool) {
        let supervised = self
            .launch
            .as_ref()
            .is_some_and(|l| l.kind == Kind::Supervised);
        match &self.daemon {
            Some(d) => {
                tracing::info!("{}: started (pid {})", self.def.name, d.pid);
                self.set(State::Started, None);
            }
            // The script stopped its own daemon again before its start ended: the supervisor's
            // business (V-16), counted as an exit.
            None if supervised => {
                self.set(State::Started, None);
                self.feed_now(Event::DaemonExited {
                    exit: Exit::Code(-1),
                    leftovers: false,
                });
            }
            // A start() of its own that names a command but left no daemon rcinit follows: the
            // image's own start-stop-daemon ran it (by its path). A start() of its own that had
            // rcinit start nothing: what it ran, if anything, is outside rcinit.
            None if scripted && self.launch.is_none() => {
                self.follow_outside().await;
            }
            None => match self.untracked_note.take() {
                Some(why) => {
                    tracing::warn!(
                        "{}: started, untracked: its command left a process rcinit does not \
                         take for its daemon ({why}); `rcinit check` will not vouch for it",
                        self.def.name
                    );
                    self.set(State::Started, Some(Why::Untracked(why)));
                }
                None => {
                    tracing::info!("{}: started", self.def.name);
                    self.set(State::Started, None);
                }
            },
        }
    }

    /// The start failed (or its script did not load): said with why, and what it started is
    /// stopped.
    async fn start_failed(&mut self, exit: Option<Exit>, loaded: bool) {
        let why = match (exit, loaded, self.start_error.take()) {
            (_, false, _) => "its script failed to load".to_string(),
            (_, _, Some(e)) => format!("start failed: {e}"),
            (Some(e), _, _) => format!("start failed ({e})"),
            (None, _, _) => "start failed".to_string(),
        };
        // T-12: OpenRC would leave a daemon started before a failing start_post running while
        // the service reads stopped; rcinit stops it (documented).
        if self.daemon.is_some() || !self.extras.is_empty() {
            let _ = self
                .stop_daemon(Instant::now() + Duration::from_secs(5))
                .await;
        }
        tracing::error!("{}: {why}", self.def.name);
        self.set(State::Failed, Some(Why::Said(why)));
    }

    /// A successful start() that marked its service itself ends in that state, as under
    /// OpenRC 0.56+ (L-21, L-22): `inactive` (up to OpenRC's tools, not started: what needs it
    /// does not start), `stopped` (what it started is stopped again) or `failed`. True when a
    /// mark decided the state.
    pub(super) async fn own_mark(&mut self, mark: Option<&str>) -> bool {
        let (state, why) = match mark {
            Some("inactive") => (State::Inactive, None),
            Some("stopped") => (State::Stopped, None),
            Some("failed") => (
                State::Failed,
                Some(Why::Said("its start marked it failed".into())),
            ),
            _ => return false,
        };
        if state != State::Inactive && (self.daemon.is_some() || !self.extras.is_empty()) {
            let _ = self
                .stop_daemon(Instant::now() + Duration::from_secs(5))
                .await;
            self.status.send_modify(|s| s.pid = None);
        }
        tracing::info!("{}: marked itself {state} by its start", self.def.name);
        self.set(state, why);
        true
    }

    /// What a start() of its own left running outside rcinit (the image's own start-stop-daemon
    /// called by its path, a `daemon &`) is PID 1's orphan: followed through the script's
    /// `pidfile`, judged as any pidfile is (this start's, rcinit's child, the service's user,
    /// named `procname` or as `command`). Orphans without a pidfile to name one make the service
    /// `started`, untracked: `check` does not vouch for what it cannot see. A start that left
    /// nothing is a one-shot, started.
    pub(super) async fn follow_outside(&mut self) {
        self.orphan_rule = None;
        let Some((since, before)) = self.start_mark.take() else {
            self.set(State::Started, None);
            return;
        };
        let me = std::process::id() as i32;
        let escaped: Vec<i32> = crate::procfs::pids()
            .into_iter()
            .filter(|p| !before.contains(p) && !self.ctx.reaper.borrow().is_watched(*p))
            .filter(|&p| {
                crate::procfs::stat(p)
                    .is_some_and(|s| s.ppid == me && s.start >= since && s.state != 'Z')
            })
            .collect();
        let var = |k: &str| self.vars.get(k).filter(|v| !v.is_empty()).cloned();
        let path = var("pidfile").filter(|p| p.starts_with('/'));
        let name = var("procname").or(var("command"));
        let named = path
            .as_ref()
            .is_some_and(|p| !escaped.is_empty() || std::path::Path::new(p).exists());
        let uid = || var("command_user").and_then(|u| crate::supervisor::user::uid_of(&u).ok());
        let found = match (path, name) {
            (Some(path), Some(name)) if named => {
                let wanted = pidfile::Wanted {
                    since,
                    me,
                    before,
                    uid: uid(),
                    name,
                };
                let limit = later(self.ctx.ready_timeout.min(Duration::from_secs(5)));
                Some(
                    self.await_pidfile(&path, Some(&wanted), limit)
                        .await
                        .map(|pid| (pid, "followed through its pidfile"))
                        .map_err(|why| format!("pidfile {path}: {why}")),
                )
            }
            // No pidfile: found again by its name, as start-stop-daemon would find it.
            (None, Some(name)) if !escaped.is_empty() => {
                let wanted = pidfile::Wanted {
                    since,
                    me,
                    before,
                    // Run as rcinit when no command_user: an orphan of another user is not it.
                    uid: uid().or(Some(nix::unistd::geteuid().as_raw())),
                    name: name.clone(),
                };
                let (found, why) = self.await_orphans(&wanted).await;
                match found.first() {
                    Some(&pid) => {
                        self.orphan_rule = Some(wanted);
                        Some(Ok((pid, "no pidfile: followed by its name")))
                    }
                    None => Some(Err(
                        why.unwrap_or_else(|| format!("none of them is {name:?}"))
                    )),
                }
            }
            _ => None,
        };
        self.settle_outside(found, &escaped);
    }

    /// What a start() of its own left outside rcinit, judged: the daemon found (followed),
    /// nothing left (a one-shot), or processes rcinit does not take for its daemon (untracked).
    fn settle_outside(&mut self, found: Option<Result<(i32, &str), String>>, escaped: &[i32]) {
        match found {
            Some(Ok((pid, how))) => {
                self.follow(pid);
                tracing::info!(
                    "{}: started (pid {pid}, outside rcinit's helpers; {how})",
                    self.def.name
                );
                self.set(State::Started, None);
            }
            _ if escaped.is_empty() => {
                tracing::info!("{}: started", self.def.name);
                self.set(State::Started, None);
            }
            other => {
                let pids: Vec<String> = escaped.iter().map(|p| p.to_string()).collect();
                let why = match other {
                    Some(Err(why)) => format!(
                        "its start left pid {} outside rcinit; {why}",
                        pids.join(", ")
                    ),
                    _ => format!(
                        "its start left pid {} outside rcinit and no pidfile names it",
                        pids.join(", ")
                    ),
                };
                tracing::warn!(
                    "{}: started, untracked: {why}; `rcinit check` will not vouch for it",
                    self.def.name
                );
                self.set(State::Started, Some(Why::Untracked(why)));
            }
        }
    }

    /// A start cut short while a forking command's pidfile was awaited: one last look, so the
    /// daemon it left (if it is the one) is followed and stopped, not orphaned.
    /// Called once the command is stopped (the daemon it forked is rcinit's child by then).
    pub(super) fn adopt_forked(&mut self) -> bool {
        let Some((path, wanted)) = self.forking.take() else {
            return false;
        };
        let Ok(pid) = self.daemon_in_pidfile(&path, wanted.as_ref()) else {
            return false;
        };
        self.follow(pid);
        true
    }

    /// The script asked for its daemon (default_start): plan it, spawn it, wait for readiness.
    pub(super) async fn start_daemon(
        &mut self,
        vars: &BTreeMap<String, String>,
        argv: &[String],
        exported: &[(String, String)],
    ) -> bool {
        if vars.get("command").is_none_or(|c| c.is_empty()) {
            // V table: start-stop-daemon's default start without a command succeeds with
            // nothing started; supervise-daemon's fails.
            if vars.get("supervisor").map(String::as_str) == Some("supervise-daemon") {
                return self.cannot_start("the command variable is undefined".into());
            }
            tracing::warn!(
                "{}: the command variable is undefined; nothing to start",
                self.def.name
            );
            return true;
        }
        let (passwd, group) = crate::supervisor::user::databases();
        let plan = launch::plan(&Reported {
            vars,
            argv,
            exported,
            passwd: &passwd,
            group: &group,
        });
        let l = match plan {
            Ok(l) => l,
            Err(e) => return self.cannot_start(e.to_string()),
        };
        for w in &l.warnings {
            tracing::warn!("{}: {w}", self.def.name);
        }
        if self
            .vars
            .get("rcinit_critical")
            .is_some_and(|v| crate::words::yes(v))
        {
            self.critical = true;
        }
        if let Err(e) = command_exists(&l) {
            return self.cannot_start(e);
        }
        let ask = crate::policy::budget::ask(&l.stop);
        self.status.send_modify(|s| s.stop_ask = Some(ask));
        let kind = l.kind;
        let settings = lifecycle::Settings::of(&l);
        self.launch = Some(Box::new(l));
        self.feed_now(Event::Planned(settings));
        match kind {
            // V-16: a supervised start succeeds once spawned (and ready); what the daemon does
            // after is the respawn loop's business. A daemon that cannot be spawned at all
            // (no such directory, user, file) fails the start: OpenRC says "started", then
            // "failed"; rcinit says so at once, with the reason, and the client exits 1.
            Kind::Supervised | Kind::Background => match self.spawn_daemon().await {
                Ok(()) => true,
                Err(e) => self.cannot_start(format!("{e:#}")),
            },
            Kind::Forking => self.run_forking().await,
        }
    }

    /// A daemon could not be started: said, and kept as the reason of the failed start.
    pub(super) fn cannot_start(&mut self, why: String) -> bool {
        tracing::error!("{}: {why}", self.def.name);
        self.start_error = Some(why);
        false
    }
}

/// A wait of the start that something other than its own end ended: a stop asked for (kept in
/// `stop`, to be done after the start), or its deadline. Each caller takes `Done` itself, and
/// the start's waits do not watch the shutdown (`Down`: the shutdown stops it in turn).
fn cut<T>(r: Raced<T>, stop: &mut Option<StopAsk>) -> starting::Event {
    match r {
        Raced::Stop(s) => {
            *stop = Some(s);
            starting::Event::StopAsked
        }
        Raced::Late => starting::Event::Deadline,
        Raced::Done(_) | Raced::Down => starting::Event::ShutdownBegan,
    }
}
