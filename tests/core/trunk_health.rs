//! Trunk SBC health on virtual time: OPTIONS to each SBC every `health_interval`, down after
//! `down_after` unanswered ones, up after `up_after` answered ones, a 503 with Retry-After
//! out for that long, and failover skipping what is down.

use std::time::Duration;

use holdline::b2bua::sbc_health::{SbcState, SbcView};
use holdline::sip::Method;
use holdline_testkit::harness::*;

use super::trunk_failover::{config_with, to, transfer_out, AMOS, SBC_A, SBC_B};

const HEALTH: &str = "health_interval = 10\ndown_after = 2\nup_after = 2";

fn harness() -> Harness {
    Harness::with_config(&config_with("+1425*", HEALTH))
}

fn sbc(h: &Harness, uri: &str) -> SbcView {
    h.core
        .trunk_health(h.now)
        .into_iter()
        .find(|s| s.uri == format!("sip:{uri}"))
        .expect("the SBC is health-checked")
}

/// Runs `secs` seconds in 100 ms steps; every OPTIONS to A gets `a` (status, extra header
/// line) after `delay`, every one to B (and to amos's phone) a 200. `None`: A stays silent. Returns the OPTIONS A got.
fn run(h: &mut Harness, secs: u64, a: Option<(u16, &str)>, delay: Duration) -> usize {
    let mut branches = std::collections::HashSet::new();
    let end = h.now + Duration::from_secs(secs);
    while h.now < end {
        // To the next timer (a probe going out) or 100 ms: the reply's delay is then exact.
        let next = h.core.poll_timeout().map_or(end, |t| t.min(end));
        let step = next
            .saturating_since(h.now)
            .clamp(Duration::from_millis(1), Duration::from_millis(100));
        h.advance(step);
        for req in to(h, SBC_B, Method::Options) {
            h.send_from(SBC_B, &reply(&req, 200, "b"));
        }
        // amos's phone answers its own probes (static contacts are probed too).
        for req in to(h, AMOS, Method::Options) {
            h.send_from(AMOS, &reply(&req, 200, "amos"));
        }
        let to_a = to(h, SBC_A, Method::Options);
        // Retransmissions (Timer E) carry the same branch: count each probe once.
        branches.extend(
            to_a.iter()
                .filter_map(|r| r.headers.get(&holdline::sip::header::HeaderName::Via))
                .map(str::to_owned),
        );
        if let (Some((status, extra)), Some(req)) = (a, to_a.last()) {
            h.advance(delay);
            let text = reply(req, status, "a").replacen('\n', &format!("\n{extra}"), 1);
            h.send_from(SBC_A, &text);
        }
    }
    branches.len()
}

#[test]
fn an_sbc_is_down_after_unanswered_probes_skipped_and_up_again_after_answers() {
    let mut h = harness();
    assert_eq!(sbc(&h, SBC_A).state, SbcState::Probing);
    // First probe of A at 5 s (the two SBCs spread over one interval), the next at 15 s;
    // each has 2 s (first_response_timeout) to be answered.
    let sent = run(&mut h, 7, None, Duration::ZERO);
    assert_eq!(sent, 1);
    assert_eq!(
        sbc(&h, SBC_A).state,
        SbcState::Probing,
        "one failure of two"
    );
    assert_eq!(sbc(&h, SBC_A).failures_in_a_row, 1);
    run(&mut h, 10, None, Duration::ZERO);
    assert_eq!(sbc(&h, SBC_A).state, SbcState::Down);
    assert_eq!(
        sbc(&h, SBC_B).state,
        SbcState::Probing,
        "one answer of two so far"
    );

    // A forward now starts at B: A is not tried at all.
    h.sent.clear();
    transfer_out(&mut h);
    assert!(to(&mut h, SBC_A, Method::Invite).is_empty());
    assert_eq!(to(&mut h, SBC_B, Method::Invite).len(), 1);

    // A answers again (after 30 ms): up after two answers, with its round-trip time.
    run(&mut h, 10, Some((200, "")), Duration::from_millis(30));
    assert_eq!(sbc(&h, SBC_A).state, SbcState::Down, "one answer of two");
    run(&mut h, 10, Some((200, "")), Duration::from_millis(30));
    let a = sbc(&h, SBC_A);
    assert_eq!(a.state, SbcState::Up);
    assert_eq!(a.rtt, Some(Duration::from_millis(30)));
    let changes: Vec<SbcState> = std::iter::from_fn(|| h.core.poll_sbc_change())
        .filter(|c| c.uri == format!("sip:{SBC_A}"))
        .map(|c| c.state)
        .collect();
    assert_eq!(changes, vec![SbcState::Down, SbcState::Up]);
}

#[test]
fn a_503_with_retry_after_takes_the_sbc_out_for_that_long() {
    let mut h = harness();
    run(&mut h, 6, Some((503, "Retry-After: 30\n")), Duration::ZERO);
    let a = sbc(&h, SBC_A);
    assert_eq!(
        a.state,
        SbcState::Probing,
        "not a failure: the SBC said when"
    );
    let until = a.retry_after_until.expect("out for Retry-After");
    assert_eq!(until.saturating_since(h.now), Duration::from_millis(29_000));
    h.sent.clear();
    transfer_out(&mut h);
    assert!(
        to(&mut h, SBC_A, Method::Invite).is_empty(),
        "skipped while out"
    );
    assert_eq!(to(&mut h, SBC_B, Method::Invite).len(), 1);

    // After 30 s it is tried again (its probes answered 200 meanwhile).
    let mut h = harness();
    run(&mut h, 6, Some((503, "Retry-After: 30\n")), Duration::ZERO);
    run(&mut h, 30, Some((200, "")), Duration::ZERO);
    assert_eq!(sbc(&h, SBC_A).retry_after_until, None);
    h.sent.clear();
    transfer_out(&mut h);
    assert_eq!(to(&mut h, SBC_A, Method::Invite).len(), 1);
}

#[test]
fn a_503_without_retry_after_is_a_failure_and_any_other_answer_proves_the_sbc() {
    let mut h = harness();
    run(&mut h, 16, Some((503, "")), Duration::ZERO);
    assert_eq!(sbc(&h, SBC_A).state, SbcState::Down);
    let mut h = harness();
    run(&mut h, 16, Some((405, "")), Duration::ZERO);
    assert_eq!(
        sbc(&h, SBC_A).state,
        SbcState::Up,
        "a 405 comes from the SBC"
    );
}

#[test]
fn without_health_interval_nothing_is_probed() {
    let mut h = Harness::with_config(&config_with("+1425*", ""));
    assert!(h.core.trunk_health(h.now).is_empty());
    h.advance(Duration::from_secs(60));
    assert!(to(&mut h, SBC_A, Method::Options).is_empty());
}

#[test]
fn a_huge_retry_after_is_capped_at_an_hour_and_an_answered_probe_ends_it() {
    let mut h = harness();
    run(
        &mut h,
        6,
        Some((503, "Retry-After: 4294967295\n")),
        Duration::ZERO,
    );
    let until = sbc(&h, SBC_A)
        .retry_after_until
        .expect("out for Retry-After");
    assert!(
        until.saturating_since(h.now) <= Duration::from_secs(3600),
        "{:?}",
        until.saturating_since(h.now)
    );
    // The next probe is answered: the SBC serves again at once, whatever the 503 asked for.
    run(&mut h, 11, Some((200, "")), Duration::ZERO);
    assert_eq!(sbc(&h, SBC_A).retry_after_until, None);
    h.sent.clear();
    transfer_out(&mut h);
    assert_eq!(to(&mut h, SBC_A, Method::Invite).len(), 1);
}
