//! One caller's dialog as seen by holdline's UAS (RFC 3261 §12): identifiers, route set, CSeq
//! counters, offer/answer state and where in its life the call is.
//!
//! ```text
//!  INVITE ──► Ringing ──(answer)──► Answered ──(ACK)──► Confirmed
//!               │ CANCEL / shutdown    │ BYE / no ACK         │ BYE either way
//!               ▼                      ▼                      ▼
//!            (gone, 487/480)        Ending (our BYE) ──► (gone)
//! ```

use std::fmt::Write as _;
use std::net::SocketAddr;

use crate::config::QueueId;
use crate::sip::header::HeaderName;
use crate::sip::message::Request;
use crate::sip::method::Method;
use crate::sip::sdp::{LocalSession, SessionDescription};
use crate::sip::transaction::ServerTxId;
use crate::sip::transport::Peer;
use crate::sip::uri::Uri;
use crate::time::Time;

/// holdline's own handle for a call (the SIP Call-ID is the peer's and may repeat).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CallHandle(pub u64);

/// Where a call is in its life.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CallState {
    /// 180 sent; answered at `answer_at` unless cancelled first.
    Ringing {
        invite_tx: ServerTxId,
        answer_at: Time,
    },
    /// 200 sent, ACK not yet received (the transaction layer retransmits the 200).
    Answered,
    /// ACK received: the call is up.
    Confirmed,
    /// We sent BYE and wait for its response.
    Ending,
}

/// A re-INVITE or UPDATE we answered with an offer: the answer comes in the ACK.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PendingOffer {
    pub cseq: u32,
}

/// One caller dialog.
#[derive(Debug)]
pub struct Call {
    pub handle: CallHandle,
    pub queue: QueueId,
    pub call_id: String,
    /// Our To tag.
    pub local_tag: String,
    /// The To header value of the INVITE with our tag added: our side's identity (§12.1.1).
    pub local_party: String,
    /// The From header value of the INVITE (with the caller's tag), copied verbatim.
    pub remote_party: String,
    /// The caller's Contact (remote target, §12.1.1), refreshed by re-INVITE (§12.2.2).
    pub remote_target: Uri,
    /// Record-Route values of the INVITE, in order (§12.1.1: the UAS keeps their order).
    pub route_set: Vec<String>,
    /// The flow the INVITE came on; in-dialog requests go back on it (symmetric signalling
    /// through NAT, RFC 3581 spirit).
    pub flow: Peer,
    pub remote_cseq: u32,
    pub local_cseq: u32,
    pub state: CallState,
    pub sdp: LocalSession,
    pub rtp_port: u16,
    /// Our offer (in a 2xx) awaiting the caller's answer in the ACK.
    pub pending_offer: Option<PendingOffer>,
    /// The initial INVITE and our prepared SDP answer, kept while ringing so the delayed 200
    /// can be built from them.
    pub ring: Option<(Request, Option<SessionDescription>)>,
    /// The local address the INVITE reached; Contact and Via are derived from it.
    pub local: SocketAddr,
    pub span: tracing::Span,
    /// The caller's display name and URI (From, or P-Asserted-Identity from a trusted trunk
    /// later), shown to agents.
    pub caller_display: Option<String>,
    pub caller_uri: Option<Uri>,
    /// The Request-URI the caller dialled (for History-Info to agents).
    pub dialled: Uri,
    /// The agent leg this caller is bridged to.
    pub bridged: Option<crate::b2bua::LegHandle>,
    /// The caller's INVITE listed REFER in Allow.
    pub allows_refer: bool,
    /// When the INVITE arrived.
    pub started: Time,
}

impl Call {
    /// A request inside this dialog from our side (§12.2.1.1): Request-URI = remote target,
    /// Route = route set, From/To = local/remote parties, the next local CSeq, a fresh Via.
    pub fn request(&mut self, method: Method, via: &str) -> Request {
        self.local_cseq += 1;
        let mut req = Request::new(method.clone(), self.remote_target.clone());
        let h = &mut req.headers;
        h.push(HeaderName::Via, via);
        for route in &self.route_set {
            h.push(HeaderName::Route, route.clone());
        }
        h.push(HeaderName::MaxForwards, "70");
        h.push(HeaderName::From, self.local_party.clone());
        h.push(HeaderName::To, self.remote_party.clone());
        h.push(HeaderName::CallId, self.call_id.clone());
        let mut cseq = String::new();
        let _ = write!(cseq, "{} {}", self.local_cseq, method);
        h.push(HeaderName::CSeq, cseq);
        req
    }

    /// Whether a final response to the initial INVITE has been sent.
    pub fn is_ringing(&self) -> bool {
        matches!(self.state, CallState::Ringing { .. })
    }
}
