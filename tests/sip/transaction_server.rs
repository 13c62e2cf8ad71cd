//! Server transactions through the layer on virtual time: INVITE (§17.2.1 + RFC 6026),
//! non-INVITE (§17.2.2), and the UAS core's 2xx retransmission (§13.3.1.4).

use holdline::sip::transaction::{
    response_for, Config, RequestOutcome, ServerState, Timer, TransactionError, TransactionEvent,
    TransactionLayer, TxId, Uas2xxKey,
};
use holdline::sip::Method;

use crate::sip_transaction_support::*;

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
    assert_eq!(run_until(&mut l, ms(12_000)), vec![500, 1500, 3500, 7500]);
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
    // Timer G doubles up to T2, and resends at most FINAL_RETRANSMITS times to a peer that
    // never ACKs (no amplification); Timer H still ends the transaction at 64·T1.
    assert_eq!(sent, vec![500, 1500, 3500, 7500]);
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
    // Timer J: 64·T1 after the final response (at 0.6 s), rounded up to a whole second so
    // transactions completed within a second end together.
    assert_eq!(l.poll_timeout(), Some(ms(33_000)));
    assert_eq!(run_until(&mut l, ms(32_999)), Vec::<u64>::new());
    assert!(
        !l.is_empty(),
        "still absorbing retransmissions before Timer J"
    );
    assert_eq!(run_until(&mut l, ms(33_000)), Vec::<u64>::new());
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
