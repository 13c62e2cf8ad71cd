//! Finding the dialog a `Replaces` names (RFC 3891 §3), for an agent's attended transfer
//! (REFER with `Refer-To: <…?Replaces=…>`, RFC 5589 §7) and for an INVITE that carries the
//! header. Which dialog may be replaced, and by what, is the switch's decision; this file
//! only matches ids and answers the INVITE.

use std::net::IpAddr;

use crate::sip::header::HeaderName;
use crate::sip::message::Request;
use crate::sip::replaces::{self, Replaces};
use crate::sip::transaction::ServerTxId;
use crate::time::Time;

use super::call::CallHandle;
use super::{DialogRef, LegHandle, Legs};

/// A holdline dialog a `Replaces` matched, and what the decision needs of it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Replaced {
    /// A caller's dialog (holdline is its UAS). `early`: no final response sent yet.
    Caller {
        call: CallHandle,
        early: bool,
        /// The address the caller's INVITE came from (its signalling flow).
        peer: IpAddr,
    },
    /// An agent leg (holdline is its UAC). `early`: not answered yet.
    Agent {
        leg: LegHandle,
        early: bool,
        peer: IpAddr,
    },
}

impl Replaced {
    /// The address of the party at the far end of the dialog.
    pub fn peer(&self) -> IpAddr {
        match *self {
            Replaced::Caller { peer, .. } | Replaced::Agent { peer, .. } => peer,
        }
    }
}

impl Legs {
    /// The dialog `r` names, matched on its Call-ID and both tags (RFC 3891 §3). The tags are
    /// taken in either order: a phone names the dialog from its side, and which tag is "to"
    /// depends on who sent the dialog's INVITE, which the phone may see differently from us.
    /// An early agent leg has no remote tag yet; its local tag and Call-ID must match.
    pub(crate) fn replaced_dialog(&self, r: &Replaces) -> Option<Replaced> {
        for (ours, theirs) in [(&r.to_tag, &r.from_tag), (&r.from_tag, &r.to_tag)] {
            let found = self.dialogs.get(&(r.call_id.clone(), ours.clone()));
            match found {
                Some(&DialogRef::Caller(call)) => {
                    let Some(c) = self.callers.calls.get(&call) else {
                        continue;
                    };
                    if c.dialog.remote_tag() != Some(theirs.as_str()) {
                        continue;
                    }
                    return Some(Replaced::Caller {
                        call,
                        early: c.is_ringing(),
                        peer: c.flow.addr.ip(),
                    });
                }
                Some(&DialogRef::Agent(leg)) => {
                    let Some(l) = self.agents.legs.get(&leg) else {
                        continue;
                    };
                    let dialog = l.state.dialog();
                    if dialog.is_some_and(|d| d.remote_tag() != Some(theirs.as_str())) {
                        continue;
                    }
                    return Some(Replaced::Agent {
                        leg,
                        early: dialog.is_none(),
                        peer: l.dest.addr.ip(),
                    });
                }
                None => {}
            }
        }
        None
    }

    /// The address of the phone at the far end of an agent leg.
    pub(crate) fn leg_peer(&self, leg: LegHandle) -> Option<IpAddr> {
        self.agents.legs.get(&leg).map(|l| l.dest.addr.ip())
    }

    /// An INVITE outside any dialog that carries `Replaces` (RFC 3891 §3): holdline does not
    /// let a new INVITE take a dialog over (its callers are connected by the switch, and an
    /// agent's attended transfer is a REFER). `None` when the INVITE has no such header;
    /// otherwise the status it was answered with: 400 for a malformed value, 481 when no
    /// dialog matches (§3: "If no match is found, the UAS rejects the INVITE and returns a
    /// 481"), 603 Declined when one does (§3 lets the UAS decline by local policy).
    pub(super) fn refuse_replacing_invite(
        &mut self,
        now: Time,
        tx: ServerTxId,
        req: &Request,
    ) -> Option<u16> {
        let name = HeaderName::from_wire("Replaces");
        let values: Vec<&str> = req.headers.get_all(&name).collect();
        if values.is_empty() {
            return None;
        }
        let status = match values.as_slice() {
            [one] => match replaces::parse(one) {
                Ok(r) => match self.replaced_dialog(&r) {
                    Some(_) => 603,
                    None => 481,
                },
                Err(_) => 400,
            },
            // RFC 3891 §3: more than one Replaces is a 400.
            _ => 400,
        };
        tracing::info!(status, "INVITE with Replaces refused");
        let resp = self.response(req, status, None);
        self.respond(now, tx, resp);
        Some(status)
    }
}
