//! Starts, stops and restarts asked for by hand (`rcinit start|stop|restart`, OpenRC's tools):
//! what they need first, what needs them, and re-entrancy from a service's own commands.

use super::*;

impl Runlevel {
    /// What `name` needs, transitively, needs first, then `name` itself.
    pub(super) fn needs_closure(&self, name: &str) -> Vec<String> {
        fn visit(rl: &Runlevel, n: &str, seen: &mut Vec<String>) {
            if seen.iter().any(|s| s == n) {
                return;
            }
            seen.push(n.to_owned());
            if let Some(e) = rl.entries.get(n) {
                for d in &e.needs {
                    visit(rl, d, seen);
                }
            }
            // Post-order: a service after everything it needs.
            seen.retain(|s| s != n);
            seen.push(n.to_owned());
        }
        let mut out = Vec::new();
        visit(self, name, &mut out);
        out.retain(|n| self.entries.contains_key(n));
        out
    }

    /// Services that need `name`, transitively, the farthest first, then `name` itself.
    pub(super) fn dependents_closure(&self, name: &str) -> Vec<String> {
        fn visit(rl: &Runlevel, n: &str, out: &mut Vec<String>, seen: &mut Vec<String>) {
            if seen.iter().any(|s| s == n) {
                return;
            }
            seen.push(n.to_owned());
            for (other, e) in &rl.entries {
                if e.needs.iter().any(|d| d == n) {
                    visit(rl, other, out, seen);
                }
            }
            out.push(n.to_owned());
        }
        let mut out = Vec::new();
        visit(self, name, &mut out, &mut Vec::new());
        out
    }

    /// Starts `name` and, first, every stopped service it needs (L-05). Returns what happened,
    /// one line per service, and whether `name` is up.
    pub async fn start(&self, name: &str) -> (bool, Vec<String>) {
        let mut said = Vec::new();
        for n in self.needs_closure(name) {
            // Inactive is up too: its start ran, and OpenRC does not run it again.
            let up = |s: Option<State>| s.is_some_and(State::is_up);
            if up(self.state(&n)) {
                if n == name {
                    said.push(format!("{n} has already been started"));
                }
                continue;
            }
            let Some(e) = self.entries.get(&n) else {
                continue;
            };
            let (reply, rx) = oneshot::channel();
            if e.tx.send(Request::Start(Some(reply))).is_err() {
                said.push(format!("{n}: its task is gone"));
                return (false, said);
            }
            // The service's own start has its limit; a need of it is waited for as D-34 says.
            if n == name || e.no_timeout {
                let _ = rx.await;
            } else if tokio::time::timeout(DEPENDENT_WAIT, rx).await.is_err() {
                said.push(format!(
                    "{name}: timed out waiting for {n} ({}), which it needs",
                    budget::secs(DEPENDENT_WAIT)
                ));
                return (false, said);
            }
            let st = e.status.borrow().clone();
            if !up(Some(st.state)) {
                let why = st.why.map(|w| format!(" ({w})")).unwrap_or_default();
                said.push(if n == name {
                    format!("{n} failed to start{why}")
                } else {
                    format!("{name} needs {n}, which failed to start{why}")
                });
                return (false, said);
            }
            said.push(format!("{n} started"));
        }
        (true, said)
    }

    /// The service whose start or stop (or other command, `Any`) runs in session `sid` now.
    pub fn running_script(&self, sid: i32) -> Option<(String, String)> {
        self.entries.iter().find_map(|(n, e)| {
            let st = e.status.borrow();
            match &st.script {
                Some((pid, cmd)) if *pid == sid => Some((n.clone(), cmd.clone())),
                _ => None,
            }
        })
    }

    /// Whether acting on `target` (`start`: it and what it needs; `stop`: it and what needs
    /// it; `restart`: both) would act on `asker`.
    pub fn involves(&self, asker: &str, target: &str, op: &str) -> bool {
        target == asker
            || (matches!(op, "start" | "restart")
                && self.needs_closure(target).iter().any(|n| n == asker))
            || (matches!(op, "stop" | "restart")
                && self.dependents_closure(target).iter().any(|n| n == asker))
    }

    /// The refusal to give when `asker`'s own start or stop (`cmd`) asks for an `op` on
    /// `target` that would act on `asker` itself, so wait for itself (OpenRC locks a service
    /// during its start and stop); None otherwise.
    pub fn waits_on_itself(
        &self,
        asker: &str,
        cmd: &str,
        target: &str,
        op: &str,
    ) -> Option<String> {
        if !matches!(cmd, "start" | "stop") || !self.involves(asker, target, op) {
            return None;
        }
        Some(if target == asker {
            format!(
                "{target}: its own {cmd} asked to {op} it; refused, as it would wait for itself"
            )
        } else {
            let how = if matches!(op, "start" | "restart")
                && self.needs_closure(target).iter().any(|n| n == asker)
            {
                "needs"
            } else {
                "is needed by"
            };
            format!(
                "{target} {how} {asker}, whose {cmd} asked to {op} it; refused, as it would wait for itself"
            )
        })
    }

    /// Stops `name` and, first, every service that needs it (L-08). Returns the services that
    /// were stopped (dependents included) and what happened.
    pub async fn stop(&self, name: &str) -> (bool, Vec<String>, Vec<String>) {
        self.stop_from(name, None).await
    }

    /// [`Runlevel::stop`], asked for by `asker`'s own running command: its stop follows that
    /// command instead of interrupting it.
    pub async fn stop_from(
        &self,
        name: &str,
        asker: Option<&str>,
    ) -> (bool, Vec<String>, Vec<String>) {
        let mut said = Vec::new();
        let mut stopped = Vec::new();
        for n in self.dependents_closure(name) {
            let busy = self
                .state(&n)
                .is_some_and(|s| s.has_work_to_stop() || s == State::Stopping);
            if !busy {
                if n == name {
                    said.push(format!("{n} is already stopped"));
                }
                continue;
            }
            let Some(e) = self.entries.get(&n) else {
                continue;
            };
            let (reply, rx) = oneshot::channel();
            // Its own limit, counted from when its stop begins (it may be busy first).
            let deadline = None;
            let after_script = asker == Some(n.as_str());
            if e.tx
                .send(Request::Stop {
                    deadline,
                    reply,
                    after_script,
                })
                .is_err()
            {
                said.push(format!("{n}: its task is gone"));
                return (false, stopped, said);
            }
            let r = rx.await;
            // left alone while openrc-run holds its lock.
            if r.as_ref().is_ok_and(|r| r.was.is_up()) && self.state(&n).is_some_and(|s| s.is_up())
            {
                said.push(format!(
                    "{n}: not stopped: OpenRC's openrc-run is starting or stopping it"
                ));
                return (false, stopped, said);
            }
            match r {
                Ok(r) if r.killed => said.push(format!("{n} stopped (killed)")),
                _ => said.push(format!("{n} stopped")),
            }
            stopped.push(n);
        }
        (true, stopped, said)
    }

    /// Stops `name` (and what needs it), starts it, then starts again what the stop took
    /// down (L-11).
    pub async fn restart(&self, name: &str) -> (bool, Vec<String>) {
        self.restart_from(name, None).await
    }

    /// [`Runlevel::restart`] asked for by `asker`'s own running command (not its start or
    /// stop): the stop waits for that command to end.
    pub async fn restart_from(&self, name: &str, asker: Option<&str>) -> (bool, Vec<String>) {
        let (stopped_ok, stopped, mut said) = self.stop_from(name, asker).await;
        if !stopped_ok {
            // Not stopped (openrc-run holds its lock): no restart happened.
            return (false, said);
        }
        let (ok, more) = self.start(name).await;
        said.extend(more);
        if !ok {
            return (false, said);
        }
        for d in stopped.iter().filter(|d| *d != name) {
            let (_, more) = self.start(d).await;
            said.extend(more);
        }
        (true, said)
    }
}
