//! start-stop-daemon and supervise-daemon as rcinit stands in for them: calls from the script's
//! own functions and from OpenRC's own openrc-run.

use super::*;

impl Svc {
    /// Whether a start-stop-daemon `--stop` names this service's daemon: its pidfile, its
    /// program or its process name. A process that merely inherited RC_SVCNAME (a daemon that
    /// stops something of its own) must not stop the service.
    pub(super) fn owns(&self, call: &helper_call::Call) -> bool {
        if call.helper == Helper::SuperviseDaemon {
            return true;
        }
        let Ok(da) = daemon_args::parse(call.helper, &call.options) else {
            return false;
        };
        // A start() of its own plans no daemon: the script's variables say what it runs.
        let var = |k: &str| self.vars.get(k).filter(|v| !v.is_empty()).cloned();
        let (exe, own_pidfile) = match &self.launch {
            Some(l) => (l.argv.first().cloned(), l.pidfile.clone()),
            None => (var("command"), var("pidfile")),
        };
        let Some(exe) = exe.filter(|e| !e.is_empty()) else {
            return da.pidfile.is_some() && da.pidfile == own_pidfile;
        };
        let base = |p: &str| p.rsplit('/').next().unwrap_or(p).to_owned();
        let pidfile = da.pidfile.is_some() && da.pidfile == own_pidfile;
        let exec = call.command.as_deref().is_some_and(|c| c == exe);
        let name = da.name.as_deref().is_some_and(|n| n == base(&exe));
        pidfile || exec || name
    }

    /// start-stop-daemon or supervise-daemon run by OpenRC's own openrc-run: `--start` starts
    /// the daemon under this task, `--stop` stops it, `--signal` signals it. None: the call is
    /// about some other process.
    pub(super) async fn outside_helper(
        &mut self,
        argv: &[String],
        exported: &[(String, String)],
    ) -> Option<bool> {
        let call = helper_call::split(argv);
        if let Ok(c) = &call
            && !matches!(c.mode, HelperMode::Start)
            && !self.owns(c)
        {
            return None;
        }
        // Nothing of rcinit's to signal, or to stop (the service is not up): the image's own
        // helper does what OpenRC's would.
        if let Ok(c) = &call
            && self.daemon.is_none()
            && match c.mode {
                HelperMode::Signal(_) => true,
                HelperMode::Stop => !self.is_up(),
                HelperMode::Start => false,
            }
        {
            return None;
        }
        let mode = call.as_ref().map(|c| c.mode.clone()).map_err(Clone::clone);
        Some(match mode {
            Ok(HelperMode::Start) if self.is_up() => {
                tracing::warn!("{}: already running; not started again", self.def.name);
                false
            }
            Ok(HelperMode::Start) => {
                self.set(State::Starting, None);
                if self.helper(argv, exported).await {
                    tracing::info!("{}: started by OpenRC's openrc-run", self.def.name);
                    self.set(State::Started, None);
                    true
                } else {
                    self.set(State::Failed, Some(Why::Said("start failed".into())));
                    false
                }
            }
            Ok(HelperMode::Stop) => {
                let mut ok = true;
                if self.is_up() || self.daemon.is_some() {
                    self.feed_now(Event::StopBegan);
                    self.set(State::Stopping, None);
                    let deadline = self.own_stop_deadline();
                    let untracked = self.untracked();
                    let r = self.stop_daemon(deadline).await;
                    if untracked && let Ok(c) = &call {
                        ok = self.stop_named(c, deadline).await;
                    }
                    self.set(State::Stopped, Some(Why::Requested));
                    self.status.send_modify(|s| s.pid = None);
                    tracing::info!(
                        "{}: stopped by OpenRC's openrc-run{}",
                        self.def.name,
                        r.exit.map(|e| format!(" ({e})")).unwrap_or_default()
                    );
                }
                ok
            }
            Ok(HelperMode::Signal(_)) => self.helper(argv, exported).await,
            Err(e) => {
                tracing::error!("{}: {e}", self.def.name);
                false
            }
        })
    }

    /// The script called start-stop-daemon or supervise-daemon itself, and rcinit stands in for
    /// them: only the call's own options apply, as they would to the real helper.
    pub(super) async fn helper(&mut self, argv: &[String], exported: &[(String, String)]) -> bool {
        let call = match helper_call::split(argv) {
            Ok(c) => c,
            Err(e) => {
                tracing::error!("{}: {e}", self.def.name);
                return false;
            }
        };
        match call.mode {
            HelperMode::Start => {
                let Some(command) = call.command.clone() else {
                    tracing::error!("{}: {}: no program to start", self.def.name, argv[0]);
                    return false;
                };
                let mut vars = BTreeMap::new();
                vars.insert("command".to_owned(), command.clone());
                let key = match call.helper {
                    Helper::SuperviseDaemon => {
                        vars.insert("supervisor".to_owned(), "supervise-daemon".to_owned());
                        "supervise_daemon_args"
                    }
                    Helper::StartStopDaemon => "start_stop_daemon_args",
                };
                vars.insert(key.to_owned(), shell_words::join(&call.options));
                // Health checks still need the script's own functions.
                if let Some(e) = self.vars.get("extra_commands") {
                    vars.insert("extra_commands".to_owned(), e.clone());
                }
                let mut full = vec![command];
                full.extend(call.args);
                self.start_daemon(&vars, &full, exported).await
            }
            HelperMode::Stop => {
                if let Ok(da) = daemon_args::parse(call.helper, &call.options)
                    && (da.retry.is_some() || da.signal.is_some())
                {
                    match crate::policy::retry::parse(da.retry.as_deref(), da.signal.as_deref()) {
                        Ok(steps) => self.stop_override = Some(steps),
                        Err(e) => tracing::warn!("{}: {e}", self.def.name),
                    }
                }
                let untracked = self.untracked();
                let ok = self.stop_for_script().await;
                if untracked {
                    let end = self
                        .stop_deadline
                        .unwrap_or_else(|| self.own_stop_deadline());
                    return self.stop_named(&call, end).await && ok;
                }
                ok
            }
            HelperMode::Signal(sig) => {
                let Some(signal) = crate::policy::retry::parse_signal(&sig)
                    .or_else(|| crate::policy::retry::parse_signal(&format!("-{sig}")))
                    .and_then(|n| Signal::try_from(n).ok())
                else {
                    tracing::error!("{}: --signal {sig}: not a signal", self.def.name);
                    return false;
                };
                match &self.daemon {
                    Some(d) => kill(Pid::from_raw(d.pid), signal).is_ok(),
                    None => false,
                }
            }
        }
    }

    /// Up, and no daemon followed although there is one somewhere: a start() of its own that
    /// planned none, or whose daemon rcinit could not judge its own (`untracked`). Not a
    /// daemon of rcinit's that crashed or waits to be respawned.
    pub(super) fn untracked(&self) -> bool {
        self.daemon.is_none()
            && (self.launch.is_none()
                || matches!(self.status.borrow().why, Some(Why::Untracked(_))))
    }

    /// `start-stop-daemon --stop` while rcinit follows no daemon for the service (it escaped
    /// rcinit's notice): what the call names is stopped as OpenRC's start-stop-daemon would,
    /// by the call's schedule. False, said, when something of it is still there.
    pub(super) async fn stop_named(&mut self, call: &helper_call::Call, deadline: Instant) -> bool {
        if call.helper != Helper::StartStopDaemon {
            return true;
        }
        let Ok(da) = daemon_args::parse(call.helper, &call.options) else {
            return true;
        };
        // start-stop-daemon refuses a user it cannot resolve; matching every user instead
        // would stop what is not the service's.
        let known = |u: &str| {
            crate::supervisor::user::uid_of(u)
                .ok()
                .or_else(|| u.split(':').next()?.parse().ok())
        };
        let uid = match da.user.as_deref().map(|u| (u, known(u))) {
            None => None,
            Some((_, Some(uid))) => Some(uid),
            Some((u, None)) => {
                tracing::error!("{}: --user {u}: no such user", self.def.name);
                return false;
            }
        };
        let criteria = crate::supervisor::matching::Criteria {
            exec: call.command.clone(),
            name: da.name.clone(),
            uid,
        };
        let me = std::process::id() as i32;
        let found = {
            let reaper = self.ctx.reaper.borrow();
            crate::supervisor::matching::find(&criteria, da.pidfile.as_deref(), |p| {
                p == me || reaper.is_watched(p)
            })
        };
        if found.is_empty() {
            return true;
        }
        let pids: Vec<String> = found.iter().map(|f| f.pid.to_string()).collect();
        tracing::warn!(
            "{}: stopping pid {}: rcinit did not follow it, the stop names it",
            self.def.name,
            pids.join(", ")
        );
        let steps = crate::policy::retry::parse(da.retry.as_deref(), da.signal.as_deref())
            .ok()
            .filter(|_| da.retry.is_some() || da.signal.is_some())
            .or_else(|| self.launch.as_ref().map(|l| l.stop.clone()))
            .unwrap_or_else(crate::policy::retry::default_schedule);
        let left = crate::supervisor::matching::stop(&found, &steps, deadline).await;
        if left.is_empty() {
            return true;
        }
        tracing::error!(
            "{}: pid {left:?} is still running after its stop",
            self.def.name
        );
        false
    }

    /// The script's stop asked for the daemon's stop: the schedule, inside the stop's deadline;
    /// the report is kept for the shutdown report. A daemon that had to be killed outside a
    /// shutdown is a failed stop (V-13).
    pub(super) async fn stop_for_script(&mut self) -> bool {
        let end = self
            .stop_deadline
            .unwrap_or_else(|| self.own_stop_deadline());
        let r = self.stop_daemon(end).await;
        let ok = !r.killed || self.ctx.going_down();
        self.last_stop = Some(r);
        ok
    }
}
