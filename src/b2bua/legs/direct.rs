//! INVITEs that reach no service: the core decides what they are (a user calling another
//! user, a feature code, or nothing: 404) after authenticating the caller (RFC 3261 §22.3).
//! The legs keep the transaction and the To tag meanwhile, so whatever the answer is, it goes
//! through the server transaction (retransmissions absorbed, §17.2.1).

use std::net::SocketAddr;

use crate::config::QueueId;
use crate::sip::header::HeaderName;
use crate::sip::message::Request;
use crate::sip::transaction::ServerTxId;
use crate::sip::transport::Peer;
use crate::time::Time;

use super::call::CallHandle;
use super::Legs;

/// An INVITE for no service, waiting for the core's decision.
#[derive(Debug)]
pub(crate) struct PendingInvite {
    pub tx: ServerTxId,
    pub req: Request,
    pub from: Peer,
    pub local: SocketAddr,
    /// Our To tag for every response to it.
    pub tag: String,
    /// The SRTP policy of the user the core authenticated (`None`: by source).
    pub srtp: Option<crate::sip::sdp::SrtpPolicy>,
}

impl Legs {
    /// The next INVITE for the core to decide on.
    pub fn poll_invite(&mut self) -> Option<PendingInvite> {
        self.out.invites.pop_front()
    }

    /// Refuses a pending INVITE with `status` and `headers` (404, 403, 480, a 407 challenge).
    pub fn refuse_invite(
        &mut self,
        now: Time,
        invite: PendingInvite,
        status: u16,
        headers: Vec<(HeaderName, String)>,
    ) {
        let mut resp = self.response(&invite.req, status, Some(&invite.tag));
        for (name, value) in headers {
            resp.headers.push(name, value);
        }
        self.respond(now, invite.tx, resp);
    }

    /// Takes a pending INVITE as a call (ringing, not answered), named `label` where a
    /// queue's call names its queue (the calls listing, logs). `None` when it was refused
    /// (its SDP, no RTP port: already answered).
    pub fn open_direct(
        &mut self,
        now: Time,
        invite: PendingInvite,
        label: QueueId,
    ) -> Option<CallHandle> {
        let PendingInvite {
            tx,
            req,
            from,
            local,
            tag,
            srtp,
        } = invite;
        self.open_call(now, tx, req, from, local, tag, &label, srtp)
            .map(|(handle, _)| handle)
    }
}
