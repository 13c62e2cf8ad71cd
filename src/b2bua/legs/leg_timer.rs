//! Session timers (RFC 4028) on agent and forward legs, where holdline is the UAC: our
//! INVITE asks for `session_expires` (§7.1), the 2xx decides the interval and the refresher
//! (§7.2), and then, as on callers' dialogs, we refresh at half the interval or end the leg
//! with BYE when the far end's refresh does not come (§10). Our re-INVITE answered 491 is
//! retried after 2.1–4 s: we generated the leg's Call-ID (RFC 3261 §14.1).

use crate::sip::header::HeaderName;
use crate::sip::message::{Request, Response};
use crate::sip::method::Method;
use crate::sip::transaction::ClientTxId;
use crate::time::Time;

use super::agent::{LegHandle, LegState};
use super::session_timer::{delta_and_refresher, glare_retry_delay, SessionTimer};
use super::Legs;

impl Legs {
    /// §7.1: what our INVITE says about session timers.
    pub(super) fn add_uac_session_headers(&self, invite: &mut Request) {
        let cfg = self.endpoint.session_timer;
        invite.headers.push(HeaderName::Supported, "timer");
        invite
            .headers
            .push(HeaderName::SessionExpires, cfg.session_expires.to_string());
        invite
            .headers
            .push(HeaderName::MinSe, cfg.min_se.to_string());
    }

    /// §7.2: the 2xx to our INVITE states the session timer, if any: `refresher=uac` (or none
    /// named) makes us the refresher.
    pub(super) fn start_leg_timer(&mut self, now: Time, leg: LegHandle, resp: &Response) {
        let Some((secs, uac)) = resp
            .headers
            .get(&HeaderName::SessionExpires)
            .and_then(delta_and_refresher)
        else {
            return;
        };
        let cfg = self.endpoint.session_timer;
        let Some(l) = self.agents.legs.get_mut(&leg) else {
            return;
        };
        l.session = Some(SessionTimer {
            // Below the §4 floor is not a timer we can keep; hold it to our minimum.
            interval: secs.max(cfg.min_se),
            we_refresh: uac.unwrap_or(true),
            peer_supports: true,
            peer_allows_update: resp
                .headers
                .list(&HeaderName::Allow)
                .any(|m| m.trim().eq_ignore_ascii_case("UPDATE")),
            min_se: cfg.min_se,
            due: None,
            in_flight: None,
        });
        self.arm_leg_timer(now, leg);
    }

    /// Starts (or restarts, after a refresh either way) `leg`'s session timer at `now`.
    pub(super) fn arm_leg_timer(&mut self, now: Time, leg: LegHandle) {
        let Some(timer) = self
            .agents
            .legs
            .get_mut(&leg)
            .and_then(|l| l.session.as_mut())
        else {
            return;
        };
        let at = now + timer.next_after();
        self.leg_session_due.set(&mut timer.due, at, leg);
    }

    pub(super) fn poll_leg_timeout(&self) -> Option<Time> {
        self.leg_session_due.next()
    }

    /// Fires the legs' session timers due at `now`.
    pub(super) fn fire_leg_timers(&mut self, now: Time) {
        while let Some((at, leg)) = self.leg_session_due.pop_due(now) {
            let Some(l) = self.agents.legs.get(&leg) else {
                continue;
            };
            let Some(timer) = &l.session else {
                continue;
            };
            if timer.due != Some(at) || !matches!(l.state, LegState::Answered(_)) {
                continue;
            }
            if timer.we_refresh {
                self.send_leg_refresh(now, leg);
            } else {
                tracing::info!(
                    interval = timer.interval,
                    "leg session timer expired; hanging up"
                );
                self.send_leg_bye(now, leg);
            }
        }
    }

    /// Our refresh on a leg (§7.4): UPDATE without a body when the far end allows it, else a
    /// re-INVITE with our SDP unchanged.
    fn send_leg_refresh(&mut self, now: Time, leg: LegHandle) {
        let Some(l) = self.agents.legs.get(&leg) else {
            return;
        };
        let Some(timer) = l.session.clone() else {
            return;
        };
        let body = l.sdp.last_sent().cloned();
        let use_update = timer.peer_allows_update || body.is_none();
        let method = if use_update {
            Method::Update
        } else {
            Method::Invite
        };
        let dest = l.dest;
        let local = self.listener(dest.transport);
        let contact = self.contact(dest.transport, local, None);
        let mut headers = vec![
            (HeaderName::Contact, contact),
            (HeaderName::SessionExpires, timer.header_uac()),
            (HeaderName::MinSe, timer.min_se.to_string()),
            (HeaderName::Supported, "timer".to_owned()),
        ];
        let body = match (use_update, body) {
            (false, Some(sdp)) => {
                headers.push((HeaderName::ContentType, "application/sdp".to_owned()));
                sdp.to_bytes()
            }
            _ => Vec::new(),
        };
        match self.send_leg_request(now, leg, method, headers, body) {
            Some(id) => {
                if let Some(t) = self
                    .agents
                    .legs
                    .get_mut(&leg)
                    .and_then(|l| l.session.as_mut())
                {
                    t.in_flight = Some((id, !use_update));
                    t.due = None;
                }
                self.agents.refreshes.insert(id, leg);
            }
            None => self.send_leg_bye(now, leg),
        }
    }

    /// A response to our refresh on a leg.
    pub(super) fn on_leg_refresh_response(
        &mut self,
        now: Time,
        tx: ClientTxId,
        leg: LegHandle,
        resp: &Response,
    ) {
        if resp.is_provisional() {
            return;
        }
        let is_invite = resp
            .headers
            .cseq()
            .is_some_and(|cs| cs.method == Method::Invite);
        if (200..300).contains(&resp.status) && is_invite {
            // §13.2.2.4: every 2xx to our re-INVITE is ACKed.
            let cseq = resp.headers.cseq().map_or(0, |cs| cs.seq);
            let Some(dest) = self.agents.legs.get(&leg).map(|l| l.dest) else {
                return;
            };
            let local = self.listener(dest.transport);
            let via = self.new_via(&dest, local);
            if let Some(LegState::Answered(d)) = self.agents.legs.get(&leg).map(|l| &l.state) {
                let ack = d.ack(cseq, &via);
                self.tx.send_ack(&ack, dest);
            }
        }
        let Some(timer) = self
            .agents
            .legs
            .get_mut(&leg)
            .and_then(|l| l.session.as_mut())
        else {
            return;
        };
        if timer.in_flight.map(|(id, _)| id) != Some(tx) {
            return;
        }
        timer.in_flight = None;
        match resp.status {
            200..=299 => {
                if let Some((secs, uac)) = resp
                    .headers
                    .get(&HeaderName::SessionExpires)
                    .and_then(delta_and_refresher)
                {
                    timer.interval = secs.max(timer.min_se);
                    timer.we_refresh = uac.unwrap_or(true);
                }
                self.arm_leg_timer(now, leg);
            }
            491 => {
                // RFC 3261 §14.1: we generated this leg's Call-ID: 2.1–4 s.
                let at = now + glare_retry_delay(true, &mut self.rng);
                self.leg_session_due.set(&mut timer.due, at, leg);
            }
            408 | 481 => self.send_leg_bye(now, leg),
            _ if timer.peer_allows_update && !is_invite => {
                timer.peer_allows_update = false;
                self.leg_session_due.set(&mut timer.due, now, leg);
            }
            _ => self.arm_leg_timer(now, leg),
        }
    }

    /// Our refresh on a leg got no final response: the far end is gone (§10).
    pub(super) fn leg_refresh_failed(&mut self, now: Time, tx: ClientTxId) {
        let Some(leg) = self.agents.refreshes.remove(&tx) else {
            return;
        };
        if let Some(t) = self
            .agents
            .legs
            .get_mut(&leg)
            .and_then(|l| l.session.as_mut())
        {
            t.in_flight = None;
        }
        self.send_leg_bye(now, leg);
    }

    /// A refresh from the far end of a leg (re-INVITE or UPDATE answered 2xx): its timer
    /// restarts, and the 2xx states it (§9).
    pub(super) fn leg_refreshed(
        &mut self,
        now: Time,
        leg: LegHandle,
        req: &Request,
        resp: &mut Response,
    ) {
        let Some(timer) = self
            .agents
            .legs
            .get_mut(&leg)
            .and_then(|l| l.session.as_mut())
        else {
            return;
        };
        if let Some((secs, uac)) = req
            .headers
            .get(&HeaderName::SessionExpires)
            .and_then(delta_and_refresher)
        {
            timer.interval = secs.max(timer.min_se);
            // The far end is the UAC of its refresh: refresher=uac names it.
            timer.we_refresh = uac == Some(false);
        }
        // We are the UAS of the far end's refresh.
        resp.headers
            .push(HeaderName::SessionExpires, timer.header());
        resp.headers.push(HeaderName::Require, "timer");
        self.arm_leg_timer(now, leg);
    }
}
