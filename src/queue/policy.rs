//! Routing methods as policies: which free agents a waiting call rings next.
//!
//! The engine (mechanism) finds the agents who are free and not yet tried in the call's current
//! round, and asks the queue's policy to order them. A policy is pure: it sees positions in the
//! queue's member list, idle times and where the round stands, never engine state. Adding a
//! routing method is adding a policy.
//!
//! - `attendant`: ring every candidate at once; the first to answer wins.
//! - `serial`: one at a time in member order, going on after the agent rung last.
//! - `round-robin`: one at a time in member order, starting after the agent who answered the
//!   queue's previous call.
//! - `longest-idle`: one at a time, the agent free of calls longest first.

use crate::time::Time;

use super::timers::AgentIx;
use super::types::Routing;

/// A free agent who could be rung for the call now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Candidate {
    pub agent: AgentIx,
    /// Index in the queue's member list.
    pub position: usize,
    pub idle_since: Time,
}

/// Where the call's round stands, in member positions.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct RoundView {
    /// How many members the queue has.
    pub members: usize,
    /// Position of the agent rung last in this round, if still a member.
    pub last: Option<usize>,
    /// Round-robin: position of the agent who answered the queue's previous call.
    pub after: Option<usize>,
}

/// A routing method.
pub(crate) trait Policy {
    /// Ring every candidate at once (`true`) or one agent at a time.
    fn rings_all(&self) -> bool;
    /// The candidate's place in this round, lowest rung first; `None`: not in this round
    /// (serial and round-robin do not go back before the agent rung last).
    fn rank(&self, c: &Candidate, round: &RoundView) -> Option<(u64, usize)>;
}

struct Attendant;
struct Serial;
struct RoundRobin;
struct LongestIdle;

impl Policy for Attendant {
    fn rings_all(&self) -> bool {
        true
    }
    fn rank(&self, c: &Candidate, _: &RoundView) -> Option<(u64, usize)> {
        Some((0, c.position))
    }
}

impl Policy for Serial {
    fn rings_all(&self) -> bool {
        false
    }
    fn rank(&self, c: &Candidate, round: &RoundView) -> Option<(u64, usize)> {
        match round.last {
            Some(last) if c.position <= last => None,
            _ => Some((0, c.position)),
        }
    }
}

impl Policy for RoundRobin {
    fn rings_all(&self) -> bool {
        false
    }
    fn rank(&self, c: &Candidate, round: &RoundView) -> Option<(u64, usize)> {
        let n = round.members.max(1);
        let start = round.after.map_or(0, |a| (a + 1) % n);
        // Distance from the start, walking the member list circularly.
        let dist = |p: usize| (p % n + n - start) % n;
        let d = dist(c.position);
        match round.last {
            Some(last) if d <= dist(last) => None,
            _ => Some((0, d)),
        }
    }
}

impl Policy for LongestIdle {
    fn rings_all(&self) -> bool {
        false
    }
    fn rank(&self, c: &Candidate, _: &RoundView) -> Option<(u64, usize)> {
        let idle = u64::try_from(c.idle_since.since_epoch().as_nanos()).unwrap_or(u64::MAX);
        Some((idle, c.position))
    }
}

/// The policy for a queue's `routing`.
pub(crate) fn policy_for(routing: Routing) -> &'static dyn Policy {
    match routing {
        Routing::Attendant => &Attendant,
        Routing::Serial => &Serial,
        Routing::RoundRobin => &RoundRobin,
        Routing::LongestIdle => &LongestIdle,
    }
}

/// The agents to ring now, given the candidates (free, untried this round) and how many rings
/// the call has outstanding.
pub(crate) fn pick(
    policy: &dyn Policy,
    candidates: &[Candidate],
    round: &RoundView,
    ringing: usize,
) -> Vec<AgentIx> {
    if policy.rings_all() {
        let mut ranked: Vec<_> = candidates
            .iter()
            .filter_map(|c| policy.rank(c, round).map(|r| (r, c.agent)))
            .collect();
        ranked.sort();
        return ranked.into_iter().map(|(_, a)| a).collect();
    }
    if ringing > 0 {
        return Vec::new();
    }
    candidates
        .iter()
        .filter_map(|c| policy.rank(c, round).map(|r| (r, c.agent)))
        .min()
        .map(|(_, a)| vec![a])
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cands(idle: &[u64]) -> Vec<Candidate> {
        idle.iter()
            .enumerate()
            .map(|(i, &ms)| Candidate {
                agent: i + 10,
                position: i,
                idle_since: Time::from_millis(ms),
            })
            .collect()
    }

    fn view(last: Option<usize>, after: Option<usize>) -> RoundView {
        RoundView {
            members: 4,
            last,
            after,
        }
    }

    #[test]
    fn attendant_picks_everyone_even_while_ringing() {
        let c = cands(&[0, 0, 0]);
        let p = policy_for(Routing::Attendant);
        assert_eq!(pick(p, &c, &view(None, None), 2), vec![10, 11, 12]);
    }

    #[test]
    fn serial_goes_on_after_the_last_rung_and_waits_while_ringing() {
        let c = cands(&[0, 0, 0, 0]);
        let p = policy_for(Routing::Serial);
        assert_eq!(pick(p, &c, &view(None, None), 0), vec![10]);
        assert_eq!(pick(p, &c, &view(Some(1), None), 0), vec![12]);
        assert!(pick(p, &c, &view(Some(3), None), 0).is_empty());
        assert!(pick(p, &c, &view(None, None), 1).is_empty());
    }

    #[test]
    fn round_robin_starts_after_the_previous_answerer_and_wraps() {
        let c = cands(&[0, 0, 0, 0]);
        let p = policy_for(Routing::RoundRobin);
        assert_eq!(pick(p, &c, &view(None, Some(2)), 0), vec![13]);
        assert_eq!(pick(p, &c, &view(Some(3), Some(2)), 0), vec![10]);
        assert!(pick(p, &c, &view(Some(2), Some(2)), 0).is_empty());
    }

    #[test]
    fn longest_idle_picks_the_earliest_idle_since() {
        let c = cands(&[500, 100, 300]);
        let p = policy_for(Routing::LongestIdle);
        assert_eq!(pick(p, &c, &view(None, None), 0), vec![11]);
    }
}
