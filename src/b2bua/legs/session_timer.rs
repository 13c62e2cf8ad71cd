//! Session timers on caller dialogs (RFC 4028): the interval and refresher agreed in the
//! INVITE's 2xx, our refreshes when we are the refresher (UPDATE without a body when the
//! caller allows UPDATE, else a re-INVITE with the SDP we last sent), and BYE when the
//! caller is the refresher and its refresh does not come. Re-INVITE glare on our refresh is
//! handled as RFC 3261 §14.1 says.

use std::time::Duration;

use rand::Rng;

use crate::config::SessionTimerConfig;
use crate::sip::header::HeaderName;
use crate::sip::message::{Request, Response};
use crate::sip::method::Method;
use crate::sip::transaction::ClientTxId;
use crate::time::Time;

use super::call::{CallHandle, CallState};
use super::Legs;

/// What a caller dialog agreed on (RFC 4028 §9), and where its timer stands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionTimer {
    /// The session interval, seconds.
    pub interval: u32,
    /// Whether holdline (the UAS) refreshes; else the caller does.
    pub we_refresh: bool,
    /// The caller's INVITE said `Supported: timer`: our 2xx carries `Require: timer` (§9).
    pub peer_supports: bool,
    /// The caller's INVITE listed UPDATE in Allow: we refresh with UPDATE (§7.4 prefers it).
    pub peer_allows_update: bool,
    /// The larger of the caller's Min-SE and ours, sent in our refreshes (§7.4).
    pub min_se: u32,
    /// When the timer next fires: our refresh, or the expiry of the caller's.
    pub due: Option<Time>,
    /// Our refresh in flight, and whether it carried an offer (a re-INVITE with SDP).
    pub in_flight: Option<(ClientTxId, bool)>,
}

impl SessionTimer {
    /// `Session-Expires` for a 2xx of ours (we are the UAS of the transaction; §9: the
    /// refresher is always stated).
    pub fn header(&self) -> String {
        let refresher = if self.we_refresh { "uas" } else { "uac" };
        format!("{};refresher={refresher}", self.interval)
    }

    /// `Session-Expires` for a refresh request of ours (we are its UAC, §7.4).
    pub fn header_uac(&self) -> String {
        let refresher = if self.we_refresh { "uac" } else { "uas" };
        format!("{};refresher={refresher}", self.interval)
    }

    /// Whether an offer of ours is pending on the dialog (RFC 3261 §14.1: a new offer from
    /// the caller collides with it and gets 491).
    pub fn offer_pending(&self) -> bool {
        self.in_flight.is_some_and(|(_, offer)| offer)
    }

    /// How long after a refresh the timer fires next: half the interval when we refresh
    /// (§10 recommends it); when the caller refreshes, the interval less a third of it or
    /// 32 s, whichever is smaller (§10), after which the session is over.
    pub(super) fn next_after(&self) -> Duration {
        let secs = if self.we_refresh {
            self.interval / 2
        } else {
            self.interval - (self.interval / 3).min(32)
        };
        Duration::from_secs(u64::from(secs))
    }
}

/// The delta-seconds of a `Session-Expires` or `Min-SE` value and its `refresher` parameter
/// (`None` when absent or not `uac` / `uas`). `None` for a value that is not a number.
pub(super) fn delta_and_refresher(value: &str) -> Option<(u32, Option<bool>)> {
    let mut parts = value.split(';');
    let secs = parts.next()?.trim();
    // A huge value is capped rather than refused: we grant our own maximum anyway.
    let secs = if !secs.is_empty() && secs.bytes().all(|b| b.is_ascii_digit()) {
        secs.parse::<u64>()
            .map_or(u32::MAX, |v| u32::try_from(v).unwrap_or(u32::MAX))
    } else {
        return None;
    };
    let mut uac_refreshes = None;
    for param in parts {
        let (name, val) = param.split_once('=').unwrap_or((param, ""));
        if name.trim().eq_ignore_ascii_case("refresher") {
            uac_refreshes = match val.trim().to_ascii_lowercase().as_str() {
                "uac" => Some(true),
                "uas" => Some(false),
                _ => None,
            };
        }
    }
    Some((secs, uac_refreshes))
}

fn has_option_tag(req: &Request, name: &HeaderName, tag: &str) -> bool {
    req.headers
        .list(name)
        .any(|t| t.trim().eq_ignore_ascii_case(tag))
}

/// The session timer for a caller's INVITE (or its refresh) per RFC 4028 §9, or `Err(min)`
/// when its `Session-Expires` is below the minimum we accept: 422 with `Min-SE: min` (§8.1).
/// `Ok(None)`: no session timer (the caller neither asked for one nor supports them).
pub fn negotiate(req: &Request, cfg: SessionTimerConfig) -> Result<Option<SessionTimer>, u32> {
    let peer_supports = has_option_tag(req, &HeaderName::Supported, "timer")
        || has_option_tag(req, &HeaderName::Require, "timer");
    let asked = req
        .headers
        .get(&HeaderName::SessionExpires)
        .and_then(delta_and_refresher);
    let their_min = req
        .headers
        .get(&HeaderName::MinSe)
        .and_then(delta_and_refresher)
        .map_or(0, |(secs, _)| secs);
    let min_se = their_min.max(cfg.min_se);
    let (interval, refresher) = match asked {
        // §8.1 / §9: below what we accept: 422 names our minimum (or theirs, when larger:
        // the retry must satisfy both).
        Some((secs, _)) if secs < cfg.min_se => return Err(min_se),
        // §9: the UAS may shorten the interval, never below the Min-SE in the request.
        Some((secs, refresher)) => (secs.min(cfg.session_expires).max(min_se), refresher),
        // No Session-Expires: a caller that supports timers gets ours (§9 lets the UAS add
        // one); one that does not keeps the call as before.
        None if peer_supports => (cfg.session_expires.max(min_se), None),
        None => return Ok(None),
    };
    // §9: a refresher the request named is kept; otherwise the caller refreshes when it
    // supports timers, and we do when it does not (it would not know it had to).
    let uac_refreshes = match refresher {
        Some(uac) if peer_supports || !uac => uac,
        _ => peer_supports,
    };
    Ok(Some(SessionTimer {
        interval,
        we_refresh: !uac_refreshes,
        peer_supports,
        peer_allows_update: has_option_tag(req, &HeaderName::Allow, "UPDATE"),
        min_se,
        due: None,
        in_flight: None,
    }))
}

/// RFC 3261 §14.1: how long to wait before retrying a request that got 491: 2.1–4 s when we
/// generated the dialog's Call-ID, 0–2 s when the peer did, in 10 ms units.
pub fn glare_retry_delay(own_call_id: bool, rng: &mut impl Rng) -> Duration {
    let ticks = if own_call_id {
        rng.gen_range(210..=400)
    } else {
        rng.gen_range(0..=200)
    };
    Duration::from_millis(ticks * 10)
}

impl Legs {
    /// `[sip] session_expires` / `min_se` for dialogs from now on (a reload); timers agreed
    /// already keep their interval.
    pub fn set_session_timer(&mut self, cfg: SessionTimerConfig) {
        self.endpoint.session_timer = cfg;
    }

    /// A 422 for a `Session-Expires` below `min` (RFC 4028 §8.1), with `Min-SE`.
    pub(super) fn session_too_small(
        &mut self,
        req: &Request,
        tag: Option<&str>,
        min: u32,
    ) -> Response {
        let mut resp = self.response(req, 422, tag);
        resp.headers.push(HeaderName::MinSe, min.to_string());
        resp
    }

    /// Adds `Session-Expires` (and `Require: timer` when the caller supports timers, §9) to
    /// a 2xx for `call`, when its dialog has a session timer.
    pub(super) fn add_session_headers(&self, resp: &mut Response, call: CallHandle) {
        let Some(timer) = self
            .callers
            .calls
            .get(&call)
            .and_then(|c| c.session.as_ref())
        else {
            return;
        };
        resp.headers
            .push(HeaderName::SessionExpires, timer.header());
        if timer.peer_supports {
            resp.headers.push(HeaderName::Require, "timer");
        }
    }

    /// Starts (or restarts, after a refresh either way) `call`'s session timer at `now`.
    pub(super) fn arm_session_timer(&mut self, now: Time, call: CallHandle) {
        let Some(timer) = self
            .callers
            .calls
            .get_mut(&call)
            .and_then(|c| c.session.as_mut())
        else {
            return;
        };
        let at = now + timer.next_after();
        self.session_due.set(&mut timer.due, at, call);
    }

    /// When the next session timer fires.
    pub(super) fn poll_session_timeout(&self) -> Option<Time> {
        self.session_due.next()
    }

    /// Fires the session timers due at `now`: our refreshes, and BYE for callers whose
    /// refresh did not come.
    pub(super) fn fire_session_timers(&mut self, now: Time) {
        while let Some((at, call)) = self.session_due.pop_due(now) {
            // An entry is stale when the timer was re-armed (or the call is gone) since.
            let Some(c) = self.callers.calls.get(&call) else {
                continue;
            };
            let Some(timer) = &c.session else {
                continue;
            };
            if timer.due != Some(at) || c.state == CallState::Ending {
                continue;
            }
            let span = c.span.clone();
            let _enter = span.enter();
            if timer.we_refresh {
                self.send_refresh(now, call);
            } else {
                // §10: no refresh before the session expired: end it with BYE, which also
                // frees its place in the queue or its bridge, as for a hang-up.
                tracing::info!(
                    interval = timer.interval,
                    "session timer expired; hanging up"
                );
                self.send_bye(now, call, 408, "session timer expired");
            }
        }
    }

    /// Our refresh (§7.4): UPDATE without a body when the caller allows UPDATE, else a
    /// re-INVITE carrying the SDP we last sent, unchanged (same version: no new session).
    fn send_refresh(&mut self, now: Time, call: CallHandle) {
        let Some(c) = self.callers.calls.get(&call) else {
            return;
        };
        let Some(timer) = c.session.clone() else {
            return;
        };
        if timer.in_flight.is_some() {
            return;
        }
        let (flow, local) = (c.flow, c.local);
        let via = self.new_via(&flow, local);
        let contact = self.contact(flow.transport, local, None);
        let user_agent = self.endpoint.user_agent.clone();
        let Some(c) = self.callers.calls.get_mut(&call) else {
            return;
        };
        let body = c.media.sdp.last_sent().cloned();
        let use_update = timer.peer_allows_update || body.is_none();
        let method = if use_update {
            Method::Update
        } else {
            Method::Invite
        };
        let mut req = c.dialog.request(method, &via);
        req.headers.push(HeaderName::Contact, contact);
        req.headers
            .push(HeaderName::SessionExpires, timer.header_uac());
        req.headers
            .push(HeaderName::MinSe, timer.min_se.to_string());
        req.headers.push(HeaderName::Supported, "timer");
        if !user_agent.is_empty() {
            req.headers.push(HeaderName::UserAgent, user_agent);
        }
        let offer = !use_update;
        if let (false, Some(sdp)) = (use_update, body) {
            req.headers.push(HeaderName::ContentType, "application/sdp");
            req.body = sdp.to_bytes();
        }
        tracing::debug!(method = %req.method.as_str(), "session refresh");
        match self.tx.send_request(now, req, flow) {
            Ok(id) => {
                if let Some(t) = self
                    .callers
                    .calls
                    .get_mut(&call)
                    .and_then(|c| c.session.as_mut())
                {
                    t.in_flight = Some((id, offer));
                    t.due = None;
                }
                self.callers.refreshes.insert(id, call);
            }
            Err(err) => {
                tracing::warn!(%err, "could not send the session refresh");
                self.send_bye(now, call, 500, "session refresh failed");
            }
        }
    }

    /// A response to one of our refreshes (its transaction was in `callers.refreshes`).
    pub(super) fn on_refresh_response(
        &mut self,
        now: Time,
        tx: ClientTxId,
        call: CallHandle,
        resp: &Response,
    ) {
        if resp.is_provisional() {
            return;
        }
        let Some(c) = self.callers.calls.get_mut(&call) else {
            return;
        };
        let is_invite = resp
            .headers
            .cseq()
            .is_some_and(|cs| cs.method == Method::Invite);
        if (200..300).contains(&resp.status) && is_invite {
            // §13.2.2.4: every 2xx to our re-INVITE is ACKed, retransmissions too.
            let cseq = resp.headers.cseq().map_or(0, |cs| cs.seq);
            let flow = c.flow;
            let local = c.local;
            let via = self.new_via(&flow, local);
            let Some(c) = self.callers.calls.get_mut(&call) else {
                return;
            };
            let ack = c.dialog.ack(cseq, &via);
            self.tx.send_ack(&ack, flow);
        }
        let Some(c) = self.callers.calls.get_mut(&call) else {
            return;
        };
        let Some(timer) = c.session.as_mut() else {
            return;
        };
        if timer.in_flight.map(|(id, _)| id) != Some(tx) {
            // A retransmitted 2xx of a refresh already settled: its ACK above is all.
            return;
        }
        timer.in_flight = None;
        match resp.status {
            200..=299 => {
                // §7.2: the 2xx states the interval and the refresher from now on.
                if let Some((secs, uac)) = resp
                    .headers
                    .get(&HeaderName::SessionExpires)
                    .and_then(delta_and_refresher)
                {
                    timer.interval = secs.max(90);
                    timer.we_refresh = uac.unwrap_or(true);
                }
                self.arm_session_timer(now, call);
            }
            491 => {
                // RFC 3261 §14.1: glare; the caller generated this dialog's Call-ID.
                let delay = glare_retry_delay(false, &mut self.rng);
                tracing::debug!(?delay, "refresh met glare (491); retrying");
                let at = now + delay;
                self.session_due.set(&mut timer.due, at, call);
            }
            422 => {
                // §7.4: the caller wants a longer interval; retry at once with its Min-SE.
                // Only when that raises the interval: a peer answering 422 without a larger
                // Min-SE would otherwise get one refresh per round trip for the whole call.
                let min = resp
                    .headers
                    .get(&HeaderName::MinSe)
                    .and_then(delta_and_refresher)
                    .map(|(min, _)| min);
                match min {
                    Some(min) if min > timer.interval => {
                        timer.interval = min;
                        timer.min_se = timer.min_se.max(min);
                        self.session_due.set(&mut timer.due, now, call);
                    }
                    _ => self.arm_session_timer(now, call),
                }
            }
            // §10: a refresh answered 408 or 481 means the dialog is gone.
            408 | 481 => {
                self.send_bye(now, call, resp.status, "session refresh failed");
            }
            _ => {
                // Any other failure leaves the session as it was (RFC 3261 §14.1); an
                // UPDATE the caller refused is retried as a re-INVITE, once, at once.
                if timer.peer_allows_update && is_invite {
                    self.arm_session_timer(now, call);
                } else if timer.peer_allows_update {
                    timer.peer_allows_update = false;
                    self.session_due.set(&mut timer.due, now, call);
                } else {
                    self.arm_session_timer(now, call);
                }
            }
        }
    }

    /// Our refresh got no final response (Timer B / F, transport): the caller is gone (§10).
    pub(super) fn refresh_failed(&mut self, now: Time, tx: ClientTxId) {
        let Some(call) = self.callers.refreshes.remove(&tx) else {
            return;
        };
        if let Some(t) = self
            .callers
            .calls
            .get_mut(&call)
            .and_then(|c| c.session.as_mut())
        {
            t.in_flight = None;
        }
        self.send_bye(now, call, 408, "no answer to the session refresh");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_delta_and_refresher() {
        assert_eq!(
            delta_and_refresher("1800;refresher=uac"),
            Some((1800, Some(true)))
        );
        assert_eq!(
            delta_and_refresher("90 ; refresher = UAS"),
            Some((90, Some(false)))
        );
        assert_eq!(delta_and_refresher("600"), Some((600, None)));
        assert_eq!(delta_and_refresher("x;refresher=uac"), None);
        assert_eq!(delta_and_refresher(""), None);
        assert_eq!(
            delta_and_refresher("99999999999999999999"),
            Some((u32::MAX, None))
        );
    }

    #[test]
    fn glare_delays_stay_in_their_ranges() {
        use rand::SeedableRng;
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        for _ in 0..200 {
            let own = glare_retry_delay(true, &mut rng);
            assert!((2100..=4000).contains(&own.as_millis()), "{own:?}");
            let theirs = glare_retry_delay(false, &mut rng);
            assert!(theirs.as_millis() <= 2000, "{theirs:?}");
        }
    }
}
