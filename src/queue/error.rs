//! Errors of the queue engine's inputs. None is fatal: each says which input did not apply
//! (usually a race the driver resolves by hanging up a leg) and the engine state is unchanged.

use thiserror::Error;

use super::types::{AgentId, CallId, QueueId};

#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum QueueError {
    /// No such queue, or it was removed: new calls cannot enter it.
    #[error("queue {queue} does not exist")]
    UnknownQueue { queue: QueueId },
    /// The call ended or never existed (a late hang-up or outcome).
    #[error("{call} is not in the engine")]
    UnknownCall { call: CallId },
    #[error("agent {agent} is not known")]
    UnknownAgent { agent: AgentId },
    /// The agent is not (or no longer) being offered this call: the call was taken by another
    /// agent, ended, or the ring was canceled. On an answer the driver hangs up the agent's leg.
    #[error("agent {agent} is not ringing for {call}")]
    NotRinging { call: CallId, agent: AgentId },
    /// The agent is not on a call the engine connected.
    #[error("agent {agent} is not on a queue call")]
    NotOnCall { agent: AgentId },
    /// The call is not connected to an agent (for a transfer).
    #[error("{call} is not connected to an agent")]
    NotConnected { call: CallId },
}
