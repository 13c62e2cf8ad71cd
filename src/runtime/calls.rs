//! The runtime's side of the call path: turns the core's events into media-plane commands
//! (start music on answer, hold/resume, agent legs' media, bridges, stop on hang-up) and times
//! the greeting so the queue engine hears when it has finished.

use std::collections::HashMap;
use std::time::Duration;

use tokio::sync::mpsc;

use crate::b2bua::{CallHandle, Event, Playback};
use crate::config::{Config, Music, QueueId};
use crate::sip::sdp::NegotiatedMedia;

use super::media::{CallPrompts, MediaPlane};
use super::ports::Stash;
use super::prompts::PromptSet;
use super::Input;

/// A caller the media plane knows about.
struct CallMedia {
    rtp_port: u16,
    queue: QueueId,
    media: Option<NegotiatedMedia>,
    playing: bool,
}

/// Media state of every answered caller.
pub(crate) struct Calls {
    prompts: PromptSet,
    music_of: HashMap<QueueId, Music>,
    calls: HashMap<CallHandle, CallMedia>,
    stash: Stash,
    inputs: mpsc::Sender<Input>,
}

impl Calls {
    pub(crate) fn new(
        config: &Config,
        prompts: PromptSet,
        stash: Stash,
        inputs: mpsc::Sender<Input>,
    ) -> Calls {
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
            inputs,
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

    pub(crate) fn handle(&mut self, plane: &mut MediaPlane, event: Event) {
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
                    },
                );
            }
            Event::Play { call, what } => self.play(plane, call, what),
            Event::MediaUpdated { call, media } => {
                let Some(c) = self.calls.get_mut(&call) else {
                    return;
                };
                if c.playing {
                    plane.update_media(call, media.clone());
                }
                c.media = Some(media);
            }
            Event::CallEnded { call, .. } => {
                // Also for a caller whose media never started: a bridge waiting for it goes.
                self.calls.remove(&call);
                plane.end_call(call);
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
            Event::LegMediaUpdated { leg, media } => plane.update_leg_media(leg, media),
            Event::LegEnded { leg, .. } => {
                plane.end_leg(leg);
            }
            Event::Bridge { call, leg } => plane.bridge(call, leg),
            Event::Unbridge { call } => plane.unbridge(call),
            Event::LegRinging { .. } => {}
        }
    }

    /// Starts the caller's stream: the greeting (reported finished after its duration), then
    /// the queue's music, looped. Music alone when there is no greeting.
    fn play(&mut self, plane: &mut MediaPlane, call: CallHandle, what: Playback) {
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        if c.playing {
            // Already playing greeting → music as one playlist: the engine's `PlayMusic` after
            // the greeting changes nothing audible. A caller transferred into another queue
            // keeps its music and skips that queue's greeting (it was welcomed already).
            if matches!(what, Playback::Greeting(_)) {
                greeting_ends(&self.inputs, call, Duration::ZERO);
            }
            return;
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
        if let Some(g) = greeting {
            greeting_ends(&self.inputs, call, g.duration);
        } else if matches!(what, Playback::Greeting(_)) {
            // A greeting that failed to load was reported at start-up; skip it.
            greeting_ends(&self.inputs, call, Duration::ZERO);
        }
        let prompts = CallPrompts {
            greeting: greeting.cloned(),
            music: music.clone(),
        };
        match self.stash.take(c.rtp_port) {
            Some((rtp, rtcp)) => plane.start_call_bound(call, rtp, rtcp, c.media.clone(), prompts),
            None => plane.start_call(call, c.rtp_port, c.media.clone(), prompts),
        }
        c.playing = true;
    }
}

/// Tells the core, `after` from now, that `call`'s greeting has ended.
fn greeting_ends(inputs: &mpsc::Sender<Input>, call: CallHandle, after: Duration) {
    let inputs = inputs.clone();
    tokio::spawn(async move {
        if !after.is_zero() {
            tokio::time::sleep(after).await;
        }
        let _ = inputs.send(Input::GreetingFinished { call }).await;
    });
}
