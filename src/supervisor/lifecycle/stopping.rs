//! A daemon's stop by its schedule (V-20..V-23), decided without doing any of it (pure): the task
//! asks [`Stopping::next`] what to do, tells it whether anything of the daemon's process group is
//! left and what time it is, and does it. The schedule's waits end at the stop's deadline (the
//! shutdown budget's share); when the schedule or the deadline runs out with something left,
//! the end is SIGKILL, so nothing of the daemon outlives its stop (OpenRC would leave it, T-02).

use std::time::Instant;

use crate::deadline::after;
use crate::policy::retry::Step;

/// What to do next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Move {
    /// Send these signals to the daemon's process group, in order.
    Send(Vec<i32>),
    /// Wait until everything of the group is gone, or until this time.
    WaitUntil(Instant),
    /// The schedule or the deadline ran out with something left: SIGKILL, then a last short
    /// wait for the kernel to take it.
    Kill,
    /// Over.
    Done,
}

/// One stop in progress.
#[derive(Debug, Clone)]
pub struct Stopping {
    steps: std::vec::IntoIter<Step>,
    deadline: Instant,
    /// The first signal sent (the report's).
    first: Option<i32>,
    killed: bool,
    over: bool,
    /// The last move was a wait: a deadline passed meanwhile ends the schedule.
    waited: bool,
}

impl Stopping {
    pub fn new(steps: Vec<Step>, deadline: Instant) -> Stopping {
        Stopping {
            steps: steps.into_iter(),
            deadline,
            first: None,
            killed: false,
            over: false,
            waited: false,
        }
    }

    /// The next move, given whether anything of the group is `left` at `now`.
    pub fn next(&mut self, left: bool, now: Instant) -> Move {
        if self.over {
            return Move::Done;
        }
        if !left {
            self.over = true;
            return Move::Done;
        }
        if std::mem::take(&mut self.waited) && now >= self.deadline {
            return self.kill();
        }
        match self.steps.next() {
            Some(Step::Signal(sig)) => {
                self.first.get_or_insert(sig);
                self.killed |= sig == libc::SIGKILL;
                // A stopped daemon (SIGSTOP, a debugger let go) would take its stop signal only
                // when continued. OpenRC sends no SIGCONT: differential tests leave it out.
                match sig {
                    libc::SIGKILL | libc::SIGCONT => Move::Send(vec![sig]),
                    _ => Move::Send(vec![sig, libc::SIGCONT]),
                }
            }
            Some(Step::Wait(t)) => {
                self.waited = true;
                Move::WaitUntil(after(now, t).min(self.deadline))
            }
            Some(Step::Forever) => {
                self.waited = true;
                Move::WaitUntil(self.deadline)
            }
            None => self.kill(),
        }
    }

    fn kill(&mut self) -> Move {
        self.over = true;
        self.first.get_or_insert(libc::SIGKILL);
        self.killed = true;
        Move::Kill
    }

    /// The first signal sent, if any.
    pub fn signal(&self) -> Option<i32> {
        self.first
    }

    /// Whether SIGKILL was sent.
    pub fn killed(&self) -> bool {
        self.killed
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    const TERM: i32 = libc::SIGTERM;
    const KILL: i32 = libc::SIGKILL;
    const CONT: i32 = libc::SIGCONT;

    fn secs(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    /// The moves of a stop whose group is left until `gone_at` (never: None), each wait taken
    /// to its end or to `gone_at`, whichever is first.
    fn run(steps: Vec<Step>, budget: Duration, gone_at: Option<Duration>) -> (Vec<Move>, Stopping) {
        let t0 = Instant::now();
        let mut s = Stopping::new(steps, t0 + budget);
        let mut now = t0;
        let mut moves = Vec::new();
        for _ in 0..20 {
            let left = gone_at.is_none_or(|g| now < t0 + g);
            let m = s.next(left, now);
            moves.push(m.clone());
            match m {
                Move::WaitUntil(t) => {
                    now = match gone_at {
                        Some(g) if t0 + g < t => t0 + g,
                        _ => t,
                    }
                }
                Move::Done => break,
                Move::Kill => now += secs(1),
                Move::Send(_) => {}
            }
        }
        (moves, s)
    }

    fn retry(text: &str) -> Vec<Step> {
        crate::policy::retry::parse(Some(text), None).unwrap()
    }

    #[test]
    fn term_then_the_wait_ends_when_the_group_is_gone() {
        let t0 = Instant::now();
        let (moves, s) = run(retry("TERM/30/KILL/5"), secs(60), Some(secs(2)));
        assert_eq!(moves[0], Move::Send(vec![TERM, CONT]));
        assert!(matches!(moves[1], Move::WaitUntil(t) if t >= t0 + secs(30)));
        assert_eq!(moves[2], Move::Done, "gone after 2 s: no KILL");
        assert_eq!((s.signal(), s.killed()), (Some(TERM), false));
    }

    #[test]
    fn a_daemon_that_ignores_term_gets_the_schedules_kill() {
        let (moves, s) = run(retry("TERM/3/KILL/5"), secs(60), None);
        assert_eq!(moves[0], Move::Send(vec![TERM, CONT]));
        assert_eq!(moves[2], Move::Send(vec![KILL]), "no SIGCONT after SIGKILL");
        assert_eq!(moves[4], Move::Kill, "still there after the whole schedule");
        assert_eq!((s.signal(), s.killed()), (Some(TERM), true));
    }

    #[test]
    fn the_default_schedule_ends_in_sigkill_not_in_an_orphan_t02() {
        let (moves, s) = run(crate::policy::retry::default_schedule(), secs(60), None);
        assert_eq!(moves.len(), 4, "{moves:?}");
        assert_eq!(moves[2], Move::Kill);
        assert!(s.killed());
    }

    #[test]
    fn waits_end_at_the_stops_deadline_and_then_it_is_killed() {
        let t0 = Instant::now();
        let mut s = Stopping::new(retry("TERM/30/KILL/5"), t0 + secs(4));
        assert_eq!(s.next(true, t0), Move::Send(vec![TERM, CONT]));
        assert_eq!(
            s.next(true, t0),
            Move::WaitUntil(t0 + secs(4)),
            "30 s clipped to the budget"
        );
        assert_eq!(
            s.next(true, t0 + secs(4)),
            Move::Kill,
            "the KILL step is not waited for"
        );
        assert_eq!(s.next(true, t0 + secs(5)), Move::Done);
    }

    #[test]
    fn forever_waits_until_the_deadline() {
        let t0 = Instant::now();
        let mut s = Stopping::new(retry("TERM/forever"), t0 + secs(10));
        s.next(true, t0);
        assert_eq!(s.next(true, t0), Move::WaitUntil(t0 + secs(10)));
    }

    #[test]
    fn nothing_left_means_nothing_sent() {
        let t0 = Instant::now();
        let mut s = Stopping::new(retry("TERM/30"), t0 + secs(10));
        assert_eq!(s.next(false, t0), Move::Done);
        assert_eq!((s.signal(), s.killed()), (None, false));
    }

    #[test]
    fn a_stop_begun_past_its_deadline_still_signals_first() {
        // The shutdown budget spent: the schedule's first signal goes, then SIGKILL at once.
        let t0 = Instant::now();
        let mut s = Stopping::new(retry("HUP/30"), t0);
        assert_eq!(
            s.next(true, t0 + secs(1)),
            Move::Send(vec![libc::SIGHUP, CONT])
        );
        assert_eq!(
            s.next(true, t0 + secs(1)),
            Move::WaitUntil(t0),
            "no wait left"
        );
        assert_eq!(s.next(true, t0 + secs(1)), Move::Kill);
        assert_eq!(s.signal(), Some(libc::SIGHUP));
    }

    #[test]
    fn a_real_time_signal_and_sigcont_itself_are_sent_as_asked() {
        let rt = libc::SIGRTMIN() + 3;
        let t0 = Instant::now();
        let mut s = Stopping::new(vec![Step::Signal(rt), Step::Signal(CONT)], t0 + secs(5));
        assert_eq!(s.next(true, t0), Move::Send(vec![rt, CONT]));
        assert_eq!(s.next(true, t0), Move::Send(vec![CONT]));
    }

    #[test]
    fn an_empty_schedule_kills_what_is_there() {
        let t0 = Instant::now();
        let mut s = Stopping::new(Vec::new(), t0 + secs(5));
        assert_eq!(s.next(true, t0), Move::Kill);
        assert_eq!((s.signal(), s.killed()), (Some(KILL), true));
    }

    #[test]
    fn huge_waits_do_not_overflow_the_clock() {
        let t0 = Instant::now();
        let mut s = Stopping::new(
            vec![Step::Signal(TERM), Step::Wait(Duration::MAX)],
            t0 + secs(7),
        );
        s.next(true, t0);
        assert_eq!(s.next(true, t0), Move::WaitUntil(t0 + secs(7)));
    }
}
