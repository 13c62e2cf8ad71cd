//! The IO edge: the only module with tokio, sockets, the clock, signals and OS randomness.
//!
//! It binds the configured SIP listeners, feeds every datagram and every framed stream message
//! to the sans-IO [`Core`] on one task, sends what the core wants sent, sleeps until the core's
//! next deadline, and turns SIGTERM/SIGINT into a graceful shutdown.
//!
//! With provisioning ([`Provisioned`]), the core task also follows the store: a new effective
//! configuration (prompts it names decoded first, on a blocking thread) is applied for new
//! calls and reported back so the API answers only once new calls see the change; agents'
//! do-not-disturb and opt-outs are applied as they change; queue events go to the event log;
//! the API's live-state requests are answered from here; and SIGHUP decodes every prompt
//! file again (a file replaced under the same name).
//!
//! # Layout
//! - [`serve`]: `holdline serve`: the store, the API and the SIP listeners started together.
//! - [`bind`]: binding listeners, with one shared port for UDP and TCP when the config says 0.
//! - [`stream`]: TCP connections: framing reads, a writer per connection, outbound connects,
//!   all under the connection caps and deadlines of `[sip.connections]`. Which connection a
//!   message goes on (and when one we opened is closed) is the connection table's decision
//!   ([`crate::sip::conn_table`]), kept by the core task.
//! - [`media`]: the media plane's IO (sockets, pacer shards, receive tasks); `calls` turns the
//!   core's events into its commands. [`ports`]: RTP ports bound as the core reserves them.
//! - [`live`]: the API's live state, answered from the core task. `events`: the event writer.
//! - `registrations`: registered bindings restored from and written to the store.
//! - [`tls`]: SIP over TLS: rustls configurations from the configured PEM files, swapped on
//!   SIGHUP; `stream` does the handshakes.
//! - [`clock`]: the one epoch, and the only clock reads and sleeps in the crate.
//! - `sys`: the server's only `unsafe` code (OS calls std and tokio do not wrap).
//! - this file: the core task.

mod agent_requests;
pub mod bind;
mod calls;
pub mod clock;
mod dns;
mod events;
pub mod live;
pub mod media;
pub mod ports;
pub mod prompts;
mod registrations;
pub mod serve;
pub mod stream;
mod sys;
pub mod tls;

pub use events::log_record;

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::UdpSocket;
use tokio::sync::{mpsc, watch};

use crate::api::{ApiState, Published};
use crate::audio::Prompt;
use crate::b2bua::{AgentSettings, Core, CoreSettings};
use crate::config::Config;
use crate::sip::conn_table::{ConnectionTable, Route};
use crate::sip::connections::Direction;
use crate::sip::message::Message;
use crate::sip::parse::{Limits, ParseError};
use crate::sip::transport::{ConnId, Peer, Transmit, Transport};
use crate::store::AgentPrefs;
use crate::time::Time;

pub use bind::{bind_listeners, Listeners};

/// How long a graceful shutdown waits for BYEs to be answered before exiting anyway.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// What the socket tasks tell the core task.
pub(crate) enum Input {
    Datagram {
        from: SocketAddr,
        local: SocketAddr,
        bytes: Vec<u8>,
    },
    Frame {
        peer: Peer,
        local: SocketAddr,
        parsed: Box<Result<Message, ParseError>>,
    },
    Connected {
        conn: ConnId,
        link: stream::Link,
        transport: Transport,
        /// The address we connected to, or the one the peer connected from.
        remote: SocketAddr,
        direction: Direction,
    },
    /// Connecting to `addr` for the connection table failed.
    ConnectFailed {
        transport: Transport,
        addr: SocketAddr,
    },
    Closed {
        conn: ConnId,
    },
    /// A DNS look-up of a trunk SBC's host name finished (`dns`).
    SbcResolved {
        sbc: crate::sip::uri::SipUri,
        lookup: crate::b2bua::sbc_dns::DnsLookup,
    },
    /// A new effective configuration, with the prompts it brought, decoded.
    Reconfigure {
        generation: u64,
        config: Arc<Config>,
        prompts: HashMap<PathBuf, Prompt>,
    },
}

/// The store and the admin API, as the core task sees them.
pub struct Provisioned {
    pub api: ApiState,
    /// The API's live-state requests (the other end of [`live::RuntimeLive`]).
    pub live: live::LiveRequests,
    /// The configuration generation the server started with.
    pub generation: u64,
    /// SIGHUP, taken over at start-up: reload the prompt files. `None`: not watched.
    pub hangups: Option<tokio::signal::unix::Signal>,
}

/// Runs the server on already-bound listeners until `shutdown` completes, then hangs up every
/// call (waiting up to a few seconds for the BYEs to be answered) and returns.
pub async fn run(
    config: Config,
    prompts: prompts::PromptSet,
    listeners: Listeners,
    shutdown: impl std::future::Future<Output = ()>,
) -> std::io::Result<()> {
    run_provisioned(config, prompts, listeners, shutdown, None).await
}

/// [`run`], following the store and answering the API when `provisioned` is given.
pub async fn run_provisioned(
    config: Config,
    prompts: prompts::PromptSet,
    listeners: Listeners,
    shutdown: impl std::future::Future<Output = ()>,
    provisioned: Option<Provisioned>,
) -> std::io::Result<()> {
    // One epoch for the core, the pacers and the event log's stamps.
    let clock = clock::Clock::start();
    let limits = Limits::default();
    let settings = CoreSettings {
        listeners: listeners.addresses(),
        seed: rand::random(),
        key_seed: rand::random(),
        limits,
        transactions: transaction_config(&config),
    };
    let media_config = media::MediaPlaneConfig::from_config(&config);
    let stash = ports::Stash::default();
    let mut core = Core::new(&config, settings).with_ports(Box::new(ports::BoundPorts::new(
        config.rtp.port_min,
        config.rtp.port_max,
        media_config.bind_ip,
        stash.clone(),
    )));
    let (input_tx, mut inputs) = mpsc::channel::<Input>(4096);
    // Trunk SBCs given by host name: looked up now and at their TTL (none: no resolver).
    let mut resolving = dns::start(&config, &input_tx);

    let udp = UdpSockets::new(&listeners.udp);
    for (socket, local) in &udp.sockets {
        tokio::spawn(udp_reader(socket.clone(), *local, input_tx.clone()));
    }
    let mut streams = stream::Streams::new(
        input_tx.clone(),
        limits,
        clock,
        connection_settings(&config),
    );
    let tls = start_tls(&config)?;
    if let Some(tls) = &tls {
        streams = streams.with_tls(tls.clone());
    }
    tokio::spawn(streams.clone().return_memory_after_floods());
    for listener in listeners.tcp {
        tokio::spawn(streams.clone().accept_loop(listener, Transport::Tcp));
    }
    for listener in listeners.tls {
        tokio::spawn(streams.clone().accept_loop(listener, Transport::Tls));
    }

    let mut links: HashMap<ConnId, stream::Link> = HashMap::new();
    let mut table = ConnectionTable::new(config.sip.connections.outbound_idle_timeout);
    let (mut plane, mut media_events) = media::MediaPlane::start_on(media_config, clock);
    let mut calls = calls::Calls::new(&config, prompts, stash);
    let mut tally = live::Tally::default();

    // Provisioning: agents' settings from the store now, then changes as they come.
    let mut api: Option<ApiState> = None;
    let mut live_requests = None;
    let mut prefs_rx: Option<watch::Receiver<Arc<AgentPrefs>>> = None;
    let mut event_log = None;
    let mut registration_log = None;
    let mut agent_request_log = None;
    if let Some(p) = provisioned {
        let mut rx = p.api.subscribe_agent_prefs();
        let prefs = rx.borrow_and_update().clone();
        core.set_agent_settings(Time::ZERO, &agent_settings(&prefs));
        tokio::spawn(follow_config(
            p.api.subscribe_published(),
            p.generation,
            calls.prompt_files(),
            p.hangups,
            input_tx.clone(),
        ));
        p.api.report_applied(p.generation);
        event_log = Some(events::start(p.api.clone(), config.store.keep_events));
        registrations::restore(&mut core, &p.api, &clock);
        registration_log = Some(registrations::start(p.api.clone()));
        agent_request_log = Some(agent_requests::start(p.api.clone()));
        live_requests = Some(p.live);
        prefs_rx = Some(rx);
        api = Some(p.api);
    }

    tokio::pin!(shutdown);
    let mut deadline: Option<Time> = None;
    'run: loop {
        // Send everything the core wants sent, hand events to the media plane, and give the
        // core the greetings that started (timing their end may already have more to send).
        loop {
            while let Some(t) = core.poll_transmit() {
                let mut out = Outbound {
                    udp: &udp,
                    links: &mut links,
                    table: &mut table,
                    streams: &streams,
                };
                if let Some(peer) = out.transmit(clock.now(), t).await {
                    core.handle_transport_error(clock.now(), peer);
                }
            }
            let mut started = Vec::new();
            while let Some(e) = core.poll_event() {
                started.extend(calls.handle(&mut plane, e));
            }
            if started.is_empty() {
                break;
            }
            let now = clock.now();
            for greeting in started {
                core.greeting_started(now, greeting.call, greeting.length);
            }
        }
        while let Some(logged) = core.poll_queue_event() {
            tally.count(&logged.event);
            if let Some((log, _)) = &event_log {
                let _ = log.send(events::record(&logged, &clock));
            }
        }
        while let Some(change) = core.poll_sbc_change() {
            if let (Some((log, _)), Some(event)) = (&event_log, events::sbc_record(&change, &clock))
            {
                let _ = log.send(event);
            }
        }
        while let Some(access) = core.poll_access_event() {
            if let Some((log, _)) = &event_log {
                let _ = log.send(events::access_record(&access, &clock));
            }
        }
        store_registrations(
            &mut core,
            &clock,
            registration_log.as_ref().map(|(tx, _)| tx),
        );
        store_agent_requests(
            &mut core,
            &clock,
            agent_request_log.as_ref().map(|(tx, _)| tx),
        );
        if deadline.is_some() && core.is_idle() {
            tracing::info!("all calls ended; exiting");
            break 'run;
        }
        let wake = core
            .poll_timeout()
            .unwrap_or_else(|| clock.now() + Duration::from_secs(3600));
        let wake = table.poll_timeout().map_or(wake, |t| wake.min(t));
        let wake = deadline.map_or(wake, |d| wake.min(d));
        tokio::select! {
            input = inputs.recv() => {
                let Some(input) = input else { break 'run };
                let now = clock.now();
                match input {
                    Input::Datagram { from, local, bytes } => {
                        core.handle_datagram(now, Peer::udp(from), local, &bytes);
                    }
                    Input::Frame { peer, local, parsed } => {
                        if let Some(conn) = peer.conn {
                            table.received(now, conn);
                        }
                        core.handle_parsed(now, peer, local, *parsed);
                    }
                    Input::Connected { conn, link, transport, remote, direction } => {
                        // What waited for this connection goes first, in order.
                        for bytes in table.opened(now, conn, transport, remote, direction) {
                            if link.writer.try_send(bytes).is_err() {
                                tracing::debug!(%remote, "a message waiting for a connection was dropped");
                            }
                        }
                        links.insert(conn, link);
                    }
                    Input::ConnectFailed { transport, addr } => {
                        for peer in table.connect_failed(transport, addr) {
                            core.handle_transport_error(now, peer);
                        }
                    }
                    Input::Closed { conn } => {
                        links.remove(&conn);
                        table.closed(conn);
                        // Bindings registered over it can no longer be reached (RFC 5626 §5.3).
                        core.connection_closed(now, conn);
                    }
                    Input::SbcResolved { sbc, lookup } => {
                        if let Some(tls) = &tls {
                            tls.resolved(&sbc, &lookup);
                        }
                        core.sbc_resolved(now, &sbc, lookup);
                    }
                    Input::Reconfigure { generation, config, prompts } => {
                        if let Some(tls) = &tls {
                            let (tls, config) = (tls.clone(), config.clone());
                            tokio::task::spawn_blocking(move || tls.reconfigure(&config));
                        }
                        core.reconfigure(now, &config);
                        resolving = dns::restart(resolving.take(), &config, &input_tx);
                        calls.reconfigure(&config, prompts);
                        tracing::info!(generation, queues = config.queues.len(), "configuration applied for new calls");
                        if let Some(api) = &api {
                            api.report_applied(generation);
                        }
                    }
                }
            }
            _ = clock.sleep_until(wake) => {
                let now = clock.now();
                if deadline.is_some_and(|d| now >= d) {
                    tracing::warn!(calls = core.call_count(), "shutdown grace period over; exiting");
                    break 'run;
                }
                for conn in table.expire(now) {
                    if let Some(link) = links.get(&conn) {
                        link.close.notify_one();
                    }
                }
                core.handle_timeout(now);
            }
            Some(event) = media_events.recv() => {
                let now = clock.now();
                match event {
                    media::MediaEvent::RtpTimeout { call } => {
                        core.hang_up_call(now, call, 408, "RTP timeout");
                    }
                    media::MediaEvent::BindFailed { call, port } => {
                        tracing::warn!(call = call.0, port, "no media port; hanging up");
                        core.hang_up_call(now, call, 503, "no media port");
                    }
                    media::MediaEvent::Dtmf { call, digit } => {
                        tracing::info!(call = call.0, %digit, "DTMF");
                    }
                    media::MediaEvent::LegRtpTimeout { leg } => {
                        tracing::info!(leg = leg.0, "no RTP from the agent: hanging up");
                        core.hang_up_leg(now, leg);
                    }
                    media::MediaEvent::LegBindFailed { leg, port } => {
                        tracing::warn!(leg = leg.0, port, "no media port for the agent leg; hanging up");
                        core.hang_up_leg(now, leg);
                    }
                }
            }
            prefs = prefs_changed(&mut prefs_rx) => {
                core.set_agent_settings(clock.now(), &agent_settings(&prefs));
            }
            Some(request) = live_request(&mut live_requests) => {
                let now = clock.now();
                let rtp = plane.call_count() + plane.leg_count();
                let mut connections = live::connection_counters(&streams.stats());
                live::reuse_counters(&mut connections, &table.stats());
                if let Some(tls) = &tls {
                    connections.tls = tls.counters();
                }
                let dropped_foreign = plane.dropped_foreign();
                let srtp_refused = plane.srtp_refused();
                live::answer(request, &mut core, now, &tally, rtp, |counters| {
                    counters.connections = connections;
                    counters.rtp_dropped_foreign = dropped_foreign;
                    counters.srtp_refused = srtp_refused;
                });
            }
            _ = &mut shutdown, if deadline.is_none() => {
                tracing::info!(calls = core.call_count(), "shutting down: no new calls, hanging up");
                let now = clock.now();
                core.shutdown(now);
                deadline = Some(now + SHUTDOWN_GRACE);
            }
        }
    }
    // The last events (the hang-ups of a shutdown) are written before the server exits.
    while let Some(logged) = core.poll_queue_event() {
        if let Some((log, _)) = &event_log {
            let _ = log.send(events::record(&logged, &clock));
        }
    }
    while let Some(access) = core.poll_access_event() {
        if let Some((log, _)) = &event_log {
            let _ = log.send(events::access_record(&access, &clock));
        }
    }
    if let Some((log, writer)) = event_log {
        drop(log);
        let _ = writer.await;
    }
    store_registrations(
        &mut core,
        &clock,
        registration_log.as_ref().map(|(tx, _)| tx),
    );
    if let Some((log, writer)) = registration_log {
        drop(log);
        let _ = writer.await;
    }
    store_agent_requests(
        &mut core,
        &clock,
        agent_request_log.as_ref().map(|(tx, _)| tx),
    );
    if let Some((log, writer)) = agent_request_log {
        drop(log);
        let _ = writer.await;
    }
    Ok(())
}

/// Loads the TLS certificates when a `tls:` listener is configured (every TLS destination
/// needs one, so without it nothing is sent over TLS) and reloads them on SIGHUP.
fn start_tls(config: &Config) -> std::io::Result<Option<Arc<tls::Tls>>> {
    if config.sip.tls.is_none() {
        return Ok(None);
    }
    let tls = tls::Tls::load(config).map_err(|problems| {
        let lines: Vec<String> = problems
            .iter()
            .map(|p| format!("{}: {}", p.subject, p.message))
            .collect();
        std::io::Error::other(lines.join("; "))
    })?;
    let tls = Arc::new(tls);
    // Its own SIGHUP stream beside the prompts' (every stream sees every signal).
    match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) {
        Ok(mut hangups) => {
            let tls = tls.clone();
            tokio::spawn(async move {
                while hangups.recv().await.is_some() {
                    tracing::info!("SIGHUP: reading the TLS certificates again");
                    let tls = tls.clone();
                    let _ = tokio::task::spawn_blocking(move || tls.reload()).await;
                }
            });
        }
        Err(err) => {
            tracing::warn!(%err, "cannot watch for SIGHUP; TLS certificates reload only on a restart")
        }
    }
    Ok(Some(tls))
}

/// Hands feature codes' changes to the agents' settings to the store writer (without a store
/// they live in the core until it stops).
fn store_agent_requests(
    core: &mut Core,
    clock: &clock::Clock,
    log: Option<&mpsc::UnboundedSender<agent_requests::Request>>,
) {
    while let Some(request) = core.poll_agent_request() {
        if let Some(log) = log {
            let _ = log.send((request, clock.unix_ms(clock.now())));
        }
    }
}

/// Hands the users whose bindings changed to the registration writer (without a store, the
/// changes are only forgotten).
fn store_registrations(
    core: &mut Core,
    clock: &clock::Clock,
    log: Option<&mpsc::UnboundedSender<registrations::Change>>,
) {
    let now = clock.now();
    while let Some(user) = core.poll_registration_change() {
        if let Some(log) = log {
            let _ = log.send(registrations::change(core, clock, now, user));
        }
    }
}

/// Follows the store's effective configuration: decodes the prompts a new one names (on a
/// blocking thread, never on the core task), then hands both to the core task. One change at a
/// time, always the latest: changes made meanwhile are folded into the next.
///
/// SIGHUP decodes every greeting and music file again, for an admin who replaced a file under
/// the same name: each file that decodes replaces its prompt for new calls (calls in progress
/// finish with what they play); one that does not is reported with the reason and the prompt
/// that was playing stays.
async fn follow_config(
    mut published: watch::Receiver<Published>,
    mut applied: u64,
    mut known: HashSet<PathBuf>,
    mut hangups: Option<tokio::signal::unix::Signal>,
    inputs: mpsc::Sender<Input>,
) {
    // A SIGHUP is remembered until a pass has decoded every file, so one that comes while
    // changes keep arriving is folded into the next change's pass, never lost.
    let mut reload = false;
    loop {
        let next = published.borrow_and_update().clone();
        if next.generation <= applied && !reload {
            tokio::select! {
                changed = published.changed() => {
                    if changed.is_err() {
                        return;
                    }
                }
                Some(()) = hangup(&mut hangups) => {
                    tracing::info!("SIGHUP: decoding every prompt file again");
                    reload = true;
                }
            }
            continue;
        }
        let all = std::mem::take(&mut reload);
        let config = next.config.clone();
        let have = if all { HashSet::new() } else { known.clone() };
        let loaded = tokio::task::spawn_blocking(move || prompts::load_new(&config, &have)).await;
        let (new_prompts, errors) = loaded.unwrap_or_default();
        for e in &errors {
            if all {
                tracing::warn!("{e}; the prompt that was playing stays");
            } else {
                tracing::warn!("{e}");
            }
        }
        if all {
            tracing::info!(
                reloaded = new_prompts.len(),
                refused = errors.len(),
                "prompt files reloaded for new calls"
            );
        }
        known.extend(new_prompts.keys().cloned());
        let input = Input::Reconfigure {
            generation: next.generation,
            config: next.config,
            prompts: new_prompts,
        };
        if inputs.send(input).await.is_err() {
            return;
        }
        applied = applied.max(next.generation);
    }
}

/// The next SIGHUP; never completes when it cannot be watched.
async fn hangup(signals: &mut Option<tokio::signal::unix::Signal>) -> Option<()> {
    match signals {
        Some(s) => s.recv().await,
        None => std::future::pending().await,
    }
}

/// The agents' settings the store keeps, as the core takes them.
fn agent_settings(prefs: &AgentPrefs) -> AgentSettings {
    AgentSettings {
        dnd: prefs.dnd.clone(),
        opted_out: prefs.opted_out.clone(),
    }
}

/// The next agent settings; never completes without provisioning or once the store is gone.
async fn prefs_changed(rx: &mut Option<watch::Receiver<Arc<AgentPrefs>>>) -> Arc<AgentPrefs> {
    if let Some(rx) = rx {
        if rx.changed().await.is_ok() {
            return rx.borrow_and_update().clone();
        }
    }
    std::future::pending().await
}

/// The next live-state request; never completes without provisioning.
async fn live_request(rx: &mut Option<live::LiveRequests>) -> Option<live::LiveRequest> {
    match rx {
        Some(rx) => rx.0.recv().await,
        None => std::future::pending().await,
    }
}

/// The connection limits from `[sip.connections]`, with `max_connections` derived from the
/// descriptor limit when not set. Raises `RLIMIT_NOFILE` to its hard limit first, so the cap
/// is derived from the most descriptors the process may have (and logs what it got).
fn connection_settings(config: &Config) -> crate::sip::connections::LimitSettings {
    let (rtp_min, rtp_max) = (config.rtp.port_min, config.rtp.port_max);
    let nofile = match sys::raise_nofile_limit() {
        Ok(limit) => {
            tracing::info!(
                soft = limit.soft,
                hard = limit.hard,
                raised = limit.raised,
                "descriptor limit (RLIMIT_NOFILE)"
            );
            Some(limit.soft)
        }
        Err(err) => {
            tracing::warn!(%err, "cannot read or raise the descriptor limit (RLIMIT_NOFILE)");
            None
        }
    };
    let c = &config.sip.connections;
    let max_connections = match (c.max_connections, nofile) {
        (Some(n), Some(nofile)) => {
            let (room, _) = stream::derived_max_connections(nofile, rtp_min, rtp_max);
            if n > room {
                tracing::warn!(
                    max_connections = n,
                    room,
                    nofile,
                    "max_connections is above what the descriptor limit leaves after the RTP \
                     ports' reserve: with the connection table full, calls may find no RTP port"
                );
            }
            n
        }
        (Some(n), None) => n,
        (None, Some(nofile)) => {
            let (cap, fits) = stream::derived_max_connections(nofile, rtp_min, rtp_max);
            if !fits {
                tracing::warn!(
                    nofile,
                    rtp_ports = %format_args!("{rtp_min}-{rtp_max}"),
                    "the descriptor limit cannot hold the whole RTP range besides SIP \
                     connections; raise LimitNOFILE or narrow [rtp] ports"
                );
            }
            cap
        }
        (None, None) => 1024,
    };
    tracing::info!(
        max_connections,
        max_per_source = c.max_per_source,
        "SIP connection caps"
    );
    crate::sip::connections::LimitSettings {
        max_connections,
        max_per_source: c.max_per_source,
        message_deadline: c.message_deadline,
        idle_timeout: c.idle_timeout,
        log_window: Duration::from_secs(60),
    }
}

/// The transaction layer's settings from `[sip]`: T1 scales every RFC 3261 timer (§17.1.1.1).
fn transaction_config(config: &Config) -> crate::sip::transaction::Config {
    let mut tx = crate::sip::transaction::Config::default();
    tx.timers.t1 = config.sip.t1;
    tx
}

/// Reads one SIP UDP socket into the core's input channel. A task of its own, so the socket is
/// drained while the core works through a burst (the channel holds 4,096 datagrams, far more
/// than the socket's receive buffer); the core's task usually runs next on the same worker.
async fn udp_reader(socket: Arc<UdpSocket>, local: SocketAddr, inputs: mpsc::Sender<Input>) {
    let mut buf = vec![0u8; 65_536];
    loop {
        match socket.recv_from(&mut buf).await {
            Ok((n, from)) => {
                let input = Input::Datagram {
                    from,
                    local,
                    bytes: buf[..n].to_vec(),
                };
                if inputs.send(input).await.is_err() {
                    return;
                }
            }
            // ICMP port-unreachable from an earlier send surfaces here on some systems.
            Err(err) => tracing::debug!(%err, "udp receive error"),
        }
    }
}

/// Where the core's messages go: UDP sockets, and stream connections as the connection table
/// decides.
struct Outbound<'a> {
    udp: &'a UdpSockets,
    links: &'a mut HashMap<ConnId, stream::Link>,
    table: &'a mut ConnectionTable,
    streams: &'a stream::Streams,
}

impl Outbound<'_> {
    /// Sends `t`, or returns its peer when it cannot be sent (the core is told).
    async fn transmit(&mut self, now: Time, t: Transmit) -> Option<Peer> {
        match t.to.transport {
            Transport::Udp => {
                self.udp.send(t).await;
                None
            }
            Transport::Tcp | Transport::Tls => self.send_stream(now, t),
        }
    }

    /// One connection per destination (RFC 3261 §18, RFC 5923): responses on the connection
    /// their request came on (§18.2.2), requests on an open connection to their destination,
    /// and a new connection only when there is none (what else is sent meanwhile waits for it).
    fn send_stream(&mut self, now: Time, t: Transmit) -> Option<Peer> {
        let to = t.to;
        let mut bytes = t.bytes;
        // A second pass only when the chosen connection turned out to be gone.
        for _ in 0..2 {
            match self.table.route(now, to, bytes) {
                Route::Send(conn, b) => {
                    let Some(link) = self.links.get(&conn) else {
                        self.table.closed(conn);
                        bytes = b;
                        continue;
                    };
                    match link.writer.try_send(b) {
                        Ok(()) => return None,
                        Err(mpsc::error::TrySendError::Closed(b)) => {
                            // Closing; its Closed input is on its way. Forget it now.
                            self.links.remove(&conn);
                            self.table.closed(conn);
                            bytes = b;
                        }
                        Err(mpsc::error::TrySendError::Full(_)) => {
                            tracing::debug!(to = %to.addr, "peer is not reading; message dropped");
                            return Some(to);
                        }
                    }
                }
                Route::Connect(transport, addr) => {
                    self.streams.connect(transport, addr);
                    return None;
                }
                Route::Queued => return None,
                Route::Refused(why) => {
                    tracing::warn!(to = %to.addr, transport = %to.transport, ?why, "SIP message not sent");
                    return Some(to);
                }
            }
        }
        Some(to)
    }
}

/// The SIP UDP listeners with their bound addresses, read once: the address picks the socket
/// for each send (same IP family), and asking the kernel per message was a syscall per send.
struct UdpSockets {
    sockets: Vec<(Arc<UdpSocket>, SocketAddr)>,
}

impl UdpSockets {
    fn new(sockets: &[Arc<UdpSocket>]) -> Self {
        let sockets = sockets
            .iter()
            .filter_map(|s| match s.local_addr() {
                Ok(addr) => Some((s.clone(), addr)),
                Err(err) => {
                    tracing::warn!(%err, "a UDP listener has no local address; not reading it");
                    None
                }
            })
            .collect();
        UdpSockets { sockets }
    }

    async fn send(&self, t: Transmit) {
        let socket = self
            .sockets
            .iter()
            .find(|(_, a)| a.is_ipv4() == t.to.addr.is_ipv4())
            .or_else(|| self.sockets.first());
        if let Some((socket, _)) = socket {
            if let Err(err) = socket.send_to(&t.bytes, t.to.addr).await {
                tracing::debug!(%err, to = %t.to.addr, "udp send failed");
            }
        }
    }
}
