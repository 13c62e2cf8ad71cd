//! Transaction matching keys: responses to client transactions (RFC 3261 §17.1.3) and requests
//! to server transactions (§17.2.3), including the RFC 2543 fallback for requests whose branch
//! lacks the magic cookie, and the CANCEL → INVITE lookup of §9.2.
//!
//! Branches and sent-by are compared case-insensitively (§7.3.1: parameter values and hosts are
//! case-insensitive unless stated otherwise). A branch that is exactly the magic cookie, with no
//! identifier after it (RFC 4475 §3.3.1 "badbranch"), is treated as an RFC 2543 request.
//! This module does not check that a response's top Via sent-by is ours (§18.1.2): the layer does
//! not know its own sent-by, so that check belongs to the caller.

use crate::sip::message::{Request, Response};
use crate::sip::method::Method;
use crate::sip::typed::{Via, BRANCH_MAGIC};

use super::TransactionError;

/// A client transaction's key: the branch of the Via we sent and the CSeq method (§17.1.3; the
/// method separates an INVITE from the CANCEL that shares its branch).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct ClientKey {
    branch: String,
    method: Method,
}

impl ClientKey {
    /// The key of a request we are about to send; it must carry an RFC 3261 branch.
    pub fn of_request(req: &Request) -> Result<ClientKey, TransactionError> {
        let via = req
            .headers
            .top_via()
            .ok_or(TransactionError::MissingHeader { name: "Via" })?;
        let branch = rfc3261_branch(&via).ok_or(TransactionError::NoRfc3261Branch)?;
        Ok(ClientKey {
            branch,
            method: req.method.clone(),
        })
    }

    /// The same key with another method: a CANCEL finds the INVITE it cancels (§9.1).
    pub fn with_method(&self, method: Method) -> ClientKey {
        ClientKey {
            method,
            branch: self.branch.clone(),
        }
    }

    /// The key a response refers to, or `None` when it has no usable Via or CSeq (it is then
    /// dropped as stray, §18.1.2).
    pub fn of_response(resp: &Response) -> Option<ClientKey> {
        let via = resp.headers.top_via()?;
        Some(ClientKey {
            branch: rfc3261_branch(&via)?,
            method: resp.headers.cseq()?.method,
        })
    }
}

/// An RFC 3261 server key (§17.2.3): branch, sent-by, and the method with ACK counted as INVITE.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct BranchKey {
    branch: String,
    sent_by: String,
    method: Method,
}

impl BranchKey {
    /// The same key with another method: a CANCEL looks up the INVITE it cancels (§9.2).
    pub fn with_method(&self, method: Method) -> BranchKey {
        BranchKey {
            method,
            ..self.clone()
        }
    }
}

/// What an RFC 2543 request is matched on (§17.2.3): Request-URI, From and To tags, Call-ID,
/// CSeq and the top Via. An ACK matches the INVITE on all but the To tag, which must equal the
/// tag of the response we sent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Rfc2543Id {
    request_uri: String,
    from_tag: Option<String>,
    to_tag: Option<String>,
    pub call_id: String,
    pub cseq: u32,
    method: Method,
    top_via: String,
}

impl Rfc2543Id {
    /// Whether `req` (not an ACK) belongs to the transaction this id was taken from. With
    /// `ignore_method`, a CANCEL finds the request it cancels (§9.2).
    pub fn matches(&self, req: &Rfc2543Id, ignore_method: bool) -> bool {
        self.request_uri == req.request_uri
            && self.from_tag == req.from_tag
            && self.to_tag == req.to_tag
            && self.call_id == req.call_id
            && self.cseq == req.cseq
            && (ignore_method || self.method == req.method)
            && self.top_via == req.top_via
    }

    /// Whether an ACK belongs to this INVITE transaction, which answered with `response_tag`.
    pub fn matches_ack(&self, ack: &Rfc2543Id, response_tag: Option<&str>) -> bool {
        self.method == Method::Invite
            && self.request_uri == ack.request_uri
            && self.from_tag == ack.from_tag
            && self.call_id == ack.call_id
            && self.cseq == ack.cseq
            && self.top_via == ack.top_via
            && ack.to_tag.as_deref() == response_tag
    }
}

/// How an incoming request is matched to a server transaction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum ServerKey {
    Branch(BranchKey),
    Rfc2543(Rfc2543Id),
}

impl ServerKey {
    /// The key of an incoming request, whose top Via may already carry `received`/`rport`.
    pub fn of_request(req: &Request) -> Result<ServerKey, TransactionError> {
        let headers = &req.headers;
        let via = headers
            .top_via()
            .ok_or(TransactionError::MissingHeader { name: "Via" })?;
        // §17.2.3: ACK matches the INVITE's transaction.
        let method = match req.method {
            Method::Ack => Method::Invite,
            ref m => m.clone(),
        };
        if let Some(branch) = rfc3261_branch(&via) {
            return Ok(ServerKey::Branch(BranchKey {
                branch,
                sent_by: via.sent_by().to_ascii_lowercase(),
                method,
            }));
        }
        let cseq = headers
            .cseq()
            .ok_or(TransactionError::MissingHeader { name: "CSeq" })?;
        let call_id = headers
            .call_id()
            .ok_or(TransactionError::MissingHeader { name: "Call-ID" })?;
        Ok(ServerKey::Rfc2543(Rfc2543Id {
            request_uri: req.uri.to_string(),
            from_tag: headers.from().and_then(|f| f.tag().map(str::to_owned)),
            to_tag: headers.to().and_then(|t| t.tag().map(str::to_owned)),
            call_id: call_id.to_owned(),
            cseq: cseq.seq,
            method: req.method.clone(),
            top_via: comparable_via(via),
        }))
    }
}

/// The branch, lowercased, when it is an RFC 3261 one: the magic cookie followed by at least
/// one character (a bare cookie identifies nothing, RFC 4475 badbranch).
fn rfc3261_branch(via: &Via) -> Option<String> {
    let branch = via.branch()?;
    (branch.starts_with(BRANCH_MAGIC) && branch.len() > BRANCH_MAGIC.len())
        .then(|| branch.to_ascii_lowercase())
}

/// The top Via as compared for RFC 2543 matching: without the `received`/`rport` we stamp on
/// arrival, lowercased.
fn comparable_via(mut via: Via) -> String {
    via.params.remove("received");
    via.params.remove("rport");
    via.to_string().to_ascii_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sip::header::HeaderName;
    use crate::sip::transaction::tests_support::invite;

    #[test]
    fn ack_and_invite_share_a_branch_key_but_cancel_does_not() {
        let inv = invite("z9hG4bKabc");
        let mut ack = inv.clone();
        ack.method = Method::Ack;
        let mut cancel = inv.clone();
        cancel.method = Method::Cancel;
        let k_inv = ServerKey::of_request(&inv).unwrap();
        assert_eq!(ServerKey::of_request(&ack).unwrap(), k_inv);
        let k_cancel = ServerKey::of_request(&cancel).unwrap();
        assert_ne!(k_cancel, k_inv);
        let ServerKey::Branch(b) = k_cancel else {
            panic!("expected a branch key")
        };
        assert_eq!(ServerKey::Branch(b.with_method(Method::Invite)), k_inv);
    }

    #[test]
    fn branch_and_sent_by_compare_case_insensitively() {
        let a = invite("z9hG4bKAbC");
        let mut b = invite("z9hG4bKabc");
        b.headers.set(
            HeaderName::Via,
            "SIP/2.0/UDP 192.0.2.10:5060;BRANCH=z9hG4bKaBc",
        );
        assert_eq!(
            ServerKey::of_request(&a).unwrap(),
            ServerKey::of_request(&b).unwrap()
        );
    }

    #[test]
    fn bare_magic_cookie_falls_back_to_rfc2543() {
        // RFC 4475 §3.3.1 badbranch: `branch=z9hG4bK` with no identifier.
        let req = invite("z9hG4bK");
        assert!(matches!(
            ServerKey::of_request(&req).unwrap(),
            ServerKey::Rfc2543(_)
        ));
        assert!(matches!(
            ClientKey::of_request(&req),
            Err(TransactionError::NoRfc3261Branch)
        ));
    }

    #[test]
    fn rfc2543_ack_matches_on_response_tag() {
        let inv = invite("1234");
        let ServerKey::Rfc2543(id) = ServerKey::of_request(&inv).unwrap() else {
            panic!("expected an RFC 2543 key")
        };
        let mut ack = inv.clone();
        ack.method = Method::Ack;
        ack.headers.set(HeaderName::CSeq, "1 ACK");
        ack.headers
            .set(HeaderName::To, "<sip:bob@example.com>;tag=ours");
        // The stamped `received` does not disturb the Via comparison.
        ack.headers.set(
            HeaderName::Via,
            "SIP/2.0/UDP 192.0.2.10:5060;branch=1234;received=198.51.100.7",
        );
        let ServerKey::Rfc2543(ack_id) = ServerKey::of_request(&ack).unwrap() else {
            panic!("expected an RFC 2543 key")
        };
        assert!(id.matches_ack(&ack_id, Some("ours")));
        assert!(!id.matches_ack(&ack_id, Some("other")));
        assert!(!id.matches(&ack_id, false));
    }

    #[test]
    fn response_key_uses_cseq_method() {
        let inv = invite("z9hG4bKresp");
        let mut resp = crate::sip::transaction::server::response_for(&inv, 200, None);
        assert_eq!(
            ClientKey::of_response(&resp),
            Some(ClientKey::of_request(&inv).unwrap())
        );
        resp.headers.set(HeaderName::CSeq, "1 CANCEL");
        assert_ne!(
            ClientKey::of_response(&resp),
            Some(ClientKey::of_request(&inv).unwrap())
        );
    }
}
