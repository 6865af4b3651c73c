//! Daemons that fork: found through their pidfile, or by name when there is none, and the
//! process a daemon hands over to when it forks again.

use super::*;

impl Svc {
    /// start-stop-daemon without background: the command runs until it returns; the daemon it
    /// leaves is followed through the pidfile (V-11).
    pub(super) async fn run_forking(&mut self) -> bool {
        let Some(l) = self.launch.clone() else {
            return false;
        };
        // A pidfile left by the last run (docker restart keeps /run) that names nothing alive,
        // or a process of rcinit's own, is stale.
        let path = l.pidfile.as_deref().map(|p| in_chroot(&l, p));
        if let Some(path) = &path
            && pidfile::read(path).is_ok_and(|pid| !self.followable(pid))
        {
            let _ = crate::safepath::unlink(path);
        }
        let before = crate::procfs::pids();
        self.orphan_rule = None;
        let (d, _) = match self.spawn_process(&l) {
            Ok(d) => d,
            Err(e) => return self.cannot_start(format!("{e:#}")),
        };
        // Our child, alive until the reaper takes its exit: what the daemon's start time is
        // measured against. Without /proc nothing can be checked, and nothing is accepted.
        let since = pidfile::start_time(d.pid);
        let wanted = since.map(|since| pidfile::Wanted {
            since,
            me: std::process::id() as i32,
            before,
            uid: l.user.as_ref().map(|u| u.uid),
            name: l.procname.clone().unwrap_or_else(|| l.argv[0].clone()),
        });
        // Known from now: a start cut short while the command still waits (pg_ctl -w) still
        // finds the daemon it forked, once the command is stopped.
        let mut by_name = None;
        match &path {
            Some(path) => self.forking = Some((path.clone(), wanted)),
            None => by_name = wanted,
        }
        // While the command runs, it is what a stop (or the start limit) stops, with its group;
        // a daemon an earlier call of the same start() left stays the service's.
        self.status.send_modify(|s| s.pid = Some(d.pid));
        let main = self.daemon.is_none();
        let exit = match main {
            true => self.daemon.insert(d).ended().await,
            false => {
                self.extras.push(d);
                match self.extras.last_mut() {
                    Some(d) => d.ended().await,
                    None => Exit::Code(-1),
                }
            }
        };
        match main {
            true => self.daemon = None,
            false => drop(self.extras.pop()),
        }
        self.status
            .send_modify(|s| s.pid = self.daemon.as_ref().map(|d| d.pid));
        if exit != Exit::Code(0) {
            self.forking = None;
            return self.cannot_start(format!("{} returned {exit}", l.argv[0]));
        }
        let Some(path) = path else {
            self.follow_by_name(by_name).await;
            return true;
        };
        // The daemon's own child may write the pidfile after the command returned (nginx):
        // give it the readiness time limit.
        let limit = later(self.ctx.ready_timeout);
        let wanted = self.forking.as_ref().and_then(|(_, w)| w.clone());
        let found = self.await_pidfile(&path, wanted.as_ref(), limit).await;
        self.forking = None;
        match found {
            Ok(pid) => {
                self.follow(pid);
                true
            }
            Err(why) => self.cannot_start(format!(
                "pidfile {path}: {why} (after {} ms); nothing is followed or signalled",
                self.ctx.ready_timeout.as_millis()
            )),
        }
    }

    /// No pidfile: start-stop-daemon finds the daemon again by its name. What the command
    /// forked is rcinit's orphan by the time its exit is seen (a child is re-parented as its
    /// parent exits): judged as a pidfile's pid is, and followed.
    async fn follow_by_name(&mut self, by_name: Option<pidfile::Wanted>) {
        let Some(mut w) = by_name else {
            return;
        };
        // Run as rcinit when no command_user: an orphan of another user is not it.
        w.uid.get_or_insert(nix::unistd::geteuid().as_raw());
        let (found, why) = self.await_orphans(&w).await;
        match found.split_first() {
            Some((&first, rest)) => {
                self.follow(first);
                for &pid in rest {
                    self.follow_extra(pid);
                }
                self.orphan_rule = Some(w);
            }
            None => self.untracked_note = why,
        }
    }

    /// Polls (every 20 ms, until `limit`) for the pidfile to name this start's daemon. The caller
    /// follows the pid at once, in the same step of the single-threaded loop: the reaper cannot
    /// take its exit in between (a zombie still answers kill 0).
    pub(super) async fn await_pidfile(
        &self,
        path: &str,
        wanted: Option<&pidfile::Wanted>,
        limit: Instant,
    ) -> Result<i32, String> {
        loop {
            let why = match self.daemon_in_pidfile(path, wanted) {
                Ok(pid) => return Ok(pid),
                Err(why) => why,
            };
            if Instant::now() >= limit {
                return Err(why);
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Makes `pid` (judged this start's daemon) the service's: watched, signalled with its group.
    pub(super) fn follow(&mut self, pid: i32) {
        let exit = self.ctx.reaper.borrow_mut().watch(pid);
        let pgid = own_group(pid);
        let mut found = Daemon::new(pid, pgid, exit);
        found.seen = seen(pid);
        self.take_daemon(found);
    }

    /// Another process of the same start, stopped with the service (not supervised).
    pub(super) fn follow_extra(&mut self, pid: i32) {
        let exit = self.ctx.reaper.borrow_mut().watch(pid);
        let mut d = Daemon::new(pid, own_group(pid), exit);
        d.seen = seen(pid);
        self.extras.push(d);
    }

    /// The daemon a pidfile names, if it is this start's (see [`pidfile`]), or why not.
    pub(super) fn daemon_in_pidfile(
        &self,
        path: &str,
        wanted: Option<&pidfile::Wanted>,
    ) -> Result<i32, String> {
        let pid = pidfile::read(path)?;
        if !self.followable(pid) {
            return Err(format!(
                "pid {pid} is not running, or is rcinit's, or is followed for another service"
            ));
        }
        let Some(w) = wanted else {
            return Err("no /proc to check the pid it names".into());
        };
        let info = pidfile::info(pid)?;
        pidfile::judge(pid, &info, w)?;
        Ok(pid)
    }

    /// The processes a start without a pidfile left that are its daemon: rcinit's orphans,
    /// judged as a pidfile's pid is ([`pidfile::judge`]), oldest first; and why the first one
    /// turned down was.
    pub(super) fn judge_orphans(&self, w: &pidfile::Wanted) -> (Vec<i32>, Option<String>) {
        let mut why = None;
        let mut found: Vec<(u64, i32)> = crate::procfs::pids()
            .into_iter()
            .filter(|&p| {
                crate::procfs::stat(p).is_some_and(|s| s.ppid == w.me && s.state != 'Z')
                    && self.followable(p)
            })
            .filter_map(|p| {
                let info = pidfile::info(p).ok()?;
                if let Err(e) = pidfile::judge(p, &info, w) {
                    why.get_or_insert(e);
                    return None;
                }
                Some((info.start, p))
            })
            .collect();
        found.sort_unstable();
        (found.into_iter().map(|(_, p)| p).collect(), why)
    }

    /// [`Svc::judge_orphans`], once there are some: while a process this start left is not (yet)
    /// the daemon (a wrapper such as setsid or nohup, mid-exec), it is awaited, within the
    /// readiness limit (5 s at most). A start that left nothing is over at once.
    pub(super) async fn await_orphans(&self, w: &pidfile::Wanted) -> (Vec<i32>, Option<String>) {
        let limit = later(self.ctx.ready_timeout.min(Duration::from_secs(5)));
        loop {
            let found = self.judge_orphans(w);
            if !found.0.is_empty() || Instant::now() >= limit {
                return found;
            }
            // Only what may still become it: this start's, of the service's user, mid-exec.
            let pending = crate::procfs::pids().into_iter().any(|p| {
                !self.ctx.reaper.borrow().is_watched(p)
                    && crate::procfs::stat(p).is_some_and(|s| {
                        s.ppid == w.me
                            && s.state != 'Z'
                            && (s.start > w.since || (s.start == w.since && !w.before.contains(&p)))
                    })
                    && w.uid
                        .is_none_or(|u| pidfile::info(p).is_ok_and(|i| i.uid == u))
            });
            if !pending {
                return found;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// A daemon followed by its name ended with 0 after forking again (the second fork of a
    /// double-forking daemon, nginx's binary upgrade): the process it left is the daemon now.
    /// An exit other than 0 is a crash, whatever it left (a master's workers).
    pub(super) async fn successor(&mut self, exit: Exit) -> Option<i32> {
        if exit != Exit::Code(0) {
            return None;
        }
        let mut w = self.orphan_rule.clone()?;
        // Younger than the one that ended, and of its user.
        let (since, uid) = self.daemon.as_ref().and_then(|d| d.seen)?;
        w.since = since;
        w.uid = Some(uid);
        w.before.clear();
        let pid = *self.await_orphans(&w).await.0.first()?;
        self.daemon = None;
        self.follow(pid);
        Some(pid)
    }

    /// A pid a pidfile may name: alive, not rcinit, and not a process rcinit already follows
    /// for something else.
    pub(super) fn followable(&self, pid: i32) -> bool {
        pid > 1
            && pid != std::process::id() as i32
            && kill(Pid::from_raw(pid), None).is_ok()
            && !self.ctx.reaper.borrow().is_watched(pid)
    }
}
