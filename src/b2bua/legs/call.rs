//! One caller's dialog as seen by holdline's UAS: the §12 dialog, offer/answer state, who
//! is calling and where in its life the call is.
//!
//! ```text
//!  INVITE ──► Ringing ──(answer)──► Answered ──(ACK)──► Confirmed
//!               │ CANCEL / shutdown    │ BYE / no ACK         │ BYE either way
//!               ▼                      ▼                      ▼
//!            (gone, 487/480)        Ending (our BYE) ──► (gone)
//! ```

use std::net::{IpAddr, SocketAddr};

use crate::config::QueueId;
use crate::sip::dialog::Dialog;
use crate::sip::message::Request;
use crate::sip::sdp::{LocalSession, SessionDescription};
use crate::sip::transaction::ServerTxId;
use crate::sip::transport::Peer;
use crate::sip::uri::Uri;
use crate::time::Time;

/// holdline's own handle for a call (the SIP Call-ID is the peer's and may repeat).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CallHandle(pub u64);

/// Where a call is in its life. Each state holds what only it needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CallState {
    /// No final response yet (perhaps 180 sent); answered when the switch says so.
    Ringing(Box<Ringing>),
    /// 200 sent, ACK not yet received (the transaction layer retransmits the 200).
    Answered,
    /// ACK received: the call is up.
    Confirmed,
    /// We sent BYE and wait for its response.
    Ending,
}

/// A call before its final response: the INVITE's server transaction, the INVITE (the
/// final response is built from it) and our SDP answer prepared for the 200.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ringing {
    pub invite_tx: ServerTxId,
    pub invite: Request,
    pub answer: Option<SessionDescription>,
}

/// A call's dialog in three words: before the final response, up, or ending (our BYE).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    Ringing,
    Up,
    Ending,
}

/// A re-INVITE or UPDATE we answered with an offer: the answer comes in the ACK.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PendingOffer {
    pub cseq: u32,
}

/// Who is calling, as agents are shown it.
#[derive(Clone, Debug)]
pub struct Caller {
    /// The caller's display name and URI: a trunk's P-Asserted-Identity (RFC 3325), else
    /// From.
    pub display: Option<String>,
    pub uri: Option<Uri>,
    /// The Request-URI the caller dialled (for History-Info to agents, Referred-By).
    pub dialled: Uri,
    /// The caller's INVITE listed REFER in Allow.
    pub allows_refer: bool,
    /// The caller's `Privacy` (RFC 3323), kept from a trunk only and passed on with the
    /// asserted identity (RFC 3325 §9.3).
    pub privacy: Option<String>,
}

/// The caller's media: our side of offer/answer and the port we receive on.
#[derive(Debug)]
pub struct CallMedia {
    pub sdp: LocalSession,
    pub rtp_port: u16,
    /// Our offer (in a 2xx) awaiting the caller's answer in the ACK.
    pub pending_offer: Option<PendingOffer>,
}

/// One caller dialog.
#[derive(Debug)]
pub struct Call {
    pub handle: CallHandle,
    /// The service the caller dialled.
    pub queue: QueueId,
    pub dialog: Dialog,
    /// The flow the INVITE came on; in-dialog requests go back on it (symmetric signalling
    /// through NAT, RFC 3581 spirit).
    pub flow: Peer,
    /// The local address the INVITE reached; Contact and Via are derived from it.
    pub local: SocketAddr,
    pub state: CallState,
    pub media: CallMedia,
    pub caller: Caller,
    pub span: tracing::Span,
    /// The address the INVITE came from, while the call counts against its unconfirmed
    /// quota (ringing or answered, not ACKed yet): see [`super::Legs::unconfirmed_from`].
    pub unconfirmed_from: Option<IpAddr>,
    /// When the INVITE arrived.
    pub started: Time,
    /// The RFC 4028 session timer agreed for this dialog, if any.
    pub session: Option<super::session_timer::SessionTimer>,
}

impl Call {
    /// Where the dialog is, as the admin API shows it.
    pub fn phase(&self) -> Phase {
        match self.state {
            CallState::Ringing(_) => Phase::Ringing,
            CallState::Answered | CallState::Confirmed => Phase::Up,
            CallState::Ending => Phase::Ending,
        }
    }

    /// Whether a final response to the initial INVITE has been sent.
    pub fn is_ringing(&self) -> bool {
        matches!(self.state, CallState::Ringing(_))
    }

    /// Leaves the ringing state for `next`, handing back what it held; `None` (and no change)
    /// when the call is past it.
    pub fn stop_ringing(&mut self, next: CallState) -> Option<Ringing> {
        if !self.is_ringing() {
            return None;
        }
        match std::mem::replace(&mut self.state, next) {
            CallState::Ringing(ringing) => Some(*ringing),
            _ => None,
        }
    }
}
