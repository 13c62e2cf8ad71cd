//! Shared builders and drivers for the `sip_transaction_*` integration tests.
#![allow(dead_code)] // each test binary uses a different subset

use std::net::SocketAddr;

use holdline::sip::header::HeaderName;
use holdline::sip::transaction::{
    Config, RequestOutcome, ServerTxId, TransactionEvent, TransactionLayer,
};
use holdline::sip::uri::{Host, Params, Scheme, SipUri};
use holdline::sip::{ConnId, Method, Peer, Request, Response, Transport, Uri};
use holdline::time::Time;

// ---- message builders -------------------------------------------------------------------

pub fn uri(user: &str, host: &str) -> Uri {
    Uri::Sip(SipUri {
        scheme: Scheme::Sip,
        user: Some(user.into()),
        password: None,
        host: Host::Name(host.into()),
        port: None,
        params: Params::default(),
        headers: None,
    })
}

/// A request from alice's phone at 192.0.2.10:5060 with the given top Via params.
pub fn request(method: Method, via: &str, call_id: &str) -> Request {
    let mut req = Request::new(method.clone(), uri("queue", "pbx.example.com"));
    let h = &mut req.headers;
    h.push(HeaderName::Via, via);
    h.push(HeaderName::MaxForwards, "70");
    h.push(HeaderName::From, "\"Alice\" <sip:alice@example.com>;tag=a1");
    h.push(HeaderName::To, "<sip:queue@pbx.example.com>");
    h.push(HeaderName::CallId, call_id);
    h.push(HeaderName::CSeq, format!("1 {method}"));
    h.push(HeaderName::Contact, "<sip:alice@192.0.2.10>");
    req
}

pub fn invite(branch: &str) -> Request {
    request(
        Method::Invite,
        &format!("SIP/2.0/UDP 192.0.2.10:5060;branch={branch}"),
        &format!("call-{branch}"),
    )
}

pub fn ack_for(req: &Request, resp: &Response, branch: &str) -> Request {
    let mut ack = req.clone();
    ack.method = Method::Ack;
    ack.headers.set(
        HeaderName::Via,
        format!("SIP/2.0/UDP 192.0.2.10:5060;branch={branch}"),
    );
    ack.headers.set(HeaderName::CSeq, "1 ACK");
    ack.headers
        .set(HeaderName::To, resp.headers.get(&HeaderName::To).unwrap());
    ack
}

pub fn phone() -> Peer {
    Peer::udp(addr("192.0.2.10:5060"))
}

pub fn tcp_phone() -> Peer {
    Peer {
        transport: Transport::Tcp,
        addr: addr("192.0.2.10:40312"),
        conn: Some(ConnId(3)),
    }
}

pub fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

pub fn ms(t: u64) -> Time {
    Time::from_millis(t)
}

// ---- driving ----------------------------------------------------------------------------

/// Runs every timer up to `until`, returning the times (ms) at which something was sent.
pub fn run_until(layer: &mut TransactionLayer, until: Time) -> Vec<u64> {
    let mut sent = Vec::new();
    while let Some(at) = layer.poll_timeout() {
        if at > until {
            break;
        }
        layer.handle_timeout(at);
        while layer.poll_transmit().is_some() {
            sent.push(at.since_epoch().as_millis() as u64);
        }
    }
    sent
}

pub fn drain_transmits(layer: &mut TransactionLayer) -> usize {
    std::iter::from_fn(|| layer.poll_transmit()).count()
}

pub fn events(layer: &mut TransactionLayer) -> Vec<TransactionEvent> {
    std::iter::from_fn(|| layer.poll_event()).collect()
}

pub fn layer() -> TransactionLayer {
    TransactionLayer::new(Config::default())
}

/// Delivers a new request and returns its server transaction.
pub fn new_server_tx(
    layer: &mut TransactionLayer,
    req: Request,
    from: Peer,
) -> (ServerTxId, Request) {
    match layer.handle_request(Time::ZERO, req, from).unwrap() {
        RequestOutcome::New { tx, req } => (tx, req),
        other => panic!("expected a new transaction, got {other:?}"),
    }
}
