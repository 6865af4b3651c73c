//! Deadlines from durations a script or the environment gave: saturating, so a setting of
//! 2^63 s is "very far away" instead of an overflow of the clock (which would abort PID 1).

use std::time::{Duration, Instant};

/// A century: what "never" means for a deadline.
const FAR: Duration = Duration::from_secs(100 * 365 * 86_400);

/// `from + d`, or as far as the clock goes.
pub fn after(from: Instant, d: Duration) -> Instant {
    from.checked_add(d)
        .or_else(|| from.checked_add(FAR))
        .unwrap_or(from)
}

/// Now plus `d`.
pub fn later(d: Duration) -> Instant {
    after(Instant::now(), d)
}

/// The end of a limit counted from `from` (None: no limit).
pub fn until(from: Instant, limit: Option<Duration>) -> Option<Instant> {
    limit.map(|l| after(from, l))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn huge_durations_end_far_away_instead_of_overflowing() {
        let now = Instant::now();
        assert_eq!(
            after(now, Duration::from_secs(3)),
            now + Duration::from_secs(3)
        );
        assert!(after(now, Duration::MAX) >= now + Duration::from_secs(86_400));
        assert!(later(Duration::MAX) > Instant::now());
        assert_eq!(until(now, None), None);
        assert!(until(now, Some(Duration::MAX)).is_some());
    }
}
