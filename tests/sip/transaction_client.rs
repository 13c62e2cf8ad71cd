//! Client transactions through the layer on virtual time: INVITE (§17.1.1 + RFC 6026) and
//! non-INVITE (§17.1.2) retransmission schedules, timeouts, ACK for non-2xx, Accepted.

use holdline::sip::transaction::{
    build_cancel, response_for, ClientState, Timer, TransactionError, TransactionEvent, TxId,
};
use holdline::sip::Method;

use crate::sip_transaction_support::*;

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

#[test]
fn invite_is_destroyed_64_t1_after_its_cancel_when_no_final_arrives() {
    let mut l = layer();
    let req = invite("z9hG4bKcw");
    let tx = l.send_request(ms(0), req.clone(), phone()).unwrap();
    l.handle_response(ms(100), response_for(&req, 180, Some("b1")))
        .unwrap();
    let cancel = l
        .send_request(ms(10_000), build_cancel(&req), phone())
        .unwrap();
    l.handle_response(
        ms(10_050),
        response_for(&build_cancel(&req), 200, Some("b1")),
    )
    .unwrap();
    // The callee never sends its 487: §9.1 gives up on the INVITE 64·T1 after the CANCEL.
    run_until(&mut l, ms(41_999));
    assert_eq!(l.client_state(tx), Some(ClientState::Proceeding));
    run_until(&mut l, ms(42_000));
    let evs = events(&mut l);
    assert!(evs.contains(&TransactionEvent::Timeout {
        tx: TxId::Client(tx),
        timer: Timer::CancelWait
    }));
    assert!(evs.contains(&TransactionEvent::Terminated {
        tx: TxId::Client(cancel)
    }));
    assert!(l.is_empty());
}

#[test]
fn final_response_after_cancel_disarms_the_cancel_wait() {
    let mut l = layer();
    let req = invite("z9hG4bKcw2");
    let tx = l.send_request(ms(0), req.clone(), phone()).unwrap();
    l.handle_response(ms(100), response_for(&req, 180, Some("b1")))
        .unwrap();
    l.send_request(ms(1000), build_cancel(&req), phone())
        .unwrap();
    l.handle_response(ms(1050), response_for(&build_cancel(&req), 200, Some("b1")))
        .unwrap();
    let terminated = response_for(&req, 487, Some("b1"));
    assert!(l.handle_response(ms(1100), terminated).is_some());
    assert_eq!(l.client_state(tx), Some(ClientState::Completed));
    run_until(&mut l, ms(100_000));
    assert!(events(&mut l)
        .iter()
        .all(|e| !matches!(e, TransactionEvent::Timeout { .. })));
    assert!(l.is_empty());
}

#[test]
fn transport_error_fails_only_the_transactions_on_that_connection() {
    let mut l = layer();
    let on_conn = l
        .send_request(ms(0), invite("z9hG4bKte1"), tcp_phone())
        .unwrap();
    let mut other_conn = tcp_phone();
    other_conn.conn = Some(holdline::sip::ConnId(99));
    let other = l
        .send_request(ms(0), invite("z9hG4bKte2"), other_conn)
        .unwrap();
    assert_eq!(l.handle_transport_error(tcp_phone()), 1);
    assert_eq!(
        events(&mut l),
        vec![
            TransactionEvent::TransportError {
                tx: TxId::Client(on_conn)
            },
            TransactionEvent::Terminated {
                tx: TxId::Client(on_conn)
            },
        ]
    );
    assert_eq!(l.client_state(other), Some(ClientState::Calling));
    assert_eq!(l.len(), 1);
}
