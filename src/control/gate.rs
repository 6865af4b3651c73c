//! Who gets a connection to the control socket (pure): root and rcinit's own user from a pool of
//! their own, everyone else from a smaller shared pool in which no one uid may hold more than
//! [`PER_UID`], so one user polling in a loop cannot lock the others out. A refusal is answered
//! ("busy") and counted; it is logged at most once a minute per uid, with the count since the
//! last line, so a flood of refused connections cannot flood the log (and push the services'
//! own lines out behind it).

use std::collections::HashMap;
use std::time::{Duration, Instant};

/// Connections served at once for root and rcinit's own user.
pub const PRIVILEGED: usize = 64;
/// ... for all other users together.
pub const OTHERS: usize = 16;
/// ... for any one other user.
pub const PER_UID: usize = 4;
/// At most one refusal line per uid in this time.
pub const LOG_EVERY: Duration = Duration::from_secs(60);
/// Uids whose refusals are remembered; beyond, the oldest line is forgotten.
const REMEMBERED: usize = 256;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The uid holds its share already.
    TooManyOfUid,
    /// The pool is full.
    PoolFull,
}

#[derive(Debug, Default)]
pub struct Gate {
    privileged: usize,
    others: usize,
    per_uid: HashMap<u32, usize>,
    /// uid -> (when its last line was written, refusals since).
    logged: HashMap<u32, (Instant, u64)>,
}

impl Gate {
    /// Takes a slot for `uid` or says why not.
    pub fn admit(&mut self, uid: u32, privileged: bool) -> Result<(), Refusal> {
        if privileged {
            if self.privileged >= PRIVILEGED {
                return Err(Refusal::PoolFull);
            }
            self.privileged += 1;
            return Ok(());
        }
        let mine = self.per_uid.get(&uid).copied().unwrap_or(0);
        if mine >= PER_UID {
            return Err(Refusal::TooManyOfUid);
        }
        if self.others >= OTHERS {
            return Err(Refusal::PoolFull);
        }
        self.others += 1;
        self.per_uid.insert(uid, mine + 1);
        Ok(())
    }

    /// Gives the slot back.
    pub fn release(&mut self, uid: u32, privileged: bool) {
        if privileged {
            self.privileged = self.privileged.saturating_sub(1);
            return;
        }
        self.others = self.others.saturating_sub(1);
        if let Some(n) = self.per_uid.get_mut(&uid) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                self.per_uid.remove(&uid);
            }
        }
    }

    /// Whether a slot of this kind is free now (for the accept loop's last chance).
    pub fn would_admit(&self, uid: u32, privileged: bool) -> bool {
        if privileged {
            return self.privileged < PRIVILEGED;
        }
        self.per_uid.get(&uid).copied().unwrap_or(0) < PER_UID && self.others < OTHERS
    }

    /// Counts a refusal; returns the line to log, when one is due.
    pub fn refused(&mut self, uid: u32, why: Refusal, now: Instant) -> Option<String> {
        let due = match self.logged.get_mut(&uid) {
            Some((at, n)) if now.saturating_duration_since(*at) < LOG_EVERY => {
                *n = n.saturating_add(1);
                return None;
            }
            Some((_, n)) => *n,
            None => 0,
        };
        if !self.logged.contains_key(&uid)
            && self.logged.len() >= REMEMBERED
            && let Some(oldest) = self
                .logged
                .iter()
                .min_by_key(|(_, (at, _))| *at)
                .map(|(u, _)| *u)
        {
            self.logged.remove(&oldest);
        }
        self.logged.insert(uid, (now, 0));
        let what = match why {
            Refusal::TooManyOfUid => format!("uid {uid} has {PER_UID} connections open already"),
            Refusal::PoolFull => "every connection slot of its kind is taken".to_owned(),
        };
        let since = if due > 0 {
            format!("; {due} more refused since the last such line")
        } else {
            String::new()
        };
        Some(format!(
            "control socket: a connection of uid {uid} refused ({what}){since}; at most one such line a minute per uid"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_uid_cannot_hold_the_shared_pool() {
        let mut g = Gate::default();
        for _ in 0..PER_UID {
            assert_eq!(g.admit(1000, false), Ok(()));
        }
        assert_eq!(g.admit(1000, false), Err(Refusal::TooManyOfUid));
        assert!(!g.would_admit(1000, false));
        // Another user, and root, still get in.
        assert_eq!(g.admit(1001, false), Ok(()));
        assert_eq!(g.admit(0, true), Ok(()));
        g.release(1000, false);
        assert_eq!(g.admit(1000, false), Ok(()));
    }

    #[test]
    fn the_shared_pool_and_the_privileged_pool_are_bounded() {
        let mut g = Gate::default();
        for uid in 0..OTHERS as u32 {
            assert_eq!(g.admit(2000 + uid, false), Ok(()));
        }
        assert_eq!(g.admit(5000, false), Err(Refusal::PoolFull));
        for _ in 0..PRIVILEGED {
            assert_eq!(g.admit(0, true), Ok(()));
        }
        assert_eq!(g.admit(0, true), Err(Refusal::PoolFull));
        g.release(0, true);
        assert!(g.would_admit(0, true));
        // Releasing what was never taken cannot underflow.
        let mut e = Gate::default();
        e.release(7, false);
        e.release(0, true);
        assert_eq!(e.admit(7, false), Ok(()));
    }

    #[test]
    fn refusals_are_logged_once_a_minute_per_uid_with_the_count() {
        let mut g = Gate::default();
        let t0 = Instant::now();
        let first = g
            .refused(65534, Refusal::TooManyOfUid, t0)
            .expect("the first is logged");
        assert!(first.contains("uid 65534"), "{first}");
        for i in 1..10_000u64 {
            assert_eq!(
                g.refused(65534, Refusal::TooManyOfUid, t0 + Duration::from_millis(i)),
                None
            );
        }
        // Another uid has its own minute.
        assert!(g.refused(1000, Refusal::PoolFull, t0).is_some());
        let next = g
            .refused(65534, Refusal::TooManyOfUid, t0 + LOG_EVERY)
            .expect("a minute later");
        assert!(next.contains("9999 more refused"), "{next}");
    }

    #[test]
    fn the_memory_of_refusals_is_bounded() {
        let mut g = Gate::default();
        let t0 = Instant::now();
        for uid in 0..10_000u32 {
            g.refused(
                uid,
                Refusal::PoolFull,
                t0 + Duration::from_millis(u64::from(uid)),
            );
        }
        assert!(g.logged.len() <= REMEMBERED);
    }
}
