//! The media plane with SRTP keys (SDES, negotiated elsewhere): what it sends is SRTP under our
//! key and decrypts to the prompts' bytes; what it receives counts only when it authenticates
//! under the peer's key (a forged RFC 4733 digit is never reported, a genuine one is); new keys
//! from a re-negotiation take effect, and plain RTP again when SRTP ends.
#![allow(clippy::disallowed_methods)] // Real sockets on the real clock.

use std::time::Duration;

use crate::rtp_support::*;
use holdline::b2bua::CallHandle;
use holdline::rtp::srtp::{Keying, Protector, Suite, Unprotector};
use holdline::runtime::media::{MediaEvent, MediaPlane};
use holdline::sip::sdp::{CryptoSuite, Direction, MasterKey, NegotiatedMedia, SdesKeys};
use tokio::net::UdpSocket;
use tokio::time::timeout;

fn keying(key: &MasterKey) -> Keying<'_> {
    Keying {
        suite: Suite::AesCm128HmacSha1_80,
        key: key.key(),
        salt: key.salt(),
    }
}

fn with_keys(media: NegotiatedMedia, ours: u8, theirs: u8) -> NegotiatedMedia {
    NegotiatedMedia {
        srtp: Some(SdesKeys {
            suite: CryptoSuite::AesCm128HmacSha1_80,
            ours: MasterKey::new([ours; 30]),
            theirs: MasterKey::new([theirs; 30]),
        }),
        ..media
    }
}

async fn datagram(sock: &UdpSocket) -> Vec<u8> {
    let mut buf = [0u8; 1500];
    let (n, _) = timeout(Duration::from_secs(2), sock.recv_from(&mut buf))
        .await
        .expect("a datagram within 2 s")
        .unwrap();
    buf[..n].to_vec()
}

/// An RFC 4733 event packet for `digit` (end bit set), sequence `seq`.
fn dtmf(digit: u8, seq: u16) -> Vec<u8> {
    rtp(
        101,
        seq,
        16_000 + u32::from(seq) * 160,
        &[digit, 0x8a, 0x01, 0xe0],
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn srtp_stream_is_protected_and_only_authentic_packets_count() {
    let (mut plane, mut events) = MediaPlane::start(config(true, None));
    let caller = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let port = free_port_pair();
    let call = CallHandle(41);
    let plain = media(caller.local_addr().unwrap(), None, Direction::SendRecv);
    plane.start_call(call, port, Some(with_keys(plain.clone(), 1, 2)), prompts());

    // What we receive is SRTP under our key (1) and decrypts to the greeting's bytes.
    let mut open = Unprotector::new(keying(&MasterKey::new([1; 30]))).unwrap();
    let first = datagram(&caller).await;
    assert_eq!(
        first.len(),
        12 + 160 + 10,
        "header, 20 ms of PCMU, 80-bit tag"
    );
    assert_ne!(first[12..172], greeting()[..160], "encrypted on the wire");
    let clear = open.rtp(&first).expect("authenticates under our key");
    assert_eq!(clear[12..], greeting()[..160], "the greeting's first 20 ms");
    let second = open.rtp(&datagram(&caller).await).unwrap();
    assert_eq!(second[12..], greeting()[160..320]);

    // The caller's digits: a forged one (wrong key) is dropped, a genuine one reported.
    let to = ("127.0.0.1", port);
    let mut forger = Protector::new(keying(&MasterKey::new([3; 30]))).unwrap();
    let mut seal = Protector::new(keying(&MasterKey::new([2; 30]))).unwrap();
    for seq in 1..4 {
        caller
            .send_to(&forger.rtp(&dtmf(1, seq)).unwrap(), to)
            .await
            .unwrap();
    }
    for seq in 4..7 {
        caller
            .send_to(&seal.rtp(&dtmf(9, seq)).unwrap(), to)
            .await
            .unwrap();
    }
    let event = timeout(Duration::from_secs(2), events.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        event,
        MediaEvent::Dtmf { call, digit: '9' },
        "not the forged 1"
    );

    // Re-negotiated with a new key of ours: the stream switches to it.
    plane.update_media(call, with_keys(plain.clone(), 5, 2));
    let mut reopened = Unprotector::new(keying(&MasterKey::new([5; 30]))).unwrap();
    let mut switched = false;
    for _ in 0..50 {
        if reopened.rtp(&datagram(&caller).await).is_ok() {
            switched = true;
            break;
        }
    }
    assert!(switched, "packets under the new key within a second");

    // SRTP off: plain RTP again.
    plane.update_media(call, plain);
    let mut plain_seen = false;
    for _ in 0..50 {
        if datagram(&caller).await.len() == 12 + 160 {
            plain_seen = true;
            break;
        }
    }
    assert!(plain_seen, "plain RTP after SRTP ended");
    plane.end_call(call).unwrap().await.unwrap();
}
