//! A daemon the task follows: its pid, its process group, its exit.

use super::*;

pub(super) struct Daemon {
    pub(super) pid: i32,
    /// The process group to signal (None: signal the pid alone).
    pub(super) pgid: Option<i32>,
    pub(super) exit: oneshot::Receiver<Exit>,
    /// Its exit, once taken from `exit` (which must not be awaited again): a stop cut short
    /// may have seen it while the rest of its group lingered.
    pub(super) ended: Option<Exit>,
    /// Found rather than spawned (a pidfile, a fork), with its start time and uid: its group
    /// is looked up again, and a successor must be younger and run as it.
    pub(super) seen: Option<(u64, u32)>,
}

impl Daemon {
    pub(super) fn new(pid: i32, pgid: Option<i32>, exit: oneshot::Receiver<Exit>) -> Daemon {
        Daemon {
            pid,
            pgid,
            exit,
            ended: None,
            seen: None,
        }
    }

    /// A daemon found after it forked may call setsid() after rcinit began to follow it
    /// (nginx does, a moment after its parent returned): while it runs (it is rcinit's child,
    /// its pid cannot be anyone else's), its group is the one it has now.
    pub(super) fn refresh_group(&mut self) {
        if self.ended.is_none()
            && let Ok(e) = self.exit.try_recv()
        {
            // Reaped already: its pid may be anyone's by now.
            self.ended = Some(e);
        }
        if self.seen.is_some()
            && self.ended.is_none()
            && let Some(g) = own_group(self.pid)
        {
            self.pgid = Some(g);
        }
    }

    /// A found daemon that ended: a group numbered as its pid can only be one it made itself
    /// (setsid after rcinit last looked): what is left of it (workers) is in that one.
    pub(super) fn own_group_after_exit(&mut self) {
        if self.seen.is_some()
            && self.pgid != Some(self.pid)
            && killpg(Pid::from_raw(self.pid), None).is_ok()
        {
            self.pgid = Some(self.pid);
        }
    }

    /// Its exit, when it comes (at once when it came already).
    pub(super) async fn ended(&mut self) -> Exit {
        if let Some(e) = self.ended {
            return e;
        }
        let e = (&mut self.exit).await.unwrap_or(Exit::Code(-1));
        self.ended = Some(e);
        e
    }
}

/// Anything of the daemon's process group still there (zombies are reaped by the loop).
pub(super) fn group_alive(d: &Daemon) -> bool {
    match d.pgid {
        Some(g) => killpg(Pid::from_raw(g), None).is_ok(),
        None => false,
    }
}

/// Waits until the daemon exited and its group is empty, or `end`. The group's other members
/// are not ours to wait for, so their end is polled every 20 ms (V-22's rhythm), only while
/// the main process is gone and they linger.
pub(super) async fn wait_gone(d: &mut Daemon, end: Instant) -> bool {
    if tokio::time::timeout_at(end.into(), d.ended())
        .await
        .is_err()
    {
        return false;
    }
    loop {
        if !group_alive(d) {
            return true;
        }
        if Instant::now() >= end {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A daemon's own process group, when it has one (not rcinit's, not init's).
/// What a found process is known by: its start time and uid.
pub(super) fn seen(pid: i32) -> Option<(u64, u32)> {
    pidfile::info(pid).ok().map(|i| (i.start, i.uid))
}

pub(super) fn own_group(pid: i32) -> Option<i32> {
    nix::unistd::getpgid(Some(Pid::from_raw(pid)))
        .ok()
        .map(|g| g.as_raw())
        .filter(|g| *g > 1 && *g != nix::unistd::getpgrp().as_raw())
}

/// Earlier daemons of the service had their SIGTERM with the main one's first signal; what is
/// left of them now goes.
pub(super) fn kill_extras(extras: Vec<Daemon>) {
    for x in extras
        .iter()
        .filter(|x| group_alive(x) || kill(Pid::from_raw(x.pid), None).is_ok())
    {
        signal_daemon(x, libc::SIGKILL);
    }
}

/// Sends `sig` (any number, real-time ones too) to the daemon's group, or to it alone.
pub(super) fn signal_daemon(d: &Daemon, sig: i32) -> bool {
    // SAFETY: kill(2)/killpg(2) with a pid or group rcinit follows and a signal number.
    let r = unsafe {
        match d.pgid {
            Some(g) if g > 1 => libc::killpg(g, sig),
            _ if d.pid > 1 => libc::kill(d.pid, sig),
            _ => return false,
        }
    };
    r == 0 || std::io::Error::last_os_error().raw_os_error() != Some(libc::ESRCH)
}

impl Svc {
    /// The daemon the service follows from now on (its pid shown); one it followed already is
    /// stopped with the service, not dropped.
    pub(super) fn take_daemon(&mut self, d: Daemon) {
        let pid = d.pid;
        if let Some(old) = self.daemon.replace(d) {
            tracing::warn!(
                "{}: a second daemon (pid {pid}) for one service; pid {} is stopped with it",
                self.def.name,
                old.pid
            );
            self.extras.push(old);
        }
        self.status.send_modify(|s| s.pid = Some(pid));
    }
}
