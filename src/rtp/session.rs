//! The media plane's decisions, sans-IO: for every party with media (a caller, an answered
//! agent leg), what its stream sends, where to and whether, what its receive side accepts, and,
//! while a caller is bridged to an agent leg, how the two are wired. The runtime's media plane
//! owns the sockets, threads and relay buffers and carries out what [`Sessions`] says.
//!
//! Inputs are offer/answer outcomes in RTP's own terms ([`Media`]; the runtime converts them
//! from SDP) and the core's commands: a party's stream starts, its media changes, a bridge is
//! made or broken, a party ends. What comes out:
//!
//! - **SDP → RTP** ([`Setup`]): the stream's [`Format`], its [`Target`] and the receive side's
//!   [`Expect`]. A late offer (no media yet) sends nothing and receives PCMU on our offer's
//!   terms. A hold with `c=0.0.0.0` (RFC 3264 §8.4) stops sending but keeps the last address,
//!   so a resume to the same address keeps the symmetric-RTP latch; a new address means the
//!   peer moved (a transfer, another SBC leg), and the latch is reset (RFC 4961). A change of
//!   G.711 law swaps the prompts' buffers so positions carry on.
//! - **Bridge wiring** ([`Wiring`]), once both sides have a stream: each side gets a relay
//!   queue in its own law and telephone-event type, each side's received media goes into the
//!   other side's queue, and each stream plays its own queue (see [`super::relay`]). While the
//!   agent holds the caller (its SDP says `sendonly`/`inactive`), what the agent's phone sends
//!   (its own music) is not relayed and the caller's stream plays its prompts again, from
//!   where they left off. Leaving a bridge (unbridge, a re-bridge to another leg, a side
//!   ending) puts a side back on its prompts with no tap and forgets its queue.
//!
//! Not here: what to play (the runtime picks the prompts), sockets, threads, the relay buffers
//! themselves, pacing ([`super::pacer`]).

use std::collections::{HashMap, VecDeque};
use std::fmt::Debug;
use std::hash::Hash;
use std::net::SocketAddr;

use super::inbound::Expect;
use super::stream::{Format, Law};

/// What the runtime names a caller or an agent leg with.
pub trait PartyId: Copy + Eq + Hash + Debug {}

impl<T: Copy + Eq + Hash + Debug> PartyId for T {}

/// Whose media a stream carries: a caller's, or an agent leg's.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Party<C, A> {
    Caller(C),
    Agent(A),
}

/// An offer/answer outcome, as RTP needs it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Media {
    /// Where to send RTP; `None` while held with `c=0.0.0.0`, or when the stream was removed.
    pub remote: Option<SocketAddr>,
    /// Where to send RTCP.
    pub remote_rtcp: Option<SocketAddr>,
    pub law: Law,
    /// The payload type we send (and expect) the audio with.
    pub payload_type: u8,
    /// The telephone-event payload type (RFC 4733), when both sides use it.
    pub dtmf_payload_type: Option<u8>,
    pub ptime_ms: u32,
    /// The negotiated direction lets us send.
    pub send: bool,
    /// The negotiated direction lets the peer send to us.
    pub receive: bool,
    /// The peer put us on hold (`sendonly`, `inactive` or `c=0.0.0.0` from it).
    pub held: bool,
}

/// Where a stream sends, from SDP.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Target {
    pub rtp: Option<SocketAddr>,
    pub rtcp: Option<SocketAddr>,
    /// Whether to send at all (the direction allows it and there is an address).
    pub sending: bool,
    /// The SDP address moved: forget the latched source addresses.
    pub reset_latch: bool,
}

/// A party's stream and receive side, as set up or changed by a negotiation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Setup {
    pub format: Format,
    pub target: Target,
    pub expect: Expect,
    /// The G.711 law changed: the stream's prompts go over to the other law's buffers.
    pub law_changed: bool,
}

/// How a party's received RTP is read when it is relayed: its own negotiated types.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Reading {
    pub payload_type: u8,
    pub law: Law,
    pub dtmf_payload_type: Option<u8>,
}

/// One step of wiring a bridge, for the runtime to carry out in order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Wiring<C, A> {
    /// `party`'s relay queue (what its stream plays while bridged), created when it has none,
    /// plays out in `law` with `dtmf_payload_type` for relayed telephone-events.
    Inbox {
        party: Party<C, A>,
        law: Law,
        dtmf_payload_type: Option<u8>,
    },
    /// What `party` receives goes into `into`'s relay queue (`None`: nowhere), read as `read`.
    Tap {
        party: Party<C, A>,
        into: Option<Party<C, A>>,
        read: Reading,
    },
    /// `party`'s stream plays its relay queue (`relay`), or its own prompts again.
    Play { party: Party<C, A>, relay: bool },
    /// `party` left its bridge: its relay queue is dropped (a fresh one next time).
    DropInbox { party: Party<C, A> },
}

/// A party's negotiated state.
#[derive(Clone, Copy, Debug)]
struct Side {
    /// `None` until a late offer is answered.
    media: Option<Media>,
    /// The last SDP address given: a hold with `c=0.0.0.0` does not forget it.
    last_remote: Option<SocketAddr>,
}

/// The media decisions for every party with a stream, and the bridges between them.
#[derive(Debug)]
pub struct Sessions<C, A> {
    sides: HashMap<Party<C, A>, Side>,
    /// Callers bridged to an agent leg (either may have no stream yet).
    bridges: HashMap<C, A>,
    wiring: VecDeque<Wiring<C, A>>,
}

impl<C: PartyId, A: PartyId> Default for Sessions<C, A> {
    fn default() -> Self {
        Sessions {
            sides: HashMap::new(),
            bridges: HashMap::new(),
            wiring: VecDeque::new(),
        }
    }
}

impl<C: PartyId, A: PartyId> Sessions<C, A> {
    pub fn new() -> Self {
        Self::default()
    }

    /// `party`'s stream starts (or starts over) with `media`, `None` for a late offer. A
    /// bridge waiting for this side is wired now.
    pub fn start(&mut self, party: Party<C, A>, media: Option<Media>) -> Setup {
        let side = Side {
            media,
            last_remote: media.and_then(|m| m.remote),
        };
        self.sides.insert(party, side);
        if let Some(call) = self.bridged_call(party) {
            self.rewire(call);
        }
        Setup {
            format: format_of(media.as_ref()),
            target: target_of(media.as_ref(), false),
            expect: expect_of(media.as_ref()),
            law_changed: false,
        }
    }

    /// A new offer/answer outcome for `party`: hold, resume, a new address, codec or packet
    /// time. `None` when `party` has no stream.
    pub fn update(&mut self, party: Party<C, A>, media: Media) -> Option<Setup> {
        let side = self.sides.get_mut(&party)?;
        let old_law = format_of(side.media.as_ref()).law;
        // A new SDP address means the peer moved: the latched source belongs to the old one.
        let moved = matches!(
            (side.last_remote, media.remote),
            (Some(old), Some(new)) if old != new
        );
        side.last_remote = media.remote.or(side.last_remote);
        side.media = Some(media);
        if let Some(call) = self.bridged_call(party) {
            self.rewire(call);
        }
        Some(Setup {
            format: format_of(Some(&media)),
            target: target_of(Some(&media), moved),
            expect: expect_of(Some(&media)),
            law_changed: media.law != old_law,
        })
    }

    /// Connects the caller and the agent leg both ways, now or once both have a stream. A
    /// leg the caller was bridged to before is let go.
    pub fn bridge(&mut self, call: C, leg: A) {
        if let Some(old) = self.bridges.insert(call, leg) {
            if old != leg {
                self.detach(Party::Agent(old));
            }
        }
        self.rewire(call);
    }

    /// Disconnects the caller's bridge: both sides play their own prompts again.
    pub fn unbridge(&mut self, call: C) {
        let Some(leg) = self.bridges.remove(&call) else {
            return;
        };
        self.detach(Party::Caller(call));
        self.detach(Party::Agent(leg));
    }

    /// `party`'s stream ends; its bridge goes with it (a caller bridged to an ending leg hears
    /// its music again).
    pub fn end(&mut self, party: Party<C, A>) {
        self.sides.remove(&party);
        if let Some(call) = self.bridged_call(party) {
            self.unbridge(call);
        }
    }

    /// The next wiring step to carry out.
    pub fn poll_wiring(&mut self) -> Option<Wiring<C, A>> {
        self.wiring.pop_front()
    }

    /// Whether `party` has a stream.
    pub fn has_stream(&self, party: Party<C, A>) -> bool {
        self.sides.contains_key(&party)
    }

    /// The caller of the bridge `party` belongs to.
    fn bridged_call(&self, party: Party<C, A>) -> Option<C> {
        match party {
            Party::Caller(call) => self.bridges.contains_key(&call).then_some(call),
            Party::Agent(leg) => self
                .bridges
                .iter()
                .find(|(_, l)| **l == leg)
                .map(|(c, _)| *c),
        }
    }

    /// (Re)wires the caller's bridge from both sides' current media, once both have a stream.
    fn rewire(&mut self, call: C) {
        let Some(&leg) = self.bridges.get(&call) else {
            return;
        };
        let (caller, agent) = (Party::Caller(call), Party::Agent(leg));
        let (Some(c), Some(a)) = (self.sides.get(&caller), self.sides.get(&agent)) else {
            return;
        };
        let (c, a) = (c.media, a.media);
        let agent_holds = a.is_some_and(|m| m.held);
        for (party, media) in [(caller, c), (agent, a)] {
            let format = format_of(media.as_ref());
            self.wiring.push_back(Wiring::Inbox {
                party,
                law: format.law,
                dtmf_payload_type: media.and_then(|m| m.dtmf_payload_type),
            });
        }
        // While the agent holds, whatever its phone sends (its own music) is not relayed.
        self.wiring.extend([
            Wiring::Tap {
                party: agent,
                into: (!agent_holds).then_some(caller),
                read: reading_of(a.as_ref()),
            },
            Wiring::Tap {
                party: caller,
                into: Some(agent),
                read: reading_of(c.as_ref()),
            },
            Wiring::Play {
                party: caller,
                relay: !agent_holds,
            },
            Wiring::Play {
                party: agent,
                relay: true,
            },
        ]);
    }

    /// Takes `party` out of its bridge: no tap, its own prompts, a fresh queue next time.
    fn detach(&mut self, party: Party<C, A>) {
        let Some(side) = self.sides.get(&party) else {
            return;
        };
        let read = reading_of(side.media.as_ref());
        self.wiring.extend([
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
        ]);
    }
}

/// The stream's format; PCMU at 20 ms until a late offer is answered.
fn format_of(media: Option<&Media>) -> Format {
    match media {
        Some(m) => Format {
            payload_type: m.payload_type,
            ptime_ms: m.ptime_ms,
            law: m.law,
        },
        None => Format {
            payload_type: 0,
            ptime_ms: 20,
            law: Law::Ulaw,
        },
    }
}

fn expect_of(media: Option<&Media>) -> Expect {
    match media {
        Some(m) => Expect {
            payload_type: m.payload_type,
            dtmf_payload_type: m.dtmf_payload_type,
            receiving: m.receive,
        },
        // Late offer: we receive on our offer's terms, the answer will tell the rest.
        None => Expect {
            payload_type: 0,
            dtmf_payload_type: None,
            receiving: true,
        },
    }
}

fn target_of(media: Option<&Media>, reset_latch: bool) -> Target {
    match media {
        Some(m) => Target {
            rtp: m.remote,
            rtcp: m.remote_rtcp,
            sending: m.send && m.remote.is_some(),
            reset_latch,
        },
        None => Target::default(),
    }
}

fn reading_of(media: Option<&Media>) -> Reading {
    let format = format_of(media);
    Reading {
        payload_type: format.payload_type,
        law: format.law,
        dtmf_payload_type: media.and_then(|m| m.dtmf_payload_type),
    }
}

#[cfg(test)]
mod tests;
