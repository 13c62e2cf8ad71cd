//! The runtime's side of the call path: turns the core's events into media-plane commands
//! (start music on answer, hold/resume, agent legs' media, bridges, stop on hang-up) and
//! resolves what a caller hears into prompts. The greeting's length goes back to the core,
//! which times its end ([`GreetingStarted`]); nothing here sleeps.

use std::collections::HashMap;
use std::time::Duration;

use crate::b2bua::{CallHandle, Event, Playback};
use crate::config::{Config, Music, QueueId};
use crate::sip::sdp::NegotiatedMedia;

use super::media::{CallPrompts, MediaPlane};
use super::ports::Stash;
use super::prompts::PromptSet;

/// A caller's greeting started playing and lasts `length` (zero: skipped); the core task hands
/// it to [`crate::b2bua::Core::greeting_started`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct GreetingStarted {
    pub call: CallHandle,
    pub length: Duration,
}

/// A caller the media plane knows about.
struct CallMedia {
    rtp_port: u16,
    queue: QueueId,
    media: Option<NegotiatedMedia>,
    playing: bool,
    /// The caller ACKed: its media is not bounded as an unproven peer's.
    confirmed: bool,
}

/// Media state of every answered caller.
pub(crate) struct Calls {
    prompts: PromptSet,
    music_of: HashMap<QueueId, Music>,
    calls: HashMap<CallHandle, CallMedia>,
    stash: Stash,
    /// Legs started by early media, not answered yet.
    early_legs: std::collections::HashSet<crate::b2bua::LegHandle>,
}

impl Calls {
    pub(crate) fn new(config: &Config, prompts: PromptSet, stash: Stash) -> Calls {
        let music_of = config
            .queues
            .iter()
            .map(|q| (q.id.clone(), q.music_on_hold.clone()))
            .collect();
        Calls {
            prompts,
            music_of,
            calls: HashMap::new(),
            stash,
            early_legs: Default::default(),
        }
    }

    /// A provisioning change: the queues' music for callers answered from now on, and the
    /// prompts it brought (decoded off this task). Callers already playing keep their stream.
    pub(crate) fn reconfigure(
        &mut self,
        config: &Config,
        prompts: HashMap<std::path::PathBuf, crate::audio::Prompt>,
    ) {
        self.prompts.files.extend(prompts);
        // Extended, not replaced: a removed queue's last callers keep its music.
        self.music_of.extend(
            config
                .queues
                .iter()
                .map(|q| (q.id.clone(), q.music_on_hold.clone())),
        );
    }

    /// The prompt files decoded so far.
    pub(crate) fn prompt_files(&self) -> std::collections::HashSet<std::path::PathBuf> {
        self.prompts.files.keys().cloned().collect()
    }

    /// Carries `event` out on the media plane; a greeting it starts is returned for the core
    /// to time.
    pub(crate) fn handle(
        &mut self,
        plane: &mut MediaPlane,
        event: Event,
    ) -> Option<GreetingStarted> {
        match event {
            Event::CallAnswered {
                call,
                queue,
                rtp_port,
                media,
                ..
            } => {
                self.calls.insert(
                    call,
                    CallMedia {
                        rtp_port,
                        queue,
                        media,
                        playing: false,
                        confirmed: false,
                    },
                );
            }
            Event::CallConfirmed { call } => {
                if let Some(c) = self.calls.get_mut(&call) {
                    c.confirmed = true;
                    if c.playing {
                        plane.confirm(call);
                    }
                }
            }
            Event::Play { call, what } => return self.play(plane, call, what),
            Event::MediaUpdated { call, media } => {
                if let Some(c) = self.calls.get_mut(&call) {
                    if c.playing {
                        plane.update_media(call, media.clone());
                    }
                    c.media = Some(media);
                }
            }
            Event::CallEnded { call, .. } => {
                // Also for a caller whose media never started: a bridge waiting for it goes.
                self.calls.remove(&call);
                plane.end_call(call);
            }
            Event::LegAnswered { leg, media, .. } if self.early_legs.remove(&leg) => {
                plane.update_leg_media(leg, media)
            }
            Event::LegAnswered {
                leg,
                rtp_port,
                media,
                ..
            } => match self.stash.take(rtp_port) {
                Some((rtp, rtcp)) => plane.start_leg_bound(leg, rtp, rtcp, media),
                None => plane.start_leg(leg, rtp_port, media),
            },
            Event::LegEarlyMedia {
                leg,
                rtp_port,
                media,
                ..
            } => {
                // A forward's early media (the switch bridges it to the caller): started now;
                // its 2xx then updates the stream (same port) instead of starting it again.
                self.early_legs.insert(leg);
                match self.stash.take(rtp_port) {
                    Some((rtp, rtcp)) => plane.start_leg_bound(leg, rtp, rtcp, media),
                    None => plane.start_leg(leg, rtp_port, media),
                }
            }
            Event::LegMediaUpdated { leg, media } => plane.update_leg_media(leg, media),
            Event::LegEnded { leg, .. } => {
                self.early_legs.remove(&leg);
                plane.end_leg(leg);
            }
            Event::Bridge { call, leg } => plane.bridge(call, leg),
            Event::Unbridge { call } => plane.unbridge(call),
            Event::LegRinging { .. } => {}
        }
        None
    }

    /// Starts the caller's stream: the greeting (its length returned for the core to time),
    /// then the queue's music, looped. Music alone when there is no greeting.
    fn play(
        &mut self,
        plane: &mut MediaPlane,
        call: CallHandle,
        what: Playback,
    ) -> Option<GreetingStarted> {
        let c = self.calls.get_mut(&call)?;
        let skipped = matches!(what, Playback::Greeting(_)).then_some(GreetingStarted {
            call,
            length: Duration::ZERO,
        });
        if c.playing {
            // Already playing greeting → music as one playlist: the engine's `PlayMusic` after
            // the greeting changes nothing audible. A caller transferred into another queue
            // keeps its music and skips that queue's greeting (it was welcomed already).
            return skipped;
        }
        let music = self
            .music_of
            .get(&c.queue)
            .map(|m| self.prompts.music(m))
            .unwrap_or(&self.prompts.default_music);
        let greeting = match &what {
            Playback::Greeting(path) => self.prompts.file(path),
            Playback::Music(_) => None,
        };
        let music = match &what {
            Playback::Music(m) => self.prompts.music(m),
            Playback::Greeting(_) => music,
        };
        // A greeting that failed to load was reported when it was loaded; it is skipped.
        let started = match greeting {
            Some(g) => Some(GreetingStarted {
                call,
                length: g.duration,
            }),
            None => skipped,
        };
        let prompts = CallPrompts {
            greeting: greeting.cloned(),
            music: music.clone(),
        };
        match self.stash.take(c.rtp_port) {
            Some((rtp, rtcp)) => plane.start_call_bound(call, rtp, rtcp, c.media.clone(), prompts),
            None => plane.start_call(call, c.rtp_port, c.media.clone(), prompts),
        }
        c.playing = true;
        if c.confirmed {
            plane.confirm(call);
        }
        started
    }
}
