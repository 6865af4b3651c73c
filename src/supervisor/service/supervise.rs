//! While up: the daemon's exits, the machine's deadlines, requests and the shutdown become events
//! of the pure machine ([`super::super::lifecycle`]); what it decides is carried out here.

use super::*;

/// What carrying out one of the machine's actions came to.
pub(super) enum Outcome {
    /// Its result, for the machine.
    Event(Event),
    /// A stop was asked for meanwhile.
    Stop(StopAsk),
    /// Cut short by the shutdown, or nothing to report.
    Nothing,
}

impl Svc {
    /// Follows the started service until a stop is asked for.
    // Its steps are boxed: it is what every started service waits in, for as long as it runs.
    /// While up: the daemon's exits, the machine's deadlines, requests and the shutdown become
    /// events of the machine ([`lifecycle`]), and what it decides is carried out, until a stop
    /// is asked for (returned) or the service is no longer up.
    pub(super) async fn supervise(&mut self, rx: &mut Inbox<Request>) -> Option<StopAsk> {
        let mut down = self.ctx.down.subscribe();
        let daemon = self.daemon.is_some();
        let mut next = self.feed(Event::Supervise { daemon });
        loop {
            // What the machine asked for runs first; its outcome is the next event.
            if let Some(a) = next.take() {
                match Box::pin(self.perform(a, rx, &mut down)).await {
                    Outcome::Event(e) => next = self.feed(e),
                    Outcome::Stop(stop) => return Some(stop),
                    Outcome::Nothing => {}
                }
                continue;
            }
            if let Some(r) = self.deferred.pop_front() {
                match Box::pin(self.answer(r, rx)).await {
                    Flow::Stop(stop) => return Some(stop),
                    Flow::Down => return None,
                    Flow::Go => next = self.replanned(),
                }
                continue;
            }
            if let Some(d) = self.daemon.as_mut() {
                d.refresh_group();
            }
            let daemon_exit = async {
                match self.daemon.as_mut() {
                    Some(d) => d.ended().await,
                    None => std::future::pending().await,
                }
            };
            let quiet = self.life.is_down();
            let going = going_down(Some(&mut down).filter(|_| !quiet));
            tokio::select! {
                _ = going => next = self.feed(Event::ShutdownBegan),
                e = daemon_exit => next = Box::pin(self.daemon_ended(e)).await,
                _ = sleep_opt(self.wake) => {
                    self.wake = None;
                    next = self.feed(Event::Deadline);
                }
                r = rx.recv() => match r {
                    Some(r) => match Box::pin(self.answer(r, rx)).await {
                        Flow::Stop(stop) => return Some(stop),
                        Flow::Down => return None,
                        Flow::Go => next = self.replanned(),
                    },
                    None => return None,
                },
            }
        }
    }

    /// A command of the script that started a daemon anew (`start-stop-daemon --start` from a
    /// reload) made a new plan: supervision begins again, with its checks.
    pub(super) fn replanned(&mut self) -> Option<Action> {
        if self.life.phase() != lifecycle::Phase::Idle {
            return None;
        }
        let daemon = self.daemon.is_some();
        self.feed(Event::Supervise { daemon })
    }

    /// The followed daemon ended: the process it handed over to, if any, is followed instead;
    /// otherwise the machine is told, with whether anything of its process group is left.
    pub(super) async fn daemon_ended(&mut self, e: Exit) -> Option<Action> {
        let ended = self.daemon.as_ref().map_or(0, |d| d.pid);
        if let Some(pid) = Box::pin(self.successor(e)).await {
            tracing::info!(
                "{}: pid {ended} ended ({e}) leaving pid {pid}: that is the daemon now",
                self.def.name
            );
            return None;
        }
        if let Some(d) = self.daemon.as_mut() {
            d.own_group_after_exit();
        }
        let leftovers = self.daemon.as_ref().is_some_and(group_alive);
        let next = self.feed(Event::DaemonExited { exit: e, leftovers });
        // An ended daemon still held would be ready again at once: the loop would spin, and
        // every task on PID 1's one thread with it. The machine lets go of it (Forget) or has
        // its leftovers stopped (which takes it); this holds even if a row forgets to.
        if next != Some(Action::StopLeftovers)
            && let Some(d) = self.daemon.take_if(|d| d.ended.is_some())
        {
            tracing::error!(
                "{}: pid {} ended and was still followed",
                self.def.name,
                d.pid
            );
            self.status.send_modify(|s| s.pid = None);
        }
        next
    }

    /// One event for the machine, now (the container going down first, if it began to and the
    /// machine does not know yet). The actions that only change state are carried out here;
    /// the one that has an outcome (a spawn, a check, a stop), which the machine puts last, is
    /// returned for [`Svc::perform`].
    pub(super) fn feed(&mut self, event: Event) -> Option<Action> {
        let now = Instant::now();
        let mut acts = Vec::new();
        if self.ctx.going_down() && !self.life.is_down() && event != Event::ShutdownBegan {
            acts = self.life.step(Event::ShutdownBegan, now);
        }
        acts.extend(self.life.step(event, now));
        let mut pending = None;
        for a in acts {
            match a {
                Action::Report(state, why) => self.set(state, why),
                Action::Forget => {
                    self.daemon = None;
                    self.status.send_modify(|s| s.pid = None);
                }
                Action::Healthy(h) => self.status.send_modify(|s| s.healthy = Some(h)),
                Action::Restarts(n) => self.status.send_modify(|s| s.restarts = n),
                Action::Arm(at) => self.wake = Some(at),
                Action::Disarm => self.wake = None,
                Action::Say(level, text) => say(&self.def.name, level, &text),
                Action::Failed => self.on_failed(),
                other => pending = Some(other),
            }
        }
        pending
    }

    /// [`Svc::feed`] outside supervision (a start, a stop): only state changes can follow from
    /// these events (an exit without leftovers, a plan, a stop beginning).
    pub(super) fn feed_now(&mut self, event: Event) {
        if let Some(a) = self.feed(event) {
            tracing::error!("{}: {a:?} left undone (outside supervision)", self.def.name);
        }
    }

    /// Carries out an action with an outcome: the outcome as the machine's next event, or the
    /// stop asked for meanwhile (what was started stays the task's, stopped with the service).
    pub(super) async fn perform(
        &mut self,
        a: Action,
        rx: &mut Inbox<Request>,
        down: &mut watch::Receiver<bool>,
    ) -> Outcome {
        let mut held = Vec::new();
        let outcome = match a {
            Action::StopLeftovers => {
                // Its workers go before anything starts again: they would keep its port, its
                // files. Meanwhile no pid is vouched for.
                self.status.send_modify(|s| s.pid = None);
                let deadline = self.own_stop_deadline();
                let end = Box::pin(self.stop_group(deadline, false));
                match race(end, rx, None, &mut held, None).await {
                    Raced::Stop(stop) => Outcome::Stop(stop),
                    _ => Outcome::Event(Event::LeftoversGone),
                }
            }
            // A readiness wait may be long: a stop or the shutdown ends it.
            Action::Spawn => match race(
                Box::pin(self.spawn_daemon()),
                rx,
                None,
                &mut held,
                Some(down),
            )
            .await
            {
                Raced::Done(Ok(())) => {
                    let pid = self.status.borrow().pid.unwrap_or(0);
                    Outcome::Event(Event::Spawned(Spawn::Ready(pid)))
                }
                Raced::Done(Err(e)) => {
                    tracing::error!("{}: {e:#}", self.def.name);
                    // Spawned, then not ready (or its readiness not watchable): it was killed,
                    // and its exit is counted when it comes. Not spawned: this is the exit.
                    Outcome::Event(Event::Spawned(match self.daemon {
                        Some(_) => Spawn::NotReady,
                        None => Spawn::Failed,
                    }))
                }
                Raced::Stop(stop) => Outcome::Stop(stop),
                Raced::Late | Raced::Down => Outcome::Nothing,
            },
            Action::RunCheck { limit } => match self.health_check(limit, rx, down).await {
                Ok(c) => Outcome::Event(Event::Checked(c)),
                Err(stop) => Outcome::Stop(stop),
            },
            Action::RestartUnhealthy { limit } => {
                let restart = Box::pin(self.restart_unhealthy(limit));
                let r = race(restart, rx, None, &mut held, Some(down)).await;
                self.status.send_modify(|s| s.script = None);
                match r {
                    Raced::Done(exit) => Outcome::Event(Event::UnhealthyStopped(exit)),
                    Raced::Stop(stop) => Outcome::Stop(stop),
                    Raced::Late | Raced::Down => Outcome::Nothing,
                }
            }
            // State changes are carried out by feed.
            _ => Outcome::Nothing,
        };
        self.deferred.extend(held);
        outcome
    }

    /// A request other than the first start: a stop, a script command, OpenRC's own helper call.
    pub(super) async fn answer(&mut self, r: Request, rx: &mut Inbox<Request>) -> Flow {
        match r {
            Request::Stop {
                deadline, reply, ..
            } => Flow::Stop((deadline, reply)),
            Request::Run {
                command,
                stdio,
                reply,
            } => {
                let (code, said, stop) = self.run_command(&command, stdio, rx).await;
                let _ = reply.send((code, said));
                match stop {
                    Some(s) => Flow::Stop(s),
                    None => Flow::Go,
                }
            }
            Request::Helper {
                argv,
                exported,
                reply,
            } => {
                // A start by OpenRC's own openrc-run has the start limit, and a stop ends it.
                let starts = helper_call::split(&argv).is_ok_and(|c| c.mode == HelperMode::Start);
                let limit = match (starts, self.def.no_timeout) {
                    (true, false) => self.ctx.start_timeout,
                    _ => None,
                };
                let mut held = Vec::new();
                let call = Box::pin(self.outside_helper(&argv, &exported));
                let end = until(Instant::now(), limit);
                let r = race(call, rx, end, &mut held, None).await;
                self.deferred.extend(held);
                match r {
                    Raced::Done(ok) => {
                        let _ = reply.send(ok);
                        if self.is_up() { Flow::Go } else { Flow::Down }
                    }
                    Raced::Stop(stop) => {
                        let _ = reply.send(Some(false));
                        Flow::Stop(stop)
                    }
                    Raced::Late | Raced::Down => {
                        self.start_took_too_long(limit.unwrap_or_default()).await;
                        let _ = reply.send(Some(false));
                        Flow::Down
                    }
                }
            }
            // Already up: that start is over.
            Request::Start(Some(reply)) => {
                let _ = reply.send(());
                Flow::Go
            }
            Request::Start(None) | Request::Refuse(_) => Flow::Go,
        }
    }

    /// `healthcheck` within `limit`: passed, failed, or cut short (the daemon gone, the
    /// container going down); a stop asked for meanwhile ends it.
    pub(super) async fn health_check(
        &mut self,
        limit: Duration,
        rx: &mut Inbox<Request>,
        down: &mut watch::Receiver<bool>,
    ) -> Result<lifecycle::Check, StopAsk> {
        let run = self
            .script("healthcheck", Some(limit), Some(rx), Some(down))
            .await;
        if let Some(stop) = run.interrupted {
            return Err(stop);
        }
        Ok(match run.exit {
            _ if self.daemon.is_none() || run.cut => lifecycle::Check::Gone,
            Some(Exit::Code(0)) => lifecycle::Check::Passed,
            _ => lifecycle::Check::Failed,
        })
    }

    /// After a failed health check (S-31): `unhealthy`, then the daemon's stop by its own
    /// schedule; how it ended.
    pub(super) async fn restart_unhealthy(&mut self, limit: Duration) -> Option<Exit> {
        let _ = self.script("unhealthy", Some(limit), None, None).await;
        self.stop_daemon(self.own_stop_deadline()).await.exit
    }
}
