//! Answering a trunk's digest challenge on an agent or forward leg (RFC 3261 §22.2,
//! RFC 7616, RFC 8760): the INVITE again with credentials, once per challenger.
//!
//! Only legs that carry a trunk's `auth` ever send credentials; an agent's phone never gets
//! them.

use crate::sip::digest::{self, Challenge};
use crate::sip::header::HeaderName;
use crate::sip::message::Response;
use crate::time::Time;

use super::{LegHandle, LegState, Legs};

impl Legs {
    /// A 401 / 407 on a leg that has credentials: the INVITE again with an Authorization /
    /// Proxy-Authorization answering the challenge (§22.2, RFC 7616 §3.4), CSeq one higher,
    /// same Call-ID and From tag, a new branch (§8.1.3.5). Returns false (the leg fails with the
    /// challenge's status) when there are no credentials, no challenge is for the configured
    /// realm, nothing in the challenge can be answered, or the far end refused what we sent
    /// (the same realm challenging again without saying the nonce was stale). Credentials go
    /// only where the leg was sent: a trunk's `auth` rides on that trunk's legs, never on an
    /// agent's.
    pub(super) fn resend_with_credentials(
        &mut self,
        now: Time,
        leg: LegHandle,
        resp: &Response,
    ) -> bool {
        const MAX_TRIES: u8 = 3;
        let Some(l) = self.agents.legs.get(&leg) else {
            return false;
        };
        let Some(creds) = &l.credentials else {
            return false;
        };
        let auth = creds.auth.clone();
        let (challenge_header, answer_header) = if resp.status == 407 {
            (
                HeaderName::ProxyAuthenticate,
                HeaderName::ProxyAuthorization,
            )
        } else {
            (HeaderName::WwwAuthenticate, HeaderName::Authorization)
        };
        // Only challenges for the configured realm (when one is set) are candidates, so a
        // response that also carries another realm's challenge first still gets answered.
        let values = resp.headers.get_all(&challenge_header);
        let Some(challenge) = Challenge::pick(values, auth.realm.as_deref()) else {
            tracing::warn!(
                status = resp.status,
                "trunk challenge holdline cannot answer (realm or algorithm)"
            );
            return false;
        };
        // RFC 7616 §3.3: stale=true is a new nonce for the same credentials; the same realm
        // challenging again otherwise means they were refused, and sending them again would
        // loop. A different challenger (a proxy's 407, then the far end's 401) is answered.
        let key = (resp.status, challenge.realm.clone());
        if creds.tries >= MAX_TRIES || (creds.answered.contains(&key) && !challenge.stale) {
            tracing::warn!(status = resp.status, realm = %challenge.realm, "trunk refused our credentials");
            return false;
        }
        let mut invite = l.invite.clone();
        let (dest, cseq) = (l.dest, l.invite.headers.cseq().map_or(1, |c| c.seq) + 1);
        let uri = invite.uri.to_string();
        let cnonce = format!("{:016x}", self.rng_u64());
        let value = match digest::authorization(
            &challenge,
            &auth.username,
            &auth.password,
            digest::Request {
                method: invite.method.as_str(),
                uri: &uri,
                body: &invite.body,
            },
            &cnonce,
        ) {
            Ok(v) => v,
            Err(err) => {
                tracing::warn!(%err, "trunk challenge not answered");
                return false;
            }
        };
        let local = self.listener(dest.transport);
        let via = self.new_via(&dest, local);
        let h = &mut invite.headers;
        h.remove(&HeaderName::Via);
        // §22.3: credentials for another challenger (a proxy's, when the far end now asks
        // too) stay; this challenger's earlier answer is replaced.
        h.remove(&answer_header);
        h.remove(&HeaderName::CSeq);
        h.push_front(HeaderName::Via, via);
        h.push(HeaderName::CSeq, format!("{cseq} INVITE"));
        h.push(answer_header, value);
        let tx = match self.tx.send_request(now, invite.clone(), dest) {
            Ok(tx) => tx,
            Err(err) => {
                tracing::warn!(%err, "could not resend INVITE with credentials");
                return false;
            }
        };
        self.agents.invites.retain(|_, h| *h != leg);
        self.agents.invites.insert(tx, leg);
        if let Some(l) = self.agents.legs.get_mut(&leg) {
            l.invite = invite;
            if let Some(creds) = &mut l.credentials {
                creds.tries += 1;
                creds.answered.push(key);
            }
            // A CANCEL waits for a provisional response to this new INVITE (§9.1).
            l.state = LegState::Calling;
        }
        true
    }
}
