//! Property tests of the transaction layer: under any order of requests, retransmissions,
//! responses, ACKs, CANCELs and clock jumps it never panics, never asks to be woken in the past,
//! and once every transaction has had a final answer and every timer has fired, nothing is left.

use std::collections::HashMap;

use holdline::sip::header::HeaderName;
use holdline::sip::transaction::{
    build_cancel, response_for, ClientState, ClientTxId, RequestOutcome, ServerState, ServerTxId,
    TransactionLayer,
};
use holdline::sip::{Method, Peer, Request};
use holdline::time::Time;
use proptest::prelude::*;

use crate::sip_transaction_support::*;

const STATUSES: [u16; 6] = [100, 180, 200, 404, 486, 503];

#[derive(Clone, Debug)]
enum Op {
    /// Call `i` sends (or resends) its INVITE to us.
    InviteIn(u8, bool),
    /// We answer call `i` with `STATUSES[s]`.
    Respond(u8, u8),
    /// Call `i` ACKs our final response (`for_2xx` picks a fresh branch).
    AckIn(u8, bool),
    /// Call `i` CANCELs its INVITE.
    CancelIn(u8),
    /// We place outgoing call `j` (UDP when true, TCP otherwise).
    InviteOut(u8, bool),
    /// The callee of outgoing call `j` answers with `STATUSES[s]`.
    ResponseIn(u8, u8),
    /// We CANCEL outgoing call `j`.
    CancelOut(u8),
    /// Time passes.
    Advance(u16),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (0..6u8, any::<bool>()).prop_map(|(i, t)| Op::InviteIn(i, t)),
        (0..6u8, 0..6u8).prop_map(|(i, s)| Op::Respond(i, s)),
        (0..6u8, any::<bool>()).prop_map(|(i, f)| Op::AckIn(i, f)),
        (0..6u8).prop_map(Op::CancelIn),
        (0..6u8, any::<bool>()).prop_map(|(j, u)| Op::InviteOut(j, u)),
        (0..6u8, 0..6u8).prop_map(|(j, s)| Op::ResponseIn(j, s)),
        (0..6u8).prop_map(Op::CancelOut),
        (1..20_000u16).prop_map(Op::Advance),
    ]
}

struct World {
    l: TransactionLayer,
    now: Time,
    /// Our server transactions by call, with the stamped request.
    inbound: HashMap<u8, (ServerTxId, Request)>,
    /// Last final response sent per inbound call (for building ACKs).
    finals: HashMap<u8, holdline::sip::Response>,
    outbound: HashMap<u8, (ClientTxId, Request)>,
    /// Every outbound INVITE ever placed (a re-placed call replaces its `outbound` entry).
    outbound_all: Vec<(ClientTxId, Request)>,
    /// A generation counter per outbound call so a re-placed call gets a new branch.
    generation: u32,
}

impl World {
    fn drain(&mut self) {
        while self.l.poll_transmit().is_some() {}
        while self.l.poll_event().is_some() {}
    }

    fn advance_to(&mut self, until: Time) {
        while let Some(at) = self.l.poll_timeout() {
            if at > until {
                break;
            }
            assert!(at >= self.now, "timer in the past: {at:?} < {:?}", self.now);
            self.now = at;
            self.l.handle_timeout(at);
            if let Some(next) = self.l.poll_timeout() {
                assert!(next > at, "woken at {at:?} but next timer is {next:?}");
            }
            self.drain();
        }
        self.now = self.now.max(until);
    }

    fn apply(&mut self, op: Op) {
        let now = self.now;
        match op {
            Op::InviteIn(i, tcp) => {
                let from = if tcp { tcp_phone() } else { phone() };
                let req = invite(&format!("z9hG4bKin{i}"));
                if let Ok(RequestOutcome::New { tx, req }) = self.l.handle_request(now, req, from) {
                    self.inbound.insert(i, (tx, req));
                }
            }
            Op::Respond(i, s) => {
                if let Some((tx, req)) = self.inbound.get(&i) {
                    let resp = response_for(req, STATUSES[s as usize], Some("ours"));
                    if self.l.respond(now, *tx, resp.clone()).is_ok() && resp.status >= 200 {
                        self.finals.insert(i, resp);
                    }
                }
            }
            Op::AckIn(i, fresh_branch) => {
                if let (Some((_, req)), Some(resp)) = (self.inbound.get(&i), self.finals.get(&i)) {
                    let mut ack = req.clone();
                    ack.method = Method::Ack;
                    ack.headers.set(HeaderName::CSeq, "1 ACK");
                    ack.headers
                        .set(HeaderName::To, resp.headers.get(&HeaderName::To).unwrap());
                    if fresh_branch {
                        ack.headers.set(
                            HeaderName::Via,
                            format!("SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bKack{i}"),
                        );
                    }
                    let _ = self.l.handle_request(now, ack, phone());
                }
            }
            Op::CancelIn(i) => {
                let cancel = build_cancel(&invite(&format!("z9hG4bKin{i}")));
                if let Ok(RequestOutcome::Cancel { tx, .. }) =
                    self.l.handle_request(now, cancel.clone(), phone())
                {
                    let _ = self
                        .l
                        .respond(now, tx, response_for(&cancel, 200, Some("ours")));
                }
            }
            Op::InviteOut(j, udp) => {
                self.generation += 1;
                let req = invite(&format!("z9hG4bKout{j}g{}", self.generation));
                let to: Peer = if udp { phone() } else { tcp_phone() };
                if let Ok(tx) = self.l.send_request(now, req.clone(), to) {
                    self.outbound.insert(j, (tx, req.clone()));
                    self.outbound_all.push((tx, req));
                }
            }
            Op::ResponseIn(j, s) => {
                if let Some((_, req)) = self.outbound.get(&j) {
                    let resp = response_for(req, STATUSES[s as usize], Some("theirs"));
                    let _ = self.l.handle_response(now, resp);
                }
            }
            Op::CancelOut(j) => {
                if let Some((_, req)) = self.outbound.get(&j) {
                    let _ = self.l.send_request(now, build_cancel(req), phone());
                }
            }
            Op::Advance(ms) => {
                let until = now + std::time::Duration::from_millis(ms.into());
                self.advance_to(until);
            }
        }
        self.drain();
    }

    /// Gives every transaction a way to end: a final answer to inbound calls still pending, a
    /// CANCEL for outbound calls still ringing. Then runs every timer.
    fn wind_down(&mut self) {
        let now = self.now;
        for (tx, req) in self.inbound.values() {
            if matches!(
                self.l.server_state(*tx),
                Some(ServerState::Trying | ServerState::Proceeding)
            ) {
                self.l
                    .respond(now, *tx, response_for(req, 500, Some("ours")))
                    .unwrap();
            }
        }
        for (tx, req) in &self.outbound_all {
            if matches!(
                self.l.client_state(*tx),
                Some(ClientState::Proceeding | ClientState::Calling)
            ) {
                let _ = self.l.send_request(now, build_cancel(req), phone());
            }
        }
        self.drain();
        self.advance_to(Time::from_millis(u64::MAX / 4));
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn any_event_order_ends_with_no_transactions_left(ops in proptest::collection::vec(op(), 1..60)) {
        let mut w = World {
            l: layer(),
            now: Time::ZERO,
            inbound: HashMap::new(),
            finals: HashMap::new(),
            outbound: HashMap::new(),
            outbound_all: Vec::new(),
            generation: 0,
        };
        for op in ops {
            w.apply(op);
        }
        w.wind_down();
        prop_assert_eq!(w.l.len(), 0);
        prop_assert_eq!(w.l.pending_2xx(), 0);
        prop_assert_eq!(w.l.poll_timeout(), None);
    }
}
