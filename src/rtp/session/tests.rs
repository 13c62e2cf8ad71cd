use super::*;

type P = Party<u32, u32>;
type W = Wiring<u32, u32>;

const CALLER: P = Party::Caller(1);
const AGENT: P = Party::Agent(10);

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

fn pcmu(remote: &str) -> Media {
    let remote = addr(remote);
    Media {
        remote: Some(remote),
        remote_rtcp: Some(SocketAddr::new(remote.ip(), remote.port() + 1)),
        law: Law::Ulaw,
        payload_type: 0,
        dtmf_payload_type: Some(101),
        ptime_ms: 20,
        send: true,
        receive: true,
        held: false,
    }
}

fn pcma(remote: &str) -> Media {
    Media {
        law: Law::Alaw,
        payload_type: 8,
        dtmf_payload_type: Some(96),
        ..pcmu(remote)
    }
}

/// The peer holds us with `a=sendonly`: we only receive.
fn held(m: Media) -> Media {
    Media {
        send: false,
        held: true,
        ..m
    }
}

fn drain(s: &mut Sessions<u32, u32>) -> Vec<W> {
    std::iter::from_fn(|| s.poll_wiring()).collect()
}

fn reading(m: &Media) -> Reading {
    Reading {
        payload_type: m.payload_type,
        law: m.law,
        dtmf_payload_type: m.dtmf_payload_type,
    }
}

fn detached(party: P, read: Reading) -> Vec<W> {
    vec![
        Wiring::Tap {
            party,
            into: None,
            read,
        },
        Wiring::Play {
            party,
            relay: false,
        },
        Wiring::DropInbox { party },
    ]
}

/// The wiring of a bridge between a PCMU caller and a PCMA agent (`agent_holds` or not).
fn wired(caller: &Media, agent: &Media, agent_holds: bool) -> Vec<W> {
    vec![
        Wiring::Inbox {
            party: CALLER,
            law: caller.law,
            dtmf_payload_type: caller.dtmf_payload_type,
        },
        Wiring::Inbox {
            party: AGENT,
            law: agent.law,
            dtmf_payload_type: agent.dtmf_payload_type,
        },
        Wiring::Tap {
            party: AGENT,
            into: (!agent_holds).then_some(CALLER),
            read: reading(agent),
        },
        Wiring::Tap {
            party: CALLER,
            into: Some(AGENT),
            read: reading(caller),
        },
        Wiring::Play {
            party: CALLER,
            relay: !agent_holds,
        },
        Wiring::Play {
            party: AGENT,
            relay: true,
        },
    ]
}

/// A caller and an agent with streams, bridged, the wiring drained.
fn bridged() -> (Sessions<u32, u32>, Media, Media) {
    let (c, a) = (pcmu("198.51.100.7:30000"), pcma("198.51.100.20:40000"));
    let mut s = Sessions::new();
    s.start(CALLER, Some(c));
    s.start(AGENT, Some(a));
    s.bridge(1, 10);
    assert_eq!(drain(&mut s), wired(&c, &a, false));
    (s, c, a)
}

#[test]
fn late_offer_sends_nothing_and_receives_pcmu_on_our_offers_terms() {
    let mut s = Sessions::<u32, u32>::new();
    let setup = s.start(CALLER, None);
    assert_eq!(
        setup.format,
        Format {
            payload_type: 0,
            ptime_ms: 20,
            law: Law::Ulaw
        }
    );
    assert_eq!(setup.target, Target::default(), "nowhere to send yet");
    assert_eq!(
        setup.expect,
        Expect {
            payload_type: 0,
            dtmf_payload_type: None,
            receiving: true
        }
    );
    // The ACK's answer arrives: from then on the stream sends as negotiated.
    let answer = pcma("198.51.100.7:30000");
    let setup = s.update(CALLER, answer).unwrap();
    assert!(setup.law_changed, "the prompts go over to A-law");
    assert_eq!(setup.format.payload_type, 8);
    assert!(setup.target.sending && !setup.target.reset_latch);
}

#[test]
fn negotiated_media_sets_format_destinations_and_expectations() {
    let mut s = Sessions::<u32, u32>::new();
    let media = Media {
        ptime_ms: 30,
        ..pcma("198.51.100.7:30000")
    };
    let setup = s.start(AGENT, Some(media));
    assert_eq!(
        setup.format,
        Format {
            payload_type: 8,
            ptime_ms: 30,
            law: Law::Alaw
        }
    );
    assert_eq!(
        setup.target,
        Target {
            rtp: Some(addr("198.51.100.7:30000")),
            rtcp: Some(addr("198.51.100.7:30001")),
            sending: true,
            reset_latch: false,
        }
    );
    assert_eq!(
        setup.expect,
        Expect {
            payload_type: 8,
            dtmf_payload_type: Some(96),
            receiving: true
        }
    );
    assert!(!setup.law_changed);
}

#[test]
fn hold_with_zero_address_stops_sending_and_resume_to_the_same_address_keeps_the_latch() {
    let mut s = Sessions::<u32, u32>::new();
    let media = pcmu("198.51.100.7:30000");
    s.start(CALLER, Some(media));
    // RFC 3264 §8.4: `c=0.0.0.0` (and our direction recvonly).
    let hold = Media {
        remote: None,
        remote_rtcp: None,
        ..held(media)
    };
    let setup = s.update(CALLER, hold).unwrap();
    assert!(!setup.target.sending && !setup.target.reset_latch);
    assert!(setup.expect.receiving);
    let setup = s.update(CALLER, media).unwrap();
    assert!(setup.target.sending);
    assert!(!setup.target.reset_latch, "the held stream did not move");
}

#[test]
fn inactive_stops_sending_and_expects_nothing() {
    let mut s = Sessions::<u32, u32>::new();
    s.start(CALLER, Some(pcmu("198.51.100.7:30000")));
    let inactive = Media {
        send: false,
        receive: false,
        held: true,
        ..pcmu("198.51.100.7:30000")
    };
    let setup = s.update(CALLER, inactive).unwrap();
    assert!(!setup.target.sending);
    assert!(!setup.expect.receiving, "no RTP timeout while inactive");
}

#[test]
fn a_new_address_resets_the_latch() {
    let mut s = Sessions::<u32, u32>::new();
    s.start(CALLER, Some(pcmu("198.51.100.7:30000")));
    let setup = s.update(CALLER, pcmu("203.0.113.9:31000")).unwrap();
    assert!(setup.target.reset_latch, "the peer moved");
    assert_eq!(setup.target.rtp, Some(addr("203.0.113.9:31000")));
    assert!(!setup.law_changed);
    let setup = s.update(CALLER, pcmu("203.0.113.9:31000")).unwrap();
    assert!(!setup.target.reset_latch, "the same address again");
}

#[test]
fn update_without_a_stream_is_ignored() {
    let mut s = Sessions::<u32, u32>::new();
    assert_eq!(s.update(CALLER, pcmu("198.51.100.7:30000")), None);
    s.start(CALLER, None);
    s.end(CALLER);
    assert!(!s.has_stream(CALLER));
    assert_eq!(s.update(CALLER, pcmu("198.51.100.7:30000")), None);
}

#[test]
fn a_bridge_waits_for_both_streams_then_wires_both_ways() {
    let (c, a) = (pcmu("198.51.100.7:30000"), pcma("198.51.100.20:40000"));
    let mut s = Sessions::new();
    s.bridge(1, 10);
    assert_eq!(drain(&mut s), vec![], "neither side has a stream");
    s.start(CALLER, Some(c));
    assert_eq!(drain(&mut s), vec![], "the agent's leg has no stream yet");
    s.start(AGENT, Some(a));
    // Each side's queue plays out in its own law: PCMU ⇄ PCMA is transcoded on the way in.
    assert_eq!(drain(&mut s), wired(&c, &a, false));
}

#[test]
fn the_agent_holding_plays_the_callers_music_and_resuming_relays_again() {
    let (mut s, c, a) = bridged();
    let setup = s.update(AGENT, held(a)).unwrap();
    assert!(!setup.target.sending);
    assert_eq!(drain(&mut s), wired(&c, &held(a), true));
    s.update(AGENT, a).unwrap();
    assert_eq!(drain(&mut s), wired(&c, &a, false));
}

#[test]
fn the_caller_holding_keeps_the_bridge_wired() {
    let (mut s, c, a) = bridged();
    s.update(CALLER, held(c)).unwrap();
    assert_eq!(drain(&mut s), wired(&held(c), &a, false));
}

#[test]
fn a_codec_change_rewires_the_queues_in_the_new_law() {
    let (mut s, _, a) = bridged();
    let c = pcma("198.51.100.7:30000");
    assert!(s.update(CALLER, c).unwrap().law_changed);
    assert_eq!(drain(&mut s), wired(&c, &a, false));
}

#[test]
fn bridging_to_another_leg_lets_the_old_one_go() {
    let (mut s, c, a) = bridged();
    let other = Party::Agent(11);
    let b = pcmu("198.51.100.21:40000");
    s.start(other, Some(b));
    s.bridge(1, 11);
    let mut expected = detached(AGENT, reading(&a));
    expected.extend(wired(&c, &b, false).into_iter().map(|w| match w {
        Wiring::Inbox {
            party: AGENT,
            law,
            dtmf_payload_type,
        } => Wiring::Inbox {
            party: other,
            law,
            dtmf_payload_type,
        },
        Wiring::Tap {
            party: AGENT,
            into,
            read,
        } => Wiring::Tap {
            party: other,
            into,
            read,
        },
        Wiring::Tap {
            party,
            into: Some(AGENT),
            read,
        } => Wiring::Tap {
            party,
            into: Some(other),
            read,
        },
        Wiring::Play {
            party: AGENT,
            relay,
        } => Wiring::Play {
            party: other,
            relay,
        },
        w => w,
    }));
    assert_eq!(drain(&mut s), expected);
}

#[test]
fn unbridging_puts_both_sides_back_on_their_own_prompts() {
    let (mut s, c, a) = bridged();
    s.unbridge(1);
    let mut expected = detached(CALLER, reading(&c));
    expected.extend(detached(AGENT, reading(&a)));
    assert_eq!(drain(&mut s), expected);
    s.unbridge(1);
    assert_eq!(drain(&mut s), vec![], "nothing left to undo");
}

#[test]
fn the_leg_ending_puts_the_caller_back_on_its_music() {
    let (mut s, c, _) = bridged();
    s.end(AGENT);
    assert_eq!(drain(&mut s), detached(CALLER, reading(&c)));
    // A new agent's leg is not wired to the caller until the core bridges it.
    s.start(AGENT, Some(pcma("198.51.100.20:40000")));
    assert_eq!(drain(&mut s), vec![]);
}

#[test]
fn the_caller_ending_lets_the_agent_go() {
    let (mut s, _, a) = bridged();
    s.end(CALLER);
    assert_eq!(drain(&mut s), detached(AGENT, reading(&a)));
    assert!(!s.has_stream(CALLER) && s.has_stream(AGENT));
}

#[test]
fn a_bridged_side_starting_over_is_wired_again() {
    let (mut s, c, _) = bridged();
    let a = pcmu("198.51.100.20:40002");
    s.start(AGENT, Some(a));
    assert_eq!(drain(&mut s), wired(&c, &a, false));
}
