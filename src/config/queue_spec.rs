//! The configuration in the queue engine's vocabulary: a `[[queue]]` as a [`QueueSpec`], users
//! as agents.
//!
//! The engine owns its types and never reads the configuration (DESIGN.md §2: `config → queue`,
//! never the other way). What it does not decide stays out of the spec: the greeting and music
//! files, the answer delay and users' contacts are the b2bua's. A forward to another queue
//! becomes the engine's own [`ForwardTo::Queue`]; every other target stays a [`Target`], opaque
//! to the engine, which hands it back when the call leaves.

use crate::queue::spec::{ForwardTo, OnNoAgents, OnOverflow, OnTimeout, QueueSpec};
use crate::queue::types::AgentId;

use super::model::{NoAgentsAction, OverflowAction, Queue, Target, TimeoutAction, UserId};

impl From<&Queue> for QueueSpec<Target> {
    fn from(q: &Queue) -> Self {
        QueueSpec {
            id: q.id.clone(),
            name: q.name.clone(),
            has_greeting: q.greeting.is_some(),
            routing: q.routing,
            offer: q.offer,
            members: q.members.iter().map(AgentId::from).collect(),
            allow_opt_out: q.allow_opt_out,
            agent_alert_time: q.agent_alert_time,
            wrap_up: q.wrap_up,
            max_calls: q.max_calls,
            on_overflow: match &q.on_overflow {
                OverflowAction::Busy => OnOverflow::Busy,
                OverflowAction::Forward(t) => OnOverflow::Forward(forward_to(t)),
            },
            max_wait: q.max_wait,
            on_timeout: match &q.on_timeout {
                TimeoutAction::Disconnect => OnTimeout::Disconnect,
                TimeoutAction::Forward(t) => OnTimeout::Forward(forward_to(t)),
            },
            no_agents: match &q.no_agents {
                NoAgentsAction::Queue => OnNoAgents::Queue,
                NoAgentsAction::Disconnect => OnNoAgents::Disconnect,
                NoAgentsAction::Forward(t) => OnNoAgents::Forward(forward_to(t)),
            },
        }
    }
}

/// A queue target moves the call inside the engine; any other leaves it.
fn forward_to(target: &Target) -> ForwardTo<Target> {
    match target {
        Target::Queue(q) => ForwardTo::Queue(q.clone()),
        other => ForwardTo::Elsewhere(other.clone()),
    }
}

/// Users are the agents.
impl From<&UserId> for AgentId {
    fn from(u: &UserId) -> Self {
        AgentId(u.0.clone())
    }
}

impl From<&AgentId> for UserId {
    fn from(a: &AgentId) -> Self {
        UserId(a.0.clone())
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    #[test]
    fn queue_forwards_stay_inside_the_engine_and_others_are_handed_back() {
        let config = super::super::from_toml_str(
            r#"
            [[user]]
            id = "amos"
            [[queue]]
            id = "sales"
            greeting = "hello.wav"
            agents = ["amos"]
            on_overflow = { action = "forward", to = "queue:support" }
            on_timeout = { action = "forward", to = "user:amos" }
            no_agents = { action = "disconnect" }
            [[queue]]
            id = "support"
            "#,
            Path::new("/srv"),
        )
        .expect("config");
        let spec = QueueSpec::from(&config.queues[0]);
        assert!(spec.has_greeting);
        assert_eq!(spec.members, [AgentId::from("amos")]);
        assert_eq!(
            spec.on_overflow,
            OnOverflow::Forward(ForwardTo::Queue(super::super::QueueId("support".into())))
        );
        assert_eq!(
            spec.on_timeout,
            OnTimeout::Forward(ForwardTo::Elsewhere(Target::User(UserId("amos".into()))))
        );
        assert_eq!(spec.no_agents, OnNoAgents::Disconnect);
        assert!(!QueueSpec::from(&config.queues[1]).has_greeting);
    }
}
