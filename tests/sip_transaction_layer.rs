//! The transaction layer driven through its public API on virtual time: retransmission
//! schedules, timeouts, absorption, the UAS 2xx retransmission, CANCEL and RFC 2543 matching,
//! Via routing, and that every transaction is gone once its timers have fired.

use std::net::SocketAddr;
use std::time::Duration;

use holdline::sip::header::HeaderName;
use holdline::sip::transaction::{
    build_cancel, response_for, ClientState, Config, RequestOutcome, ServerState, Timer,
    TransactionError, TransactionEvent, TransactionLayer, TxId, Uas2xxKey,
};
use holdline::sip::uri::{Host, Params, Scheme, SipUri};
use holdline::sip::{ConnId, Method, Peer, Request, Response, Transport, Uri};
use holdline::time::Time;

// ---- message builders -------------------------------------------------------------------

fn uri(user: &str, host: &str) -> Uri {
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
fn request(method: Method, via: &str, call_id: &str) -> Request {
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

fn invite(branch: &str) -> Request {
    request(
        Method::Invite,
        &format!("SIP/2.0/UDP 192.0.2.10:5060;branch={branch}"),
        &format!("call-{branch}"),
    )
}

fn ack_for(req: &Request, resp: &Response, branch: &str) -> Request {
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

fn phone() -> Peer {
    Peer::udp(addr("192.0.2.10:5060"))
}

fn tcp_phone() -> Peer {
    Peer {
        transport: Transport::Tcp,
        addr: addr("192.0.2.10:40312"),
        conn: Some(ConnId(3)),
    }
}

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

fn ms(t: u64) -> Time {
    Time::from_millis(t)
}

// ---- driving ----------------------------------------------------------------------------

/// Runs every timer up to `until`, returning the times (ms) at which something was sent.
fn run_until(layer: &mut TransactionLayer, until: Time) -> Vec<u64> {
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

fn drain_transmits(layer: &mut TransactionLayer) -> usize {
    std::iter::from_fn(|| layer.poll_transmit()).count()
}

fn events(layer: &mut TransactionLayer) -> Vec<TransactionEvent> {
    std::iter::from_fn(|| layer.poll_event()).collect()
}

fn layer() -> TransactionLayer {
    TransactionLayer::new(Config::default())
}

/// Delivers a new request and returns its server transaction.
fn new_server_tx(
    layer: &mut TransactionLayer,
    req: Request,
    from: Peer,
) -> (ServerTxIdAlias, Request) {
    match layer.handle_request(Time::ZERO, req, from).unwrap() {
        RequestOutcome::New { tx, req } => (tx, req),
        other => panic!("expected a new transaction, got {other:?}"),
    }
}

type ServerTxIdAlias = holdline::sip::transaction::ServerTxId;

// ---- client INVITE ----------------------------------------------------------------------

#[test]
fn invite_client_retransmits_with_doubling_intervals_until_timer_b() {
    let mut l = layer();
    let tx = l.send_request(ms(0), invite("z9hG4bKa1"), phone()).unwrap();
    assert_eq!(drain_transmits(&mut l), 1);
    let sent = run_until(&mut l, ms(31_999));
    assert_eq!(sent, vec![500, 1500, 3500, 7500, 15_500, 31_500]);
    assert_eq!(l.client_state(tx), Some(ClientState::Calling));
    assert_eq!(l.poll_timeout(), Some(ms(32_000)));
    run_until(&mut l, ms(32_000));
    assert_eq!(
        events(&mut l),
        vec![
            TransactionEvent::Timeout {
                tx: TxId::Client(tx),
                timer: Timer::B
            },
            TransactionEvent::Terminated {
                tx: TxId::Client(tx)
            },
        ]
    );
    assert!(l.is_empty());
    assert_eq!(l.poll_timeout(), None);
}

#[test]
fn invite_client_over_tcp_never_retransmits() {
    let mut l = layer();
    let tx = l
        .send_request(ms(0), invite("z9hG4bKtcp"), tcp_phone())
        .unwrap();
    assert_eq!(drain_transmits(&mut l), 1);
    assert_eq!(run_until(&mut l, ms(40_000)), Vec::<u64>::new());
    assert!(events(&mut l).contains(&TransactionEvent::Timeout {
        tx: TxId::Client(tx),
        timer: Timer::B
    }));
    assert!(l.is_empty());
}

#[test]
fn invite_client_provisional_stops_retransmission_and_timer_b() {
    let mut l = layer();
    let req = invite("z9hG4bKprov");
    let tx = l.send_request(ms(0), req.clone(), phone()).unwrap();
    drain_transmits(&mut l);
    run_until(&mut l, ms(600));
    let ringing = response_for(&req, 180, Some("b1"));
    let (got, resp) = l.handle_response(ms(700), ringing).unwrap();
    assert_eq!((got, resp.status), (tx, 180));
    assert_eq!(l.client_state(tx), Some(ClientState::Proceeding));
    assert_eq!(run_until(&mut l, ms(100_000)), Vec::<u64>::new());
    assert_eq!(l.client_state(tx), Some(ClientState::Proceeding));
    // Only the TU can end it now (it CANCELs, then gives up).
    l.terminate(TxId::Client(tx)).unwrap();
    assert!(l.is_empty());
}

#[test]
fn invite_client_acks_non_2xx_and_reacks_each_retransmission() {
    let mut l = layer();
    let req = invite("z9hG4bKbusy");
    let tx = l.send_request(ms(0), req.clone(), phone()).unwrap();
    drain_transmits(&mut l);
    let busy = response_for(&req, 486, Some("b1"));
    let (_, passed) = l.handle_response(ms(100), busy.clone()).unwrap();
    assert_eq!(passed.status, 486);
    let ack = l.poll_transmit().expect("ACK sent");
    let text = String::from_utf8(ack.bytes.clone()).unwrap();
    assert!(text.starts_with("ACK sip:queue@pbx.example.com SIP/2.0\r\n"));
    assert!(text.contains("branch=z9hG4bKbusy"));
    assert!(text.contains("CSeq: 1 ACK"));
    assert!(text.contains("To: <sip:queue@pbx.example.com>;tag=b1"));
    assert_eq!(l.client_state(tx), Some(ClientState::Completed));
    // A retransmitted 486 is absorbed and re-ACKed with the same bytes.
    assert!(l.handle_response(ms(600), busy).is_none());
    assert_eq!(l.poll_transmit().map(|t| t.bytes), Some(ack.bytes));
    // Timer D: 32 s after the final response.
    assert_eq!(l.poll_timeout(), Some(ms(32_100)));
    run_until(&mut l, ms(32_100));
    assert!(l.is_empty());
}

#[test]
fn invite_client_passes_every_2xx_in_accepted_until_timer_m() {
    let mut l = layer();
    let req = invite("z9hG4bKok");
    let tx = l.send_request(ms(0), req.clone(), phone()).unwrap();
    drain_transmits(&mut l);
    let ok = response_for(&req, 200, Some("b1"));
    assert!(l.handle_response(ms(100), ok.clone()).is_some());
    assert_eq!(l.client_state(tx), Some(ClientState::Accepted));
    // The transaction sends no ACK for a 2xx: the UAC core does (§13.2.2.4).
    assert_eq!(drain_transmits(&mut l), 0);
    // RFC 6026: retransmitted and forked 2xx still reach the TU.
    assert!(l.handle_response(ms(600), ok).is_some());
    let forked = response_for(&req, 200, Some("other-fork"));
    assert!(l.handle_response(ms(700), forked).is_some());
    run_until(&mut l, ms(32_099));
    assert_eq!(l.client_state(tx), Some(ClientState::Accepted));
    run_until(&mut l, ms(32_100));
    assert!(l.is_empty());
    // After Timer M a 2xx is stray and dropped (RFC 6026 §8.4).
    assert!(l
        .handle_response(ms(40_000), response_for(&req, 200, Some("b1")))
        .is_none());
}

#[test]
fn stray_response_is_dropped() {
    let mut l = layer();
    let req = invite("z9hG4bKnobody");
    assert!(l
        .handle_response(ms(0), response_for(&req, 200, Some("x")))
        .is_none());
    assert_eq!(drain_transmits(&mut l), 0);
}

#[test]
fn client_refuses_ack_duplicates_and_branchless_requests() {
    let mut l = layer();
    let req = invite("z9hG4bKdup");
    l.send_request(ms(0), req.clone(), phone()).unwrap();
    assert_eq!(
        l.send_request(ms(0), req.clone(), phone()),
        Err(TransactionError::DuplicateTransaction)
    );
    let mut ack = req.clone();
    ack.method = Method::Ack;
    assert_eq!(
        l.send_request(ms(0), ack, phone()),
        Err(TransactionError::AckIsNotATransaction)
    );
    assert_eq!(
        l.send_request(ms(0), invite("1234"), phone()),
        Err(TransactionError::NoRfc3261Branch)
    );
    // A CANCEL shares the INVITE's branch but is its own transaction (§9.1).
    let cancel = l
        .send_request(ms(1000), build_cancel(&req), phone())
        .unwrap();
    assert_eq!(l.client_state(cancel), Some(ClientState::Trying));
    assert_eq!(l.len(), 2);
}

// ---- client non-INVITE ------------------------------------------------------------------

#[test]
fn non_invite_client_retransmit_interval_caps_at_t2_and_timer_f_fires_at_32s() {
    let mut l = layer();
    let bye = request(
        Method::Bye,
        "SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bKbye",
        "c-bye",
    );
    let tx = l.send_request(ms(0), bye, phone()).unwrap();
    drain_transmits(&mut l);
    let sent = run_until(&mut l, ms(31_999));
    assert_eq!(
        sent,
        vec![500, 1500, 3500, 7500, 11_500, 15_500, 19_500, 23_500, 27_500, 31_500]
    );
    run_until(&mut l, ms(32_000));
    assert_eq!(
        events(&mut l).first(),
        Some(&TransactionEvent::Timeout {
            tx: TxId::Client(tx),
            timer: Timer::F
        })
    );
    assert!(l.is_empty());
}

#[test]
fn non_invite_client_absorbs_retransmitted_final_until_timer_k() {
    let mut l = layer();
    let bye = request(
        Method::Bye,
        "SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bKbye2",
        "c-bye2",
    );
    let tx = l.send_request(ms(0), bye.clone(), phone()).unwrap();
    let ok = response_for(&bye, 200, Some("b1"));
    assert!(l.handle_response(ms(200), ok.clone()).is_some());
    assert_eq!(l.client_state(tx), Some(ClientState::Completed));
    assert!(l.handle_response(ms(300), ok).is_none());
    assert_eq!(l.poll_timeout(), Some(ms(5200)));
    run_until(&mut l, ms(5200));
    assert!(l.is_empty());
}

// ---- server INVITE ----------------------------------------------------------------------

#[test]
fn server_invite_sends_100_and_resends_last_provisional_on_retransmission() {
    let mut l = layer();
    let (tx, req) = new_server_tx(&mut l, invite("z9hG4bKs1"), phone());
    let trying = l.poll_transmit().expect("100 Trying");
    assert!(trying.bytes.starts_with(b"SIP/2.0 100 Trying\r\n"));
    assert_eq!(trying.to, phone());
    // Retransmitted INVITE before anything else: the 100 again.
    assert_eq!(
        l.handle_request(ms(500), invite("z9hG4bKs1"), phone()),
        Ok(RequestOutcome::Absorbed)
    );
    assert_eq!(l.poll_transmit().map(|t| t.bytes), Some(trying.bytes));
    l.respond(ms(600), tx, response_for(&req, 180, Some("q1")))
        .unwrap();
    let ringing = l.poll_transmit().unwrap();
    l.handle_request(ms(1500), invite("z9hG4bKs1"), phone())
        .unwrap();
    assert_eq!(l.poll_transmit().map(|t| t.bytes), Some(ringing.bytes));
    assert_eq!(l.server_state(tx), Some(ServerState::Proceeding));
    // Provisional responses are never retransmitted on a timer.
    assert_eq!(run_until(&mut l, ms(60_000)), Vec::<u64>::new());
}

#[test]
fn server_invite_retransmits_non_2xx_on_timer_g_until_ack() {
    let mut l = layer();
    let (tx, req) = new_server_tx(&mut l, invite("z9hG4bKs2"), phone());
    drain_transmits(&mut l);
    let busy = response_for(&req, 486, Some("q1"));
    l.respond(ms(0), tx, busy.clone()).unwrap();
    assert_eq!(drain_transmits(&mut l), 1);
    assert_eq!(
        run_until(&mut l, ms(12_000)),
        vec![500, 1500, 3500, 7500, 11_500]
    );
    // A retransmitted INVITE in Completed gets the final again.
    l.handle_request(ms(12_100), invite("z9hG4bKs2"), phone())
        .unwrap();
    assert_eq!(drain_transmits(&mut l), 1);
    let ack = ack_for(&req, &busy, "z9hG4bKs2");
    assert_eq!(
        l.handle_request(ms(12_200), ack.clone(), phone()),
        Ok(RequestOutcome::Absorbed)
    );
    assert_eq!(l.server_state(tx), Some(ServerState::Confirmed));
    // ACK retransmissions are absorbed in Confirmed; Timer I = T4 later it ends.
    assert_eq!(
        l.handle_request(ms(13_000), ack, phone()),
        Ok(RequestOutcome::Absorbed)
    );
    assert_eq!(run_until(&mut l, ms(17_199)), Vec::<u64>::new());
    assert_eq!(l.server_state(tx), Some(ServerState::Confirmed));
    run_until(&mut l, ms(17_200));
    assert!(l.is_empty());
    assert!(events(&mut l)
        .iter()
        .all(|e| !matches!(e, TransactionEvent::Timeout { .. })));
}

#[test]
fn server_invite_timer_h_without_ack_reports_timeout() {
    let mut l = layer();
    let (tx, req) = new_server_tx(&mut l, invite("z9hG4bKs3"), phone());
    drain_transmits(&mut l);
    l.respond(ms(0), tx, response_for(&req, 480, Some("q1")))
        .unwrap();
    drain_transmits(&mut l);
    let sent = run_until(&mut l, ms(32_000));
    // Timer G capped at T2 up to Timer H at 64·T1.
    assert_eq!(
        sent,
        vec![500, 1500, 3500, 7500, 11_500, 15_500, 19_500, 23_500, 27_500, 31_500]
    );
    assert_eq!(
        events(&mut l),
        vec![
            TransactionEvent::Timeout {
                tx: TxId::Server(tx),
                timer: Timer::H
            },
            TransactionEvent::Terminated {
                tx: TxId::Server(tx)
            },
        ]
    );
    assert!(l.is_empty());
}

#[test]
fn server_invite_over_tcp_sends_final_once_and_ack_terminates_at_once() {
    let mut l = layer();
    let (tx, req) = new_server_tx(&mut l, invite("z9hG4bKs4"), tcp_phone());
    let trying = l.poll_transmit().unwrap();
    assert_eq!(trying.to, tcp_phone());
    let busy = response_for(&req, 486, Some("q1"));
    l.respond(ms(0), tx, busy.clone()).unwrap();
    assert_eq!(drain_transmits(&mut l), 1);
    let ack = ack_for(&req, &busy, "z9hG4bKs4");
    l.handle_request(ms(100), ack, tcp_phone()).unwrap();
    // Timer I is zero over a reliable transport.
    assert!(l.is_empty());
    assert_eq!(run_until(&mut l, ms(40_000)), Vec::<u64>::new());
}

#[test]
fn server_invite_2xx_is_accepted_absorbs_invite_retransmits_and_timer_l_cleans_up() {
    let mut l = layer();
    let (tx, req) = new_server_tx(&mut l, invite("z9hG4bKs5"), phone());
    drain_transmits(&mut l);
    let ok = response_for(&req, 200, Some("q1"));
    l.respond(ms(0), tx, ok.clone()).unwrap();
    assert_eq!(l.server_state(tx), Some(ServerState::Accepted));
    drain_transmits(&mut l);
    // RFC 6026 §7.1: a retransmitted INVITE is absorbed without a resend.
    assert_eq!(
        l.handle_request(ms(100), invite("z9hG4bKs5"), phone()),
        Ok(RequestOutcome::Absorbed)
    );
    assert_eq!(drain_transmits(&mut l), 0);
    // The ACK for the 2xx (new branch, §17.1.1.3 vs §13.2.2.4) goes to the TU.
    let ack = ack_for(&req, &ok, "z9hG4bKack5");
    match l.handle_request(ms(200), ack, phone()).unwrap() {
        RequestOutcome::Ack { req, stopped_2xx } => {
            assert_eq!(req.method, Method::Ack);
            assert!(stopped_2xx);
        }
        other => panic!("expected the ACK for the TU, got {other:?}"),
    }
    assert_eq!(l.pending_2xx(), 0);
    assert_eq!(run_until(&mut l, ms(31_999)), Vec::<u64>::new());
    assert_eq!(l.server_state(tx), Some(ServerState::Accepted));
    run_until(&mut l, ms(32_000));
    assert!(l.is_empty());
}

#[test]
fn ack_reusing_the_invite_branch_for_a_2xx_still_reaches_the_tu() {
    let mut l = layer();
    let (tx, req) = new_server_tx(&mut l, invite("z9hG4bKs6"), phone());
    let ok = response_for(&req, 200, Some("q1"));
    l.respond(ms(0), tx, ok.clone()).unwrap();
    let ack = ack_for(&req, &ok, "z9hG4bKs6");
    assert!(matches!(
        l.handle_request(ms(50), ack, phone()),
        Ok(RequestOutcome::Ack {
            stopped_2xx: true,
            ..
        })
    ));
}

#[test]
fn second_final_response_is_refused_and_unknown_tx_is_an_error() {
    let mut l = layer();
    let (tx, req) = new_server_tx(&mut l, invite("z9hG4bKs7"), phone());
    l.respond(ms(0), tx, response_for(&req, 603, Some("q1")))
        .unwrap();
    assert!(matches!(
        l.respond(ms(1), tx, response_for(&req, 200, Some("q1"))),
        Err(TransactionError::FinalResponseAlreadySent { status: 200, .. })
    ));
    let missing = holdline::sip::transaction::ServerTxId(9999);
    assert!(matches!(
        l.respond(ms(1), missing, response_for(&req, 200, Some("q1"))),
        Err(TransactionError::UnknownTransaction { .. })
    ));
    // A 2xx to an INVITE must carry the To tag its ACK will be matched on.
    let (tx2, req2) = new_server_tx(&mut l, invite("z9hG4bKs8"), phone());
    assert_eq!(
        l.respond(ms(1), tx2, response_for(&req2, 200, None)),
        Err(TransactionError::MissingHeader { name: "To tag" })
    );
}

// ---- UAS 2xx retransmission (§13.3.1.4) ---------------------------------------------------

#[test]
fn uas_2xx_is_retransmitted_at_doubling_intervals_until_ack() {
    let mut l = layer();
    let (tx, req) = new_server_tx(&mut l, invite("z9hG4bKu1"), phone());
    drain_transmits(&mut l);
    let ok = response_for(&req, 200, Some("q1"));
    l.respond(ms(0), tx, ok.clone()).unwrap();
    assert_eq!(drain_transmits(&mut l), 1);
    assert_eq!(
        run_until(&mut l, ms(12_000)),
        vec![500, 1500, 3500, 7500, 11_500]
    );
    let ack = ack_for(&req, &ok, "z9hG4bKacku1");
    l.handle_request(ms(12_000), ack, phone()).unwrap();
    assert_eq!(run_until(&mut l, ms(60_000)), Vec::<u64>::new());
    assert!(events(&mut l)
        .iter()
        .all(|e| !matches!(e, TransactionEvent::NoAckFor2xx { .. })));
    assert!(l.is_empty());
}

#[test]
fn uas_2xx_without_ack_reports_no_ack_after_64_t1() {
    let mut l = layer();
    let (tx, req) = new_server_tx(&mut l, invite("z9hG4bKu2"), phone());
    drain_transmits(&mut l);
    l.respond(ms(0), tx, response_for(&req, 200, Some("q2")))
        .unwrap();
    drain_transmits(&mut l);
    let sent = run_until(&mut l, ms(32_000));
    assert_eq!(
        sent,
        vec![500, 1500, 3500, 7500, 11_500, 15_500, 19_500, 23_500, 27_500, 31_500]
    );
    let key = Uas2xxKey {
        call_id: "call-z9hG4bKu2".into(),
        cseq: 1,
        local_tag: "q2".into(),
    };
    assert!(events(&mut l).contains(&TransactionEvent::NoAckFor2xx { key }));
    assert_eq!(l.pending_2xx(), 0);
    assert!(l.is_empty());
    assert_eq!(l.poll_timeout(), None);
}

#[test]
fn uas_2xx_over_tcp_is_retransmitted_unless_configured_off() {
    let mut l = layer();
    let (tx, req) = new_server_tx(&mut l, invite("z9hG4bKu3"), tcp_phone());
    l.respond(ms(0), tx, response_for(&req, 200, Some("q3")))
        .unwrap();
    drain_transmits(&mut l);
    // §13.3.1.4: "even if the transport at the UAS is reliable".
    assert_eq!(run_until(&mut l, ms(2000)), vec![500, 1500]);

    let mut l = TransactionLayer::new(Config {
        retransmit_2xx_on_reliable: false,
        ..Config::default()
    });
    let (tx, req) = new_server_tx(&mut l, invite("z9hG4bKu4"), tcp_phone());
    l.respond(ms(0), tx, response_for(&req, 200, Some("q4")))
        .unwrap();
    drain_transmits(&mut l);
    assert_eq!(run_until(&mut l, ms(40_000)), Vec::<u64>::new());
    assert!(events(&mut l)
        .iter()
        .any(|e| matches!(e, TransactionEvent::NoAckFor2xx { .. })));
}

#[test]
fn stopping_2xx_retransmission_silences_it() {
    let mut l = layer();
    let (tx, req) = new_server_tx(&mut l, invite("z9hG4bKu5"), phone());
    l.respond(ms(0), tx, response_for(&req, 200, Some("q5")))
        .unwrap();
    drain_transmits(&mut l);
    let key = Uas2xxKey {
        call_id: "call-z9hG4bKu5".into(),
        cseq: 1,
        local_tag: "q5".into(),
    };
    assert!(l.stop_2xx_retransmission(&key));
    assert!(!l.stop_2xx_retransmission(&key));
    assert_eq!(run_until(&mut l, ms(40_000)), Vec::<u64>::new());
}

// ---- server non-INVITE ------------------------------------------------------------------

#[test]
fn server_non_invite_resends_last_response_until_timer_j() {
    let mut l = layer();
    let options = request(
        Method::Options,
        "SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bKn1",
        "c-opt",
    );
    let (tx, req) = new_server_tx(&mut l, options.clone(), phone());
    assert_eq!(l.server_state(tx), Some(ServerState::Trying));
    // Trying: nothing sent yet, a retransmission is absorbed silently (no 100 for non-INVITE).
    assert_eq!(
        l.handle_request(ms(500), options.clone(), phone()),
        Ok(RequestOutcome::Absorbed)
    );
    assert_eq!(drain_transmits(&mut l), 0);
    l.respond(ms(600), tx, response_for(&req, 200, Some("q1")))
        .unwrap();
    assert_eq!(drain_transmits(&mut l), 1);
    l.handle_request(ms(1500), options, phone()).unwrap();
    assert_eq!(drain_transmits(&mut l), 1);
    assert_eq!(l.poll_timeout(), Some(ms(32_600)));
    assert_eq!(run_until(&mut l, ms(32_600)), Vec::<u64>::new());
    assert!(l.is_empty());
}

#[test]
fn server_non_invite_over_tcp_terminates_on_final() {
    let mut l = layer();
    let bye = request(
        Method::Bye,
        "SIP/2.0/TCP 192.0.2.10:5060;branch=z9hG4bKn2",
        "c-bye-tcp",
    );
    let (tx, req) = new_server_tx(&mut l, bye, tcp_phone());
    l.respond(ms(0), tx, response_for(&req, 200, Some("q1")))
        .unwrap();
    assert!(l.is_empty());
}

// ---- CANCEL (§9.2) -----------------------------------------------------------------------

#[test]
fn cancel_is_its_own_transaction_and_finds_the_invite() {
    let mut l = layer();
    let (inv_tx, req) = new_server_tx(&mut l, invite("z9hG4bKc1"), phone());
    let cancel = build_cancel(&invite("z9hG4bKc1"));
    assert_eq!(l.cancelled_invite(&cancel), Some(inv_tx));
    let cancel_tx = match l.handle_request(ms(100), cancel.clone(), phone()).unwrap() {
        RequestOutcome::Cancel { tx, invite, req } => {
            assert_eq!(invite, Some(inv_tx));
            assert_eq!(req.method, Method::Cancel);
            tx
        }
        other => panic!("expected a CANCEL, got {other:?}"),
    };
    assert_ne!(cancel_tx, inv_tx);
    // The TU answers the CANCEL 200 and the INVITE 487.
    l.respond(ms(100), cancel_tx, response_for(&cancel, 200, Some("q1")))
        .unwrap();
    l.respond(ms(100), inv_tx, response_for(&req, 487, Some("q1")))
        .unwrap();
    // A retransmitted CANCEL gets its 200 again.
    drain_transmits(&mut l);
    assert_eq!(
        l.handle_request(ms(600), cancel, phone()),
        Ok(RequestOutcome::Absorbed)
    );
    let resent = l.poll_transmit().unwrap();
    assert!(resent.bytes.starts_with(b"SIP/2.0 200 OK\r\n"));
}

#[test]
fn cancel_for_unknown_invite_reports_none() {
    let mut l = layer();
    let cancel = build_cancel(&invite("z9hG4bKc2"));
    assert!(matches!(
        l.handle_request(ms(0), cancel, phone()),
        Ok(RequestOutcome::Cancel { invite: None, .. })
    ));
}

#[test]
fn cancel_from_another_sent_by_does_not_match() {
    let mut l = layer();
    new_server_tx(&mut l, invite("z9hG4bKc3"), phone());
    let mut cancel = build_cancel(&invite("z9hG4bKc3"));
    cancel.headers.set(
        HeaderName::Via,
        "SIP/2.0/UDP 192.0.2.99:5060;branch=z9hG4bKc3",
    );
    assert_eq!(l.cancelled_invite(&cancel), None);
}

// ---- RFC 2543 matching --------------------------------------------------------------------

/// RFC 4475 §3.3.1 badbranch: `branch=z9hG4bK` with no identifier.
fn badbranch_invite() -> Request {
    request(
        Method::Invite,
        "SIP/2.0/UDP 192.0.2.2;branch=z9hG4bK",
        "badbranch.sadonfjkq@192.0.2.2",
    )
}

#[test]
fn rfc2543_invite_retransmission_ack_and_cancel_match_without_magic_cookie() {
    let mut l = layer();
    let from = Peer::udp(addr("192.0.2.2:5060"));
    let (tx, req) = new_server_tx(&mut l, badbranch_invite(), from);
    assert_eq!(
        l.handle_request(ms(500), badbranch_invite(), from),
        Ok(RequestOutcome::Absorbed)
    );
    // Another INVITE differing only in CSeq is a new transaction.
    let mut other = badbranch_invite();
    other.headers.set(HeaderName::CSeq, "2 INVITE");
    assert!(matches!(
        l.handle_request(ms(600), other, from),
        Ok(RequestOutcome::New { .. })
    ));
    let mut cancel = build_cancel(&badbranch_invite());
    assert_eq!(l.cancelled_invite(&cancel), Some(tx));
    cancel.headers.set(HeaderName::CSeq, "1 CANCEL");
    let busy = response_for(&req, 486, Some("q9"));
    l.respond(ms(700), tx, busy.clone()).unwrap();
    // The ACK matches on the To tag of our response; a different tag does not.
    let mut ack = badbranch_invite();
    ack.method = Method::Ack;
    ack.headers.set(HeaderName::CSeq, "1 ACK");
    ack.headers
        .set(HeaderName::To, "<sip:queue@pbx.example.com>;tag=wrong");
    assert!(matches!(
        l.handle_request(ms(800), ack.clone(), from),
        Ok(RequestOutcome::Ack { .. })
    ));
    assert_eq!(l.server_state(tx), Some(ServerState::Completed));
    ack.headers
        .set(HeaderName::To, busy.headers.get(&HeaderName::To).unwrap());
    assert_eq!(
        l.handle_request(ms(900), ack, from),
        Ok(RequestOutcome::Absorbed)
    );
    assert_eq!(l.server_state(tx), Some(ServerState::Confirmed));
}

// ---- Via routing --------------------------------------------------------------------------

#[test]
fn responses_follow_received_and_rport_through_a_nat() {
    let mut l = layer();
    let nat = Peer::udp(addr("203.0.113.50:61000"));
    let req = request(
        Method::Invite,
        "SIP/2.0/UDP 10.0.0.5:5060;rport;branch=z9hG4bKnat",
        "c-nat",
    );
    let (tx, stamped) = new_server_tx(&mut l, req, nat);
    // The TU's responses copy the stamped Via (§8.2.6.2).
    assert_eq!(
        stamped.headers.get(&HeaderName::Via),
        Some("SIP/2.0/UDP 10.0.0.5:5060;rport=61000;branch=z9hG4bKnat;received=203.0.113.50")
    );
    assert_eq!(l.poll_transmit().unwrap().to, nat);
    l.respond(ms(0), tx, response_for(&stamped, 180, Some("q")))
        .unwrap();
    assert_eq!(l.poll_transmit().unwrap().to, nat);
}

#[test]
fn responses_without_rport_go_to_received_at_the_sent_by_port() {
    let mut l = layer();
    let req = request(
        Method::Options,
        "SIP/2.0/UDP phone.example.com:5070;branch=z9hG4bKdns",
        "c-dns",
    );
    let (tx, stamped) = new_server_tx(&mut l, req, Peer::udp(addr("198.51.100.4:5070")));
    l.respond(ms(0), tx, response_for(&stamped, 200, Some("q")))
        .unwrap();
    assert_eq!(
        l.poll_transmit().unwrap().to,
        Peer::udp(addr("198.51.100.4:5070"))
    );
}

// ---- leaks and scale ----------------------------------------------------------------------

#[test]
fn thousands_of_mixed_transactions_leave_nothing_behind_once_timers_fire() {
    let mut l = layer();
    let mut n = 0;
    for i in 0..3000u64 {
        let now = ms(i * 2); // 500 per second
        let branch = format!("z9hG4bKload{i}");
        // A client INVITE answered 200, a server INVITE answered 486 and ACKed, a server
        // INVITE answered 200 and ACKed, a client OPTIONS that times out.
        let req = invite(&format!("{branch}c"));
        l.send_request(now, req.clone(), phone()).unwrap();
        l.handle_response(now, response_for(&req, 200, Some("t")))
            .unwrap();
        let (tx, sreq) = match l.handle_request(now, invite(&format!("{branch}s")), phone()) {
            Ok(RequestOutcome::New { tx, req }) => (tx, req),
            other => panic!("{other:?}"),
        };
        let status = if i % 2 == 0 { 486 } else { 200 };
        let resp = response_for(&sreq, status, Some("t"));
        l.respond(now, tx, resp.clone()).unwrap();
        let ack_branch = if status == 200 {
            format!("{branch}a")
        } else {
            format!("{branch}s")
        };
        l.handle_request(
            now + Duration::from_millis(1),
            ack_for(&sreq, &resp, &ack_branch),
            phone(),
        )
        .unwrap();
        let options = request(
            Method::Options,
            &format!("SIP/2.0/UDP 192.0.2.10:5060;branch={branch}o"),
            "c-load",
        );
        l.send_request(now, options, phone()).unwrap();
        n += 4;
        while l.poll_transmit().is_some() {}
        while l.poll_event().is_some() {}
    }
    assert!(!l.is_empty() && l.len() <= n);
    while let Some(at) = l.poll_timeout() {
        l.handle_timeout(at);
        while l.poll_transmit().is_some() {}
        while l.poll_event().is_some() {}
    }
    assert_eq!(l.len(), 0);
    assert_eq!(l.pending_2xx(), 0);
}
