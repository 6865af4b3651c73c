//! Running a command of the script through the shim (the records on fd 9, the answers on fd 8):
//! start, stop, reload, extra commands, health checks.

use super::*;

/// What a run of the script reported.
#[derive(Default)]
pub(super) struct ScriptRun {
    pub(super) exit: Option<Exit>,
    /// The shim got past loading (rc.conf, conf.d, the script).
    pub(super) loaded: bool,
    /// A stop request that arrived during the run.
    pub(super) interrupted: Option<StopAsk>,
    pub(super) timed_out: bool,
    /// Ended because the container began to go down.
    pub(super) cut: bool,
    /// The last state the script marked itself with (L-21: 0.56+, it stands).
    pub(super) marked: Option<String>,
}

impl Svc {
    /// A command of the script asked for from outside (L-01): extra_started_commands need the
    /// service started, extra_stopped_commands need it stopped; the shim checks the rest.
    pub(super) async fn run_command(
        &mut self,
        command: &str,
        stdio: Option<(OwnedFd, OwnedFd)>,
        rx: &mut Inbox<Request>,
    ) -> (i32, Option<String>, Option<StopAsk>) {
        let vars = match self.def.fast.now() {
            Some(Ok(Evaluated { fast: Some(f), .. })) if self.vars.is_empty() => f.vars,
            _ => self.vars.clone(),
        };
        let listed = |key: &str| {
            vars.get(key)
                .is_some_and(|v| v.split_whitespace().any(|w| w == command))
        };
        let up = self.is_up();
        if listed("extra_started_commands") && !up {
            let why = format!(
                "{}: cannot '{command}' as it has not been started",
                self.def.name
            );
            return (1, Some(why), None);
        }
        if listed("extra_stopped_commands") && up {
            let why = format!(
                "{}: cannot '{command}' as it has been started",
                self.def.name
            );
            return (1, Some(why), None);
        }
        self.client_stdio = stdio;
        // No time limit (OpenRC has none), but a stop interrupts it: a reload that hangs, or
        // that waits on its own service, never holds up a stop.
        let run = self.script(command, None, Some(rx), None).await;
        self.client_stdio = None;
        let code = match run.exit {
            Some(Exit::Code(c)) => c,
            Some(Exit::Signal(s)) => 128 + s,
            None => 1,
        };
        (code, None, run.interrupted)
    }

    /// Runs one command of the script through the shim (L-06, L-09, L-15), answering its
    /// requests to start or stop the daemon. While it runs, the status names it, so a request
    /// coming from inside it can be told from any other (re-entrancy, see control).
    pub(super) async fn script(
        &mut self,
        cmd: &str,
        limit: Option<Duration>,
        rx: Option<&mut Inbox<Request>>,
        down: Option<&mut watch::Receiver<bool>>,
    ) -> ScriptRun {
        let run = self.script_run(cmd, limit, rx, down).await;
        self.status.send_modify(|s| s.script = None);
        run
    }

    pub(super) async fn script_run(
        &mut self,
        cmd: &str,
        limit: Option<Duration>,
        mut rx: Option<&mut Inbox<Request>>,
        mut down: Option<&mut watch::Receiver<bool>>,
    ) -> ScriptRun {
        let mut out = ScriptRun::default();
        let before = (cmd == "start").then(crate::procfs::pids);
        let spawned = match self.spawn_shim(cmd) {
            Ok(s) => s,
            Err(e) => {
                tracing::error!("{}: {cmd}: {e:#}", self.def.name);
                return out;
            }
        };
        let (pid, exit_rx, mut recs) = spawned;
        self.start_mark = before.zip(pidfile::start_time(pid)).map(|(b, t)| (t, b));
        self.status
            .send_modify(|s| s.script = Some((pid, cmd.to_owned())));
        let mut guard = crate::spawn::KillGroup(pid);
        let mut exit_rx = exit_rx;
        let mut parser = Parser::default();
        let mut buf = vec![0u8; 16 * 1024];
        let mut recs_open = true;
        let mut argv: Vec<String> = Vec::new();
        let mut exported: Vec<(String, String)> = Vec::new();
        let deadline = limit.map(later);
        loop {
            let sleep = sleep_opt(deadline);
            let req = async {
                match rx.as_deref_mut() {
                    Some(r) => r.recv().await,
                    None => std::future::pending().await,
                }
            };
            let going = going_down(down.as_deref_mut());
            let mut asks: Vec<String> = Vec::new();
            tokio::select! {
                biased;
                n = recs.read(&mut buf), if recs_open => match n {
                    Ok(0) | Err(_) => recs_open = false,
                    Ok(n) => {
                        for r in parser.feed(&buf[..n]) {
                            if let Some(what) = self.note(r, &mut out, &mut argv, &mut exported) {
                                asks.push(what);
                            }
                        }
                    }
                },
                e = &mut exit_rx => {
                    // Records the shell wrote just before it ended are in the pipe already; asks
                    // among them go unanswered: nobody waits for their answer now.
                    while let Ok(n) = recs.try_read(&mut buf) {
                        if n == 0 { break; }
                        for r in parser.feed(&buf[..n]) {
                            let _ = self.note(r, &mut out, &mut argv, &mut exported);
                        }
                    }
                    out.exit = e.ok();
                    // What the script left running in the background is its own business.
                    guard.0 = 0;
                    return out;
                }
                r = req => match r {
                    Some(r) => if let Some(stop) = self.request_during(cmd, r) {
                        out.interrupted = Some(stop);
                        return out;
                    },
                    // Every sender is gone: stop asking (it would answer at once, for ever).
                    None => rx = None,
                },
                _ = sleep => {
                    tracing::warn!("{}: {cmd} took longer than {} ms; killed", self.def.name, limit.unwrap_or_default().as_millis());
                    out.timed_out = true;
                    return out;
                }
                _ = going => {
                    tracing::info!("{}: {cmd} ended: the container is stopping", self.def.name);
                    out.cut = true;
                    return out;
                }
            }
            self.answer_asks(asks, &argv, &exported, &mut recs).await;
        }
    }

    /// A request that arrived while a command of the script runs: a stop ends the run (returned)
    /// unless the command itself asked for it; anything else waits for the run's end.
    fn request_during(&mut self, cmd: &str, r: Request) -> Option<StopAsk> {
        match r {
            r @ Request::Stop {
                after_script: true, ..
            } => {
                tracing::info!(
                    "{}: a stop asked for by its own {cmd} follows it",
                    self.def.name
                );
                self.deferred.push_back(r);
                None
            }
            Request::Stop {
                deadline, reply, ..
            } => {
                tracing::info!("{}: stop asked for during {cmd}", self.def.name);
                Some((deadline, reply))
            }
            other => {
                self.deferred.push_back(other);
                None
            }
        }
    }

    /// What the script asked of rcinit (start its daemon, a helper call, stop its daemon),
    /// done, each answered on the shim's line with 0 or 1.
    async fn answer_asks(
        &mut self,
        asks: Vec<String>,
        argv: &[String],
        exported: &[(String, String)],
        recs: &mut Channel,
    ) {
        for what in asks {
            let ok = match what.as_str() {
                "start" => {
                    let vars = self.vars.clone();
                    self.start_daemon(&vars, argv, exported).await
                }
                "helper" => self.helper(argv, exported).await,
                "stop" => self.stop_for_script().await,
                _ => false,
            };
            let _ = recs.write_all(if ok { b"0\n" } else { b"1\n" }).await;
        }
    }

    /// Takes one record of a script run; an ask is returned, to be answered.
    pub(super) fn note(
        &mut self,
        r: Record,
        out: &mut ScriptRun,
        argv: &mut Vec<String>,
        exported: &mut Vec<(String, String)>,
    ) -> Option<String> {
        match r {
            Record::Var { name, .. } if name == "_rcinit_reset" => self.vars = Rc::default(),
            Record::Var { name, value } => {
                Rc::make_mut(&mut self.vars).insert(name, value);
            }
            Record::Argv(a) => *argv = a,
            Record::Exported(text) => *exported = parse_assignments(&text),
            Record::Reexport(text) => self.keep_reexports(&text),
            Record::End { status: 0, .. } => out.loaded = true,
            Record::Ask(what) => return Some(what),
            Record::Mark(m) => out.marked = Some(m),
            Record::Type { name, output }
                if output.contains("function") && name.starts_with("stop") =>
            {
                self.script_stop = true;
            }
            _ => {}
        }
        None
    }

    /// Spawns `sh -c SHIM rcinit-cmd cmd ...` with the script's end of its channel on fd 9
    /// (records) and fd 8 (answers).
    pub(super) fn spawn_shim(&self, cmd: &str) -> Result<(i32, oneshot::Receiver<Exit>, Channel)> {
        let (chan, theirs) = Channel::pair(&format!("{} {cmd}", self.def.name))?;
        // From a memfd when there is one: `ps` then reads `sh -c ... rcinit: NAME CMD ...`, not
        // the whole shim.
        let memfd = crate::script::eval::shim_memfd();
        let (text, title) = match memfd {
            Some(_) => (
                format!(". /proc/self/fd/{}", crate::script::eval::SHIM_FD),
                format!("rcinit: {} {cmd}", self.def.name),
            ),
            None => (
                crate::script::eval::SHIM.to_owned(),
                "rcinit-cmd".to_owned(),
            ),
        };
        let argv: Vec<OsString> = vec![
            self.ctx.shell.clone().into(),
            "-c".into(),
            text.into(),
            title.into(),
            "cmd".into(),
            self.ctx.runlevel.clone().into(),
            self.def.dir.clone().into(),
            self.def.name.clone().into(),
            self.def.path.clone().into(),
            cmd.into(),
        ];
        let (out, err) = match &self.client_stdio {
            Some((o, e)) => (o.try_clone()?, e.try_clone()?),
            None => (
                forward::start(&self.def.name, Stream::Stdout)?,
                forward::start(&self.def.name, Stream::Stderr)?,
            ),
        };
        let handed = match cmd {
            "start" | "stop" => self.reexported_env(cmd),
            _ => Vec::new(),
        };
        let env: std::borrow::Cow<'_, [(OsString, OsString)]> =
            if handed.is_empty() && (cmd != "start" || self.def.reexport.is_empty()) {
                std::borrow::Cow::Borrowed(&self.ctx.env)
            } else {
                let mut env = self.ctx.env.clone();
                for (k, v) in handed {
                    env.retain(|(n, _)| n.as_os_str() != k.as_str());
                    env.push((k.into(), v.into()));
                }
                if cmd == "start" && !self.def.reexport.is_empty() {
                    env.push(("RC_REEXPORT".into(), self.def.reexport.join(" ").into()));
                }
                std::borrow::Cow::Owned(env)
            };
        let mut opts = Options::new(Grouping::Session, &env);
        opts.fds = vec![(theirs.as_raw_fd(), 9), (theirs.as_raw_fd(), 8)];
        if let Some(fd) = memfd {
            opts.fds.push((fd, crate::script::eval::SHIM_FD));
        }
        opts.stdin = Some(spawn::Io::Null);
        opts.stdout = Some(out.into());
        opts.stderr = Some(err.into());
        let child = spawn::spawn_with(&argv, opts)?;
        let exit = self.ctx.reaper.borrow_mut().watch(child.pid);
        Ok((child.pid, exit, chan))
    }
}
