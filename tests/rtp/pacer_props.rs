//! Property test: whatever the tick pattern, holds, resumes, destination and packet-time
//! changes, a stream's packets keep the RTP invariants a receiver relies on.

use std::net::SocketAddr;
use std::time::Duration;

use holdline::rtp::pacer::Pacer;
use holdline::rtp::packet;
use holdline::rtp::stream::{samples_in, Format, Law, OutgoingStream, Source};
use holdline::time::Time;
use proptest::prelude::*;
use rand::rngs::StdRng;
use rand::SeedableRng;

#[derive(Clone, Debug)]
enum Op {
    /// Advance the clock by this many microseconds, then poll.
    Poll(u64),
    Sending(bool),
    Dest(bool),
    Ptime(u32),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (0u64..300_000).prop_map(Op::Poll),
        1 => any::<bool>().prop_map(Op::Sending),
        1 => any::<bool>().prop_map(Op::Dest),
        1 => (1u32..=6).prop_map(|p| Op::Ptime(p * 10)),
    ]
}

struct Sent {
    due: Time,
    marker: bool,
    seq: u16,
    ts: u32,
    ptime: Duration,
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    #[test]
    fn pacer_keeps_rtp_invariants_under_any_schedule(ops in proptest::collection::vec(op(), 1..80),
                                                     grid_ms in 0u64..3) {
        let format = Format { payload_type: 0, ptime_ms: 20, law: Law::Ulaw };
        let stream = OutgoingStream::new(&mut StdRng::seed_from_u64(1), format, Source::Silence);
        let mut pacer: Pacer<()> = Pacer::new(3).with_grid(Duration::from_millis(grid_ms));
        let dest: SocketAddr = "192.0.2.1:4000".parse().unwrap();
        let mut now = Time::from_millis(1);
        let id = pacer.add(now, stream, (), Some(dest), true);
        let mut ptime = Duration::from_millis(20);
        let mut sent: Vec<Sent> = Vec::new();
        for op in ops {
            match op {
                Op::Poll(us) => {
                    now += Duration::from_micros(us);
                    let mut this_poll = 0;
                    pacer.poll(now, |_, out| {
                        let p = packet::parse(out.packet).unwrap();
                        assert!(out.due <= now);
                        this_poll += 1;
                        sent.push(Sent { due: out.due, marker: p.marker, seq: p.sequence,
                                         ts: p.timestamp, ptime: Duration::ZERO });
                    });
                    prop_assert!(this_poll <= 3, "burst of {} packets", this_poll);
                    // Every packet sent in this poll was sent with the current packet time.
                    let n = sent.len();
                    for s in &mut sent[n - this_poll..] { s.ptime = ptime; }
                }
                Op::Sending(on) => pacer.set_sending(id, now, on),
                Op::Dest(on) => pacer.set_dest(id, now, on.then_some(dest)),
                Op::Ptime(ms) => {
                    pacer.set_format(id, Format { ptime_ms: ms, ..format });
                    ptime = Duration::from_millis(u64::from(ms));
                }
            }
            // Nothing is ever owed beyond `now` + a packet time (the schedule never runs away).
            if let Some(next) = pacer.next_deadline() {
                prop_assert!(next <= now + Duration::from_millis(62));
            }
        }
        prop_assert!(sent.first().is_none_or(|s| s.marker), "marker on the first packet");
        for w in sent.windows(2) {
            let (a, b) = (&w[0], &w[1]);
            prop_assert_eq!(b.seq, a.seq.wrapping_add(1), "no sequence gaps");
            prop_assert!(b.due > a.due, "due times increase");
            // The timestamp follows the clock exactly (RFC 3550 §5.1).
            prop_assert_eq!(b.ts.wrapping_sub(a.ts), samples_in(b.due - a.due));
            // A gap in time is always flagged with the marker (RFC 3551 §4.1).
            if !b.marker {
                prop_assert_eq!(b.due - a.due, a.ptime);
            }
        }
    }
}
