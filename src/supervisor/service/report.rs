//! The service's state as the outside sees it: its status, OpenRC's state directory (R-23..R-25)
//! and 0.64's reexported variables.

use super::*;

impl Svc {
    pub(super) fn set(&self, state: State, why: Option<Why>) {
        self.status.send_modify(|s| {
            s.state = state;
            s.why = why;
            s.since = Instant::now();
        });
        if matches!(state, State::Stopped | State::Failed)
            && self
                .ctx
                .reexports
                .borrow_mut()
                .remove(&self.def.name)
                .is_some()
            && let Some(m) = &self.ctx.mirror
        {
            m.remove_environ(&self.def.name);
        }
        self.mirror(state);
    }

    /// A start that reexports succeeded: its exported variables of the list are kept (and
    /// written where OpenRC's openrc-run reads them), the first value of each standing until
    /// the service stops, as OpenRC's service_export keeps it.
    pub(super) fn keep_reexports(&self, export_p: &str) {
        if self.def.reexport.is_empty() {
            return;
        }
        let mut all = self.ctx.reexports.borrow_mut();
        let kept = all.entry(self.def.name.clone()).or_default();
        for (k, v) in parse_assignments(export_p) {
            if self.def.reexport.contains(&k) && !kept.iter().any(|(n, _)| *n == k) {
                kept.push((k, v));
            }
        }
        if let Some(m) = &self.ctx.mirror {
            m.environ(&self.def.name, kept);
        }
    }

    /// What the services this one depends on handed on (0.64's reexport): for a start, those of
    /// its dependencies all the way down; for a stop, of its direct ones (as openrc-run).
    pub(super) fn reexported_env(&self, cmd: &str) -> Vec<(String, String)> {
        let all = self.ctx.reexports.borrow();
        if all.is_empty() {
            return Vec::new();
        }
        let mut seen: Vec<&str> = vec![self.def.name.as_str()];
        let mut todo: Vec<&str> = vec![self.def.name.as_str()];
        let mut out: Vec<(String, String)> = Vec::new();
        while let Some(s) = todo.pop() {
            for d in self.ctx.env_deps.get(s).into_iter().flatten() {
                if seen.contains(&d.as_str()) {
                    continue;
                }
                seen.push(d);
                if cmd == "start" {
                    todo.push(d);
                }
                for (k, v) in all.get(d).into_iter().flatten() {
                    out.retain(|(n, _)| n != k);
                    out.push((k.clone(), v.clone()));
                }
            }
        }
        out
    }

    /// Writes the state for OpenRC's tools, with the daemon's record once started
    /// so rc-status tells a live daemon from a crashed one as rcinit does.
    pub(super) fn mirror(&self, state: State) {
        let Some(m) = &self.ctx.mirror else {
            return;
        };
        let Some(mark) = crate::mirror::Mark::of(state) else {
            if state == State::Crashed {
                // rc-status reads a dead daemon with these as "unsupervised" (a supervisor gone,
                // its child alive); rcinit's supervisor is alive and the daemon is gone.
                m.remove_option(&self.def.name, "child_pid");
                m.remove_option(&self.def.name, "start_time");
            }
            return;
        };
        m.mark(&self.def.name, &self.def.path, mark);
        if mark != crate::mirror::Mark::Started {
            return;
        }
        let (Some(l), Some(d)) = (&self.launch, &self.daemon) else {
            return;
        };
        let exec = l.argv.first().cloned().unwrap_or_default();
        let mut options = vec![("command".to_owned(), exec.clone())];
        // What supervise-daemon writes: rc-status's uptime column and -S.
        if l.kind == Kind::Supervised {
            options.extend([
                ("child_pid".to_owned(), d.pid.to_string()),
                ("start_time".to_owned(), crate::mirror::local_time_now()),
                (
                    "start_count".to_owned(),
                    self.status.borrow().restarts.to_string(),
                ),
            ]);
        }
        // A supervised service's `pidfile` is its supervisor's (T-03), and OpenRC's tools
        // signal what it names: rcinit leaves it alone and gives rc-status a pidfile of its
        // own that names the daemon, read only for R-25's liveness test.
        // Every record gets a pidfile naming the daemon rcinit follows, so service_crashed
        // and rc-status judge by pid (a record without one is judged by argv).
        let pidfile = match (l.kind, &l.pidfile) {
            (Kind::Supervised, _) | (_, None) => {
                let p = format!("/run/rcinit/pids/{}.pid", self.def.name);
                let ok = crate::safepath::write_pidfile(&p, d.pid).or_else(|_| {
                    std::fs::create_dir_all("/run/rcinit/pids").map_err(|e| e.to_string())?;
                    crate::safepath::write_pidfile(&p, d.pid)
                });
                ok.is_ok().then_some(p)
            }
            (_, Some(p)) => Some(p.clone()),
        };
        if let Some(p) = &pidfile {
            options.push(("pidfile".to_owned(), p.clone()));
        }
        m.daemon(
            &self.def.name,
            &crate::mirror::DaemonRecord {
                exec,
                argv: l.argv.clone(),
                pidfile,
                options,
            },
        );
    }
}

/// A line about the service, as loud as the machine said.
pub(super) fn say(name: &str, level: lifecycle::Level, text: &str) {
    match level {
        lifecycle::Level::Info => tracing::info!("{name}: {text}"),
        lifecycle::Level::Warn => tracing::warn!("{name}: {text}"),
        lifecycle::Level::Error => tracing::error!("{name}: {text}"),
    }
}
