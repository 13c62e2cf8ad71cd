//! Agents: one person each, possibly a member of several queues, and when they may be offered
//! a call.
//!
//! An agent rings for at most one call at a time across all queues ([`Activity::Ringing`] holds
//! one call), so answering one call never leaves them ringing for another. Whether an agent
//! *could* take a queue's calls (online, not DND, opted in) is apart from whether they are
//! *free now* (idle: not ringing, on a call, in wrap-up or busy elsewhere).
//!
//! Where an agent is rung is not kept here: the driver resolves contacts when it rings, and
//! tells the engine whether the agent is online (has somewhere to ring, or is signed in).

use std::collections::BTreeSet;

use crate::time::Time;

use super::spec::QueueSpec;
use super::types::{Activity, AgentId, QueueId};

#[derive(Debug)]
pub(crate) struct Agent {
    pub id: AgentId,
    /// Set by the driver; an offline agent is never rung.
    pub online: bool,
    pub dnd: bool,
    /// Queues the agent opted out of (effective only where the queue allows opt-out).
    pub opted_out: BTreeSet<QueueId>,
    /// On a call the engine did not offer.
    pub busy_elsewhere: bool,
    pub activity: Activity,
    /// Since when the agent has been free of calls (for longest-idle routing).
    pub idle_since: Time,
    /// Queues the agent is a member of, in no particular order.
    pub queues: BTreeSet<QueueId>,
}

impl Agent {
    pub fn new(id: AgentId, online: bool) -> Self {
        Agent {
            id,
            online,
            dnd: false,
            opted_out: BTreeSet::new(),
            busy_elsewhere: false,
            activity: Activity::Idle,
            idle_since: Time::ZERO,
            queues: BTreeSet::new(),
        }
    }

    /// Whether the agent takes calls of `queue` at all: online, not DND, not opted out (when
    /// the queue allows opting out). Busy agents still count: they will be free again.
    pub fn serves<T>(&self, queue: &QueueSpec<T>) -> bool {
        self.online && !self.dnd && !(queue.allow_opt_out && self.opted_out.contains(&queue.id))
    }

    /// Whether the agent may be rung now for a call of `queue`.
    pub fn offerable<T>(&self, queue: &QueueSpec<T>) -> bool {
        self.serves(queue) && self.activity == Activity::Idle && !self.busy_elsewhere
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::super::spec::{OnNoAgents, OnOverflow, OnTimeout};
    use super::super::types::{OfferMode, Routing};
    use super::*;

    fn queue(allow_opt_out: bool) -> QueueSpec<()> {
        QueueSpec {
            id: QueueId("demo".into()),
            name: "Demo".into(),
            has_greeting: false,
            routing: Routing::Attendant,
            offer: OfferMode::Head,
            members: vec![AgentId::from("a")],
            allow_opt_out,
            agent_alert_time: Duration::from_secs(30),
            wrap_up: Duration::ZERO,
            max_calls: 50,
            on_overflow: OnOverflow::Busy,
            max_wait: Duration::from_secs(1200),
            on_timeout: OnTimeout::Disconnect,
            no_agents: OnNoAgents::Queue,
        }
    }

    fn agent() -> Agent {
        Agent::new(AgentId::from("a"), true)
    }

    #[test]
    fn offline_agent_serves_no_queue() {
        let a = Agent::new(AgentId::from("x"), false);
        assert!(!a.serves(&queue(true)));
    }

    #[test]
    fn opt_out_counts_only_where_the_queue_allows_it() {
        let mut a = agent();
        a.opted_out.insert(QueueId("demo".into()));
        assert!(!a.serves(&queue(true)));
        assert!(a.serves(&queue(false)));
    }

    #[test]
    fn busy_or_ringing_agent_serves_but_is_not_offerable() {
        let q = queue(true);
        let mut a = agent();
        a.busy_elsewhere = true;
        assert!(a.serves(&q) && !a.offerable(&q));
        a.busy_elsewhere = false;
        a.activity = Activity::WrapUp(Time::from_millis(5));
        assert!(!a.offerable(&q));
    }
}
