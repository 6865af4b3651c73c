//! The orderly stop: the CMD, then the services in reverse order within the grace, then the
//! final sweep.

use super::*;

pub(super) fn forward(pid: i32, sig: i32) {
    let Ok(signal) = Signal::try_from(sig) else {
        return;
    };
    match kill(Pid::from_raw(pid), signal) {
        Ok(()) => tracing::debug!("forwarded {} to CMD (pid {pid})", signals::name(sig)),
        Err(e) => tracing::debug!("forwarding {} to pid {pid}: {e}", signals::name(sig)),
    }
}

/// Says, with the numbers, when the scripts' own stop schedules ask for more than the stop
/// budget gives, and how to give more.
pub(super) fn say_stop_budget(services: &Runlevel, settings: &Settings, cmd: bool) {
    let asked: Vec<(String, Duration)> = services
        .stop_plan()
        .into_iter()
        .filter(|(_, d)| *d > crate::supervisor::service::DEFAULT_ASK)
        .collect();
    let total = stop_total(&asked);
    let needed = budget::needed(total, cmd);
    if needed <= settings.services_grace {
        return;
    }
    let list: Vec<String> = asked
        .iter()
        .map(|(n, d)| format!("{n} {}", budget::secs(*d)))
        .collect();
    let half = if cmd {
        ", and the CMD may take up to half of the budget"
    } else {
        ""
    };
    let secs = needed
        .saturating_add(settings.kill_grace)
        .saturating_add(Duration::from_secs(1))
        .as_secs_f64()
        .ceil();
    tracing::warn!(
        "stop budget: the scripts' retry asks for up to {} to stop ({}){half}; RCINIT_SERVICES_GRACETIME is {}, so some would be killed before their time: set RCINIT_SERVICES_GRACETIME={} and give Docker as much (docker run --stop-timeout {secs}, compose stop_grace_period: {secs}s)",
        budget::secs(total),
        list.join(", "),
        budget::secs(settings.services_grace),
        needed.as_millis(),
    );
}

/// What a stop plan asks for in all.
pub(super) fn stop_total(plan: &[(String, Duration)]) -> Duration {
    let levels: Vec<Vec<Duration>> = plan.iter().map(|(_, d)| vec![*d]).collect();
    budget::total(&levels)
}

impl Init {
    /// The orderly stop: CMD first (it started last), then the services in reverse order, then
    /// the final sweep; services and CMD share RCINIT_SERVICES_GRACETIME.
    pub(super) async fn shutdown(&mut self, settings: &Settings) {
        let begin = Instant::now();
        let end = begin + settings.services_grace;
        self.control.stopping.set(true);
        if let Some(ctx) = &self.ctx {
            ctx.down.send_replace(true);
        }
        if let Some(pid) = self.cmd_running() {
            // The CMD gets the signal that stopped us, or SIGTERM when something else did, and
            // its share: the services keep what their schedules ask for, up to half.
            forward(pid, self.stop.unwrap_or(libc::SIGTERM));
            let asked = self.services.as_ref().and_then(|s| {
                let plan = s.stop_plan();
                (!plan.is_empty()).then(|| stop_total(&plan))
            });
            let share = budget::cmd_share(settings.services_grace, asked);
            if !self
                .wait_until(begin + share, |s| s.cmd_running().is_none())
                .await
            {
                tracing::warn!(
                    "CMD (pid {pid}) still running after {}, its share of RCINIT_SERVICES_GRACETIME: killed, so the services get theirs",
                    since(begin)
                );
                // Its process group too (a pipeline's other end, what it started).
                if pid > 1 {
                    let group = nix::unistd::getpgid(Some(Pid::from_raw(pid))).ok();
                    match group.filter(|g| g.as_raw() == pid) {
                        Some(g) => drop(nix::sys::signal::killpg(g, Signal::SIGKILL)),
                        None => drop(kill(Pid::from_raw(pid), Signal::SIGKILL)),
                    }
                }
                let _ = self
                    .wait_until(Instant::now() + Duration::from_secs(1), |s| {
                        s.cmd_running().is_none()
                    })
                    .await;
            }
        }
        if let Some(services) = self.services.clone()
            && let Some(r) = self
                .answering(services.stop_all(end), Listen::Signals, |s| s.kill_now)
                .await
        {
            self.reports = r;
        }
        self.final_sweep(settings.kill_grace).await;
        for l in self.links.drain(..) {
            let _ = std::fs::remove_file(&l);
        }
        // The services' last lines, read from pipes whose writers are all gone now.
        if !forward::drained(Duration::from_secs(1)).await {
            tracing::warn!("some service output could not be passed on before exit");
        }
        tracing::debug!(
            "stopped in {}; {} orphans reaped since boot",
            since(begin),
            self.reaper.borrow().orphans
        );
    }

    /// SIGTERM to every process left, a grace, SIGKILL, reap all.
    pub(super) async fn final_sweep(&mut self, grace: Duration) {
        self.reap();
        if self.no_children && self.role == Role::Subreaper {
            return;
        }
        let begin = Instant::now();
        if !self.kill_now && signal_all(self.role, Signal::SIGTERM) > 0 {
            self.reap();
            if self.wait_until(begin + grace, |s| s.no_children).await {
                return;
            }
        }
        let n = signal_all(self.role, Signal::SIGKILL);
        if n > 0 {
            tracing::warn!("sent SIGKILL to what was left after {}", since(begin));
        }
        // Killed processes die at once unless stuck in the kernel; do not hang on those.
        let deadline = Instant::now() + Duration::from_secs(1);
        self.kill_now = false;
        if !self.wait_until(deadline, |s| s.no_children).await {
            tracing::warn!("some processes could not be reaped (stuck in the kernel?)");
        }
    }
}
