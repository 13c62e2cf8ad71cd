//! Property test of strict RTP's latch ([`holdline::rtp::latch`]) under any interleaving of the
//! signalled peer, a NAT'd source and attackers, with any sequence numbers and SSRCs: nothing
//! but the signalled address or a full in-sequence run latches; once the signalled address
//! has spoken the latch is its own for good; every packet not accepted is counted.

use std::net::SocketAddr;

use holdline::rtp::latch::{Latch, Verdict};
use holdline::rtp::Ssrc;
use proptest::prelude::*;

const PROBATION: u16 = 4;

fn source(i: u8) -> SocketAddr {
    // 0: the signalled address; 1: another port of its host (a NAT); 2..: attackers.
    match i {
        0 => "192.0.2.7:4000".parse().unwrap(),
        1 => "192.0.2.7:61000".parse().unwrap(),
        n => SocketAddr::from(([203, 0, 113, n], 5000)),
    }
}

/// A burst of packets from one source: its SSRC, whether the first sequence number follows
/// that source's last, a random one otherwise, and how many packets (each after the first
/// follows the one before: runs long enough to latch are common).
fn burst() -> impl Strategy<Value = (u8, u32, bool, u16, u8)> {
    (0u8..5, 0u32..2, any::<bool>(), any::<u16>(), 1u8..7)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]

    #[test]
    fn only_the_signalled_address_or_a_full_run_latches(
        bursts in proptest::collection::vec(burst(), 0..30)
    ) {
        let packets = bursts.into_iter().flat_map(|(who, ssrc, follows, seq, n)| {
            (0..n).map(move |i| (who, ssrc, follows || i > 0, seq))
        });
        let mut latch = Latch::new(Some(PROBATION));
        latch.signal(Some(source(0)));
        // Per source: the last (ssrc, seq) sent, to build in-sequence runs.
        let mut last: [Option<(u32, u16)>; 5] = [None; 5];
        // The packets since the last latch, to check a NAT latch against.
        let mut history: Vec<(SocketAddr, u32, u16)> = Vec::new();
        let mut signalled_spoke = false;
        let mut dropped = 0u64;
        for (who, ssrc, follows, random_seq) in packets {
            let seq = match (follows, last[who as usize]) {
                (true, Some((s, q))) if s == ssrc => q.wrapping_add(1),
                _ => random_seq,
            };
            last[who as usize] = Some((ssrc, seq));
            let from = source(who);
            let before = latch.source();
            let verdict = latch.on_packet(from, Ssrc(ssrc), seq);
            history.push((from, ssrc, seq));
            match verdict {
                Verdict::Latched(addr) => {
                    prop_assert_eq!(addr, from);
                    if from != source(0) {
                        // A NAT latch: nothing latched before, the signalled address silent,
                        // and the last PROBATION packets one in-sequence run from it.
                        prop_assert!(before.is_none() && !signalled_spoke);
                        let run = &history[history.len() - PROBATION as usize..];
                        prop_assert!(run.iter().all(|(f, s, _)| *f == from && *s == ssrc));
                        prop_assert!(run.windows(2).all(|w| w[1].2 == w[0].2.wrapping_add(1)));
                    }
                    history.clear();
                }
                Verdict::Accept => prop_assert_eq!(before, Some(from)),
                Verdict::Probation | Verdict::Foreign => {
                    prop_assert!(from != source(0));
                    prop_assert_eq!(latch.source(), before, "a dropped packet moves nothing");
                    dropped += 1;
                }
            }
            if from == source(0) {
                signalled_spoke = true;
            }
            if signalled_spoke {
                prop_assert_eq!(latch.source(), Some(source(0)));
            }
        }
        prop_assert_eq!(latch.counters().dropped_foreign, dropped);
    }
}
