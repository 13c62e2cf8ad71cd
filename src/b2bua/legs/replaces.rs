//! Finding the dialog a `Replaces` names (RFC 3891 §3), for an agent's attended transfer
//! (REFER with `Refer-To: <…?Replaces=…>`, RFC 5589 §7) and for an INVITE that carries the
//! header (a caller's side that transferred the caller elsewhere: the new party takes the
//! caller's place). What the new call is connected to is the switch's business; this file
//! matches ids, refuses what may not replace, and reports the rest.

use std::net::{IpAddr, SocketAddr};

use crate::sip::header::HeaderName;
use crate::sip::message::Request;
use crate::sip::replaces::{self, Replaces};
use crate::sip::transaction::ServerTxId;
use crate::sip::transport::Peer;
use crate::sip::uri::Uri;
use crate::time::Time;

use super::call::CallHandle;
use super::{DialogRef, Inbound, LegEvent, LegHandle, Legs};

/// An INVITE with Replaces, decided.
pub(super) enum Replacing {
    /// Answered already (refused).
    Refused,
    /// It takes the place of caller `call`, whose INVITE dialled `dialled`.
    Takes { call: CallHandle, dialled: Uri },
}

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

    /// What to do with an INVITE outside any dialog that carries `Replaces` (RFC 3891 §3).
    /// `None`: it has none, an ordinary INVITE. Otherwise the INVITE was answered here (400
    /// for a malformed value or more than one; 481 when no dialog matches, when the match is
    /// early — §3: a UAS answers 481 for an early dialog it did not initiate — or when the
    /// INVITE comes from another address than the replaced caller's, so a stranger learns
    /// nothing of other calls (§6 asks for the replacer to be authorized); 486 for
    /// `early-only` on a confirmed dialog; 603 Declined for an agent leg, by policy: holdline
    /// placed it), or it takes a caller's place: [`Replacing::Takes`].
    pub(super) fn replacing_invite(
        &mut self,
        now: Time,
        tx: ServerTxId,
        req: &Request,
        from: IpAddr,
    ) -> Option<Replacing> {
        let name = HeaderName::from_wire("Replaces");
        let values: Vec<&str> = req.headers.get_all(&name).collect();
        if values.is_empty() {
            return None;
        }
        let status = match values.as_slice() {
            [one] => match replaces::parse(one) {
                Ok(r) => match self.replaced_dialog(&r) {
                    Some(Replaced::Caller {
                        call,
                        early: false,
                        peer,
                    }) if peer == from => match r.early_only {
                        true => 486,
                        false => {
                            let uri = self
                                .callers
                                .calls
                                .get(&call)
                                .map(|c| c.caller.dialled.clone());
                            match uri {
                                Some(dialled) => return Some(Replacing::Takes { call, dialled }),
                                None => 481,
                            }
                        }
                    },
                    Some(Replaced::Agent { peer, .. }) if peer == from => 603,
                    _ => 481,
                },
                Err(_) => 400,
            },
            // RFC 3891 §3: more than one Replaces is a 400.
            _ => 400,
        };
        tracing::info!(status, "INVITE with Replaces refused");
        let resp = self.response(req, status, None);
        self.respond(now, tx, resp);
        Some(Replacing::Refused)
    }

    /// An INVITE with Replaces that takes caller `replaced`'s place: it goes through the
    /// checks of any INVITE to the service `replaced` dialled (its Request-URI may be our
    /// Contact), and instead of arriving in a queue it is reported as
    /// [`LegEvent::CallerReplaces`]; the switch answers it and hands it the old call's place.
    #[allow(clippy::too_many_arguments)] // the INVITE's own inputs, passed on to on_invite
    pub(super) fn on_replacing_invite(
        &mut self,
        now: Time,
        tx: ServerTxId,
        mut req: Request,
        from: Peer,
        local: SocketAddr,
        inbound: Inbound<'_>,
        replaced: CallHandle,
        dialled: Uri,
    ) {
        req.uri = dialled;
        // Read as `on_invite` will read it (a trunk's number with the trunk's rules, its To
        // when the Request-URI names no service), so a trunk's call in national form counts.
        if crate::b2bua::inbound::service_of_request(inbound.directory, inbound.trunk, &req)
            .is_none()
        {
            // The replaced call is not a service's (a user's call to a user): no place in a
            // queue to take over; declined by policy (RFC 3891 §3).
            let resp = self.response(&req, 603, None);
            return self.respond(now, tx, resp);
        }
        self.on_invite(now, tx, req, from, local, inbound);
        if let Some(LegEvent::CallerArrived { call, .. }) = self.out.events.back() {
            let call = *call;
            if call != replaced {
                self.out.events.pop_back();
                self.out
                    .events
                    .push_back(LegEvent::CallerReplaces { call, replaced });
            }
        }
    }
}
