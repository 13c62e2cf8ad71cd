//! The pacer's tests: scheduling without drift, bursts after a stall, pausing and resuming,
//! on virtual time.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::super::packet::parse;
use super::super::stream::{Law, Source};
use super::*;

const PCMU_20: Format = Format {
    payload_type: 0,
    ptime_ms: 20,
    law: Law::Ulaw,
};

fn dest() -> Option<SocketAddr> {
    Some("192.0.2.1:4000".parse().unwrap())
}

fn new_stream(seed: u64) -> OutgoingStream {
    OutgoingStream::new(&mut StdRng::seed_from_u64(seed), PCMU_20, Source::Silence)
}

/// (due, seq, ts, marker) of each packet sent by one poll.
fn poll(p: &mut Pacer<u32>, now: Time) -> Vec<(Time, u16, u32, bool)> {
    let mut v = Vec::new();
    p.poll(now, |ctx, o| {
        *ctx += 1;
        let h = parse(o.packet).unwrap();
        v.push((o.due, h.sequence, h.timestamp, h.marker));
    });
    v
}

#[test]
fn pacer_schedule_has_no_drift_over_an_hour() {
    let mut p = Pacer::new(3);
    let start = Time::from_millis(7);
    let id = p.add(start, new_stream(1), 0u32, dest(), true);
    let mut rng = StdRng::seed_from_u64(2);
    let mut now = start;
    let mut count = 0u64;
    let mut first_ts = None;
    let hour = Duration::from_secs(3600);
    while now < start + hour {
        for (due, _, ts, _) in poll(&mut p, now) {
            // Packet k is due exactly at start + k·20 ms, whatever the tick pattern.
            assert_eq!(due, start + Duration::from_millis(20 * count));
            let first = *first_ts.get_or_insert(ts);
            assert_eq!(ts.wrapping_sub(first), (160 * count) as u32);
            count += 1;
        }
        // Ticks of 2–5 ms with microsecond jitter.
        now += Duration::from_micros(rng.gen_range(2000..5000));
    }
    assert_eq!(count, 3600 * 50);
    assert_eq!(*p.ctx_mut(id).unwrap(), 180_000);
}

#[test]
fn pacer_bursts_at_most_three_after_stall() {
    let mut p = Pacer::new(3);
    p.add(Time::ZERO, new_stream(1), 0, dest(), true);
    let first = poll(&mut p, Time::ZERO);
    assert_eq!(first.len(), 1);
    // Stalled for a second: 50 packets owed, only the 3 newest go out.
    let burst = poll(&mut p, Time::from_millis(1000));
    assert_eq!(burst.len(), 3);
    let dues: Vec<_> = burst.iter().map(|b| b.0).collect();
    assert_eq!(
        dues,
        [960, 980, 1000].map(Time::from_millis).to_vec(),
        "the most recent packets"
    );
    // No sequence gap; the timestamp matches the due time; marker on the first after the gap.
    assert_eq!(burst[0].1, first[0].1.wrapping_add(1));
    assert_eq!(burst[0].2, first[0].2.wrapping_add(960 * 8));
    assert!(burst[0].3 && !burst[1].3);
    // And back on schedule.
    assert!(poll(&mut p, Time::from_millis(1019)).is_empty());
    assert_eq!(poll(&mut p, Time::from_millis(1020)).len(), 1);
}

#[test]
fn short_delay_within_burst_sends_everything_owed() {
    let mut p = Pacer::new(3);
    p.add(Time::ZERO, new_stream(1), 0, dest(), true);
    poll(&mut p, Time::ZERO);
    let late = poll(&mut p, Time::from_millis(45));
    assert_eq!(late.len(), 2);
    assert!(late.iter().all(|l| !l.3));
}

#[test]
fn paused_stream_sends_nothing_and_resumes_with_marker_and_time() {
    let mut p = Pacer::new(3);
    let id = p.add(Time::ZERO, new_stream(1), 0, dest(), true);
    let a = poll(&mut p, Time::ZERO);
    p.set_sending(id, Time::from_millis(10), false);
    assert_eq!(p.next_deadline(), None);
    assert!(poll(&mut p, Time::from_millis(5000)).is_empty());
    p.set_sending(id, Time::from_millis(5010), true);
    let b = poll(&mut p, Time::from_millis(5010));
    assert_eq!(b.len(), 1);
    assert!(b[0].3);
    assert_eq!(b[0].1, a[0].1.wrapping_add(1));
    assert_eq!(b[0].2, a[0].2.wrapping_add(5010 * 8));
}

#[test]
fn streams_start_on_the_grid_so_ticks_batch_them() {
    let mut p = Pacer::new(3).with_grid(Duration::from_millis(2));
    let at = |ms: u64, us: u64| Time::from_epoch(Duration::from_micros(ms * 1000 + us));
    let a = p.add(at(1, 1), new_stream(1), 0u32, dest(), true);
    assert_eq!(p.next_deadline(), Some(Time::from_millis(2)));
    assert_eq!(p.poll(Time::from_millis(2), |_, _| {}), 1);
    // Resuming after hold lands on the grid too, never before the packet that was next.
    p.set_sending(a, at(10, 0), false);
    p.set_sending(a, at(20, 500), true);
    assert_eq!(p.next_deadline(), Some(Time::from_millis(22)));
    p.set_sending(a, at(22, 0), false);
    // 30.5 ms rounds up to 32 ms.
    p.set_sending(a, at(30, 500), true);
    assert_eq!(p.next_deadline(), Some(Time::from_millis(32)));
    assert_eq!(p.poll(Time::from_millis(32), |_, _| {}), 1);
    assert_eq!(p.next_deadline(), Some(Time::from_millis(52)));
}

#[test]
fn streams_arriving_together_spread_over_the_ticks_of_a_packet_time() {
    let mut p = Pacer::new(3).with_grid(Duration::from_millis(2));
    // 100 streams in step with the packet time: every 20 ms, or all at once; the shard
    // ticks every 2 ms.
    for tick in 0..500 {
        let now = Time::from_millis(tick * 2);
        if tick % 10 == 0 {
            p.add(now, new_stream(tick), 0u32, dest(), true);
        }
        p.poll(now, |_, _| {});
    }
    let now = Time::from_millis(1000);
    for i in 50..100 {
        p.add(now, new_stream(i), 0u32, dest(), true);
    }
    // Over one packet time each 2 ms tick sends 10 of the 100 packets.
    let mut per_tick = Vec::new();
    for k in 0..10 {
        per_tick.push(p.poll(now + Duration::from_millis(2 * k), |_, _| {}));
    }
    assert_eq!(per_tick, vec![10; 10]);
    // And a stream still sends once per packet time, from a tick of its first packet time.
    assert_eq!(p.next_deadline(), Some(now + Duration::from_millis(20)));
}

#[test]
fn stream_without_destination_waits_for_one() {
    let mut p = Pacer::new(3);
    let id = p.add(Time::ZERO, new_stream(1), 0, None, true);
    assert_eq!(p.next_deadline(), None);
    p.set_dest(id, Time::from_millis(30), dest());
    assert_eq!(p.next_deadline(), Some(Time::from_millis(30)));
    assert_eq!(poll(&mut p, Time::from_millis(30)).len(), 1);
}

#[test]
fn ptime_change_keeps_next_due_and_spacing_follows() {
    let mut p = Pacer::new(3);
    let id = p.add(Time::ZERO, new_stream(1), 0, dest(), true);
    poll(&mut p, Time::ZERO);
    p.set_format(
        id,
        Format {
            ptime_ms: 30,
            ..PCMU_20
        },
    );
    assert_eq!(p.next_deadline(), Some(Time::from_millis(20)));
    let a = poll(&mut p, Time::from_millis(20));
    assert_eq!(p.next_deadline(), Some(Time::from_millis(50)));
    let b = poll(&mut p, Time::from_millis(50));
    assert_eq!(b[0].2.wrapping_sub(a[0].2), 240);
}

#[test]
fn removed_stream_leaves_schedule_and_stale_id_is_ignored() {
    let mut p = Pacer::new(3);
    let a = p.add(Time::ZERO, new_stream(1), 0, dest(), true);
    assert!(p.remove(a).is_some());
    assert_eq!(p.next_deadline(), None);
    assert!(p.is_empty());
    let b = p.add(Time::ZERO, new_stream(2), 0, dest(), true);
    assert!(
        p.remove(a).is_none(),
        "stale id must not remove the new stream"
    );
    assert!(p.is_active(b));
    assert_eq!(p.len(), 1);
}

#[test]
fn many_streams_each_send_once_per_ptime() {
    let mut p = Pacer::new(3);
    let ids: Vec<_> = (0..1000)
        .map(|i| {
            p.add(
                Time::from_epoch(Duration::from_micros(i * 20)),
                new_stream(i),
                0u32,
                dest(),
                true,
            )
        })
        .collect();
    let mut now = Time::ZERO;
    while now <= Time::from_millis(1002) {
        p.poll(now, |ctx, _| *ctx += 1);
        now += Duration::from_millis(3);
    }
    for id in ids {
        let sent = *p.ctx_mut(id).unwrap();
        assert!((50..=51).contains(&sent), "{sent}");
    }
}

#[test]
fn rtp_timestamp_at_follows_the_clock() {
    let mut p = Pacer::new(3);
    let id = p.add(Time::ZERO, new_stream(1), 0, dest(), true);
    let a = poll(&mut p, Time::ZERO);
    assert_eq!(
        p.rtp_timestamp_at(id, Time::from_millis(5)),
        Some(a[0].2.wrapping_add(40))
    );
    p.set_sending(id, Time::from_millis(10), false);
    assert_eq!(
        p.rtp_timestamp_at(id, Time::from_millis(1000)),
        Some(a[0].2.wrapping_add(8000))
    );
}
