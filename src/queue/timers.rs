//! The engine's timers: a table of named deadlines, ordered by time.
//!
//! Each timer is owned by one call or agent, which remembers its deadline so the timer can be
//! removed exactly (no stale wake-ups). The table only orders deadlines; the engine decides
//! what a fired timer means, after checking the owner is still in the state that set it.

use std::collections::BTreeSet;

use crate::time::Time;

use super::types::CallId;

/// Index of an agent in the engine's agent table.
pub(crate) type AgentIx = usize;

/// A named timer (quinn's `Timer` idea: one variant per reason to wake up).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum Timer {
    /// The call reaches its queue's `max_wait`: run `on_timeout`.
    MaxWait(CallId),
    /// The greeting should have ended by now (the media plane did not report it): go on as
    /// if it had.
    GreetingGuard(CallId),
    /// The agent alert time of one ring ran out: no answer.
    Alert(CallId, AgentIx),
    /// A call whose round of agents was exhausted may start the next round.
    NextRound(CallId),
    /// An agent's wrap-up ends.
    WrapUp(AgentIx),
}

/// Deadlines in time order.
#[derive(Debug, Default)]
pub(crate) struct TimerTable {
    set: BTreeSet<(Time, Timer)>,
}

impl TimerTable {
    pub fn insert(&mut self, at: Time, timer: Timer) {
        self.set.insert((at, timer));
    }

    pub fn remove(&mut self, at: Time, timer: Timer) {
        self.set.remove(&(at, timer));
    }

    /// The earliest deadline.
    pub fn next(&self) -> Option<Time> {
        self.set.first().map(|(t, _)| *t)
    }

    /// Removes and returns the earliest timer due at or before `now`.
    pub fn pop_due(&mut self, now: Time) -> Option<(Time, Timer)> {
        match self.set.first() {
            Some(&(at, _)) if at <= now => self.set.pop_first(),
            _ => None,
        }
    }

    pub fn len(&self) -> usize {
        self.set.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pops_due_timers_in_time_order_and_keeps_later_ones() {
        let mut t = TimerTable::default();
        t.insert(Time::from_millis(300), Timer::WrapUp(1));
        t.insert(Time::from_millis(100), Timer::MaxWait(CallId(7)));
        t.insert(Time::from_millis(200), Timer::NextRound(CallId(7)));
        t.remove(Time::from_millis(200), Timer::NextRound(CallId(7)));
        assert_eq!(t.next(), Some(Time::from_millis(100)));
        let now = Time::from_millis(250);
        assert_eq!(
            t.pop_due(now),
            Some((Time::from_millis(100), Timer::MaxWait(CallId(7))))
        );
        assert_eq!(t.pop_due(now), None);
        assert_eq!(t.len(), 1);
    }
}
