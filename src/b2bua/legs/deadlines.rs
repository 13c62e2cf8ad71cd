//! [`Deadlines`]: the session timers (RFC 4028) of many dialogs in one ordered set, so the
//! core asks for the earliest in O(1) and fires the due ones in order.
//!
//! Each dialog keeps its own copy of its deadline (`due`); the set entry that copy no longer
//! names is stale. Setting a new deadline removes the old entry, so a refreshed dialog never
//! wakes the core for nothing; an entry is also skipped when fired if its dialog moved on.

use std::collections::BTreeSet;

use crate::time::Time;

pub(super) struct Deadlines<K>(BTreeSet<(Time, K)>);

impl<K: Ord + Copy> Deadlines<K> {
    pub fn new() -> Deadlines<K> {
        Deadlines(BTreeSet::new())
    }

    /// Sets `key`'s deadline to `at`, recorded in `due` (the dialog's own copy); the entry it
    /// replaces is removed.
    pub fn set(&mut self, due: &mut Option<Time>, at: Time, key: K) {
        if let Some(old) = due.replace(at) {
            self.0.remove(&(old, key));
        }
        self.0.insert((at, key));
    }

    /// Forgets `key`'s deadline `due` (its dialog ended).
    pub fn clear(&mut self, due: Option<Time>, key: K) {
        if let Some(at) = due {
            self.0.remove(&(at, key));
        }
    }

    /// The earliest deadline.
    pub fn next(&self) -> Option<Time> {
        self.0.first().map(|(at, _)| *at)
    }

    /// The earliest entry due by `now`, taken out of the set.
    pub fn pop_due(&mut self, now: Time) -> Option<(Time, K)> {
        let &(at, key) = self.0.first()?;
        if at > now {
            return None;
        }
        self.0.remove(&(at, key));
        Some((at, key))
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn t(s: u64) -> Time {
        Time::from_epoch(Duration::from_secs(s))
    }

    #[test]
    fn a_moved_deadline_leaves_no_stale_entry_and_due_ones_come_in_order() {
        let mut d = Deadlines::new();
        let (mut a, mut b) = (None, None);
        d.set(&mut a, t(10), 1u32);
        d.set(&mut b, t(5), 2u32);
        d.set(&mut a, t(20), 1u32);
        assert_eq!(d.next(), Some(t(5)));
        assert_eq!(d.pop_due(t(4)), None);
        assert_eq!(d.pop_due(t(30)), Some((t(5), 2)));
        assert_eq!(d.pop_due(t(30)), Some((t(20), 1)));
        assert_eq!(d.pop_due(t(30)), None);
        d.set(&mut b, t(40), 2u32);
        d.clear(b, 2u32);
        assert_eq!(d.next(), None);
    }
}
