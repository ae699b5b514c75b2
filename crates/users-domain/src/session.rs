//! The refresh-rotation rule, free of storage: what to do with a presented refresh token.

use chrono::{NaiveDateTime, TimeDelta};

/// What a refresh request leads to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefreshDecision {
    /// The presented token is the current one: move the counter from `from` to `from + 1`
    /// (if no one else did first) and hand out the successor.
    Rotate {
        /// The session's counter as read.
        from: i64,
    },
    /// The immediate predecessor, inside the grace window (two tabs refreshing at once):
    /// hand out the existing successor again.
    Replay {
        /// The current counter, whose token is handed out again.
        successor: i64,
    },
    /// Any other rotated-out token: reuse. The whole session is revoked.
    Reuse,
}

/// Decides on a refresh token with counter `presented`, for a live session whose current
/// counter is `current` and last rotated at `rotated_at`.
pub fn decide_refresh(
    presented: i64,
    current: i64,
    rotated_at: Option<NaiveDateTime>,
    now: NaiveDateTime,
    grace: TimeDelta,
) -> RefreshDecision {
    if presented == current {
        return RefreshDecision::Rotate { from: current };
    }
    let within_grace = rotated_at.is_some_and(|t| now - t <= grace);
    if presented.checked_add(1) == Some(current) && within_grace {
        RefreshDecision::Replay { successor: current }
    } else {
        RefreshDecision::Reuse
    }
}

#[cfg(test)]
mod tests {
    use chrono::DateTime;

    use super::*;

    fn at(secs: i64) -> NaiveDateTime {
        DateTime::from_timestamp(secs, 0).unwrap().naive_utc()
    }

    const GRACE: TimeDelta = TimeDelta::seconds(10);

    #[test]
    fn current_token_rotates() {
        assert_eq!(
            decide_refresh(3, 3, Some(at(0)), at(100), GRACE),
            RefreshDecision::Rotate { from: 3 }
        );
        assert_eq!(
            decide_refresh(0, 0, None, at(100), GRACE),
            RefreshDecision::Rotate { from: 0 }
        );
    }

    #[test]
    fn predecessor_within_grace_replays() {
        assert_eq!(
            decide_refresh(2, 3, Some(at(100)), at(110), GRACE),
            RefreshDecision::Replay { successor: 3 }
        );
    }

    #[test]
    fn predecessor_after_grace_is_reuse() {
        assert_eq!(
            decide_refresh(2, 3, Some(at(100)), at(111), GRACE),
            RefreshDecision::Reuse
        );
    }

    #[test]
    fn older_tokens_and_future_counters_are_reuse() {
        assert_eq!(
            decide_refresh(1, 3, Some(at(100)), at(101), GRACE),
            RefreshDecision::Reuse
        );
        assert_eq!(
            decide_refresh(4, 3, Some(at(100)), at(101), GRACE),
            RefreshDecision::Reuse
        );
        assert_eq!(
            decide_refresh(i64::MAX, 3, None, at(101), GRACE),
            RefreshDecision::Reuse
        );
    }
}
