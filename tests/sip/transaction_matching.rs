//! Request matching through the layer: CANCEL (§9.2), RFC 2543 fallback (§17.2.3), Via
//! routing (§18.2, RFC 3581), and that thousands of transactions leave nothing behind.

use std::time::Duration;

use holdline::sip::header::HeaderName;
use holdline::sip::parse::{parse_datagram, Limits};
use holdline::sip::transaction::{build_cancel, response_for, RequestOutcome, ServerState};
use holdline::sip::{Message, Method, Peer, Request};

use crate::sip_transaction_support::*;

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

#[test]
fn parsed_badbranch_options_is_matched_rfc2543_style() {
    // Modelled on RFC 4475 §3.3.1 (badbranch): the branch is the bare magic cookie.
    let wire = b"OPTIONS sip:user@example.com SIP/2.0\r\n\
To: sip:user@example.com\r\n\
From: sender <sip:sender@example.com>;tag=bar\r\n\
Call-ID: badbranch.sadonfjkq@example.com\r\n\
CSeq: 8 OPTIONS\r\n\
Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK\r\n\
Max-Forwards: 70\r\n\
Content-Length: 0\r\n\r\n";
    let Message::Request(req) = parse_datagram(wire, &Limits::default()).unwrap() else {
        panic!("expected a request")
    };
    let mut l = layer();
    let from = Peer::udp("192.0.2.1:5060".parse().unwrap());
    let (tx, stamped) = new_server_tx(&mut l, req.clone(), from);
    assert_eq!(
        l.handle_request(ms(500), req, from),
        Ok(RequestOutcome::Absorbed)
    );
    l.respond(ms(600), tx, response_for(&stamped, 200, Some("x")))
        .unwrap();
    assert_eq!(l.poll_transmit().unwrap().to, from);
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
