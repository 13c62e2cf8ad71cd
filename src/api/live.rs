//! Live state the API shows but does not own: calls waiting, agents' states, active calls and
//! the counters behind `/metrics`. The runtime implements [`LiveState`] over the queue engine
//! and the SIP core; [`MemoryLive`] is a plain implementation whose values are set by hand
//! (tests, and a server whose engine does not report yet).
//!
//! What this does not do: agents' do-not-disturb and opt-outs are provisioning, kept in the
//! store, and applied over these states by the status route.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;

use serde::Serialize;

/// A call waiting in a queue.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct WaitingCall {
    pub call_id: String,
    /// The caller's address or number, as shown to agents.
    pub caller: String,
    /// 1 for the head of the queue.
    pub position: u32,
    pub waiting_secs: u64,
}

/// What an agent is doing, as the engine sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum AgentState {
    /// No registration and no reachable contact.
    Offline,
    /// Can be offered a call.
    Available,
    /// Being offered a call.
    Ringing,
    OnCall,
    WrapUp,
    /// Do-not-disturb (from the agent's settings).
    Dnd,
    /// Opted out of this queue (from the agent's settings).
    OptedOut,
}

impl AgentState {
    pub fn as_str(self) -> &'static str {
        match self {
            AgentState::Offline => "offline",
            AgentState::Available => "available",
            AgentState::Ringing => "ringing",
            AgentState::OnCall => "on-call",
            AgentState::WrapUp => "wrap-up",
            AgentState::Dnd => "dnd",
            AgentState::OptedOut => "opted-out",
        }
    }
}

/// One queue's calls and agents, as the engine reports them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct QueueLive {
    /// In queue order.
    pub waiting: Vec<WaitingCall>,
    /// Agents the engine knows a state for; members it does not list are offline.
    pub agents: BTreeMap<String, AgentState>,
}

/// A call in progress.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ActiveCall {
    pub call_id: String,
    pub queue: String,
    pub caller: String,
    /// `greeting`, `waiting`, `ringing`, `connected`, `forwarding` …
    pub state: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub agent: Option<String>,
    pub duration_secs: u64,
}

/// Per-queue call counters since start.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct QueueCounters {
    pub offered: u64,
    pub answered: u64,
    pub abandoned: u64,
    pub overflowed: u64,
    pub timed_out: u64,
}

/// The counters `/metrics` exports besides the per-queue gauges.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    pub queues: BTreeMap<String, QueueCounters>,
    pub rtp_streams_active: u64,
    /// SIP requests received, by (method, response class such as `2xx`) of our final answer.
    pub sip_requests: BTreeMap<(String, String), u64>,
    /// RTP and RTCP packets strict RTP dropped: from a source no call latched.
    pub rtp_dropped_foreign: u64,
    /// SRTP and SRTCP packets dropped: failed authentication or replayed (RFC 3711 §3.3).
    pub srtp_refused: u64,
    /// SIP connections (TCP): open, the cap, refused and closed for time.
    pub connections: ConnectionCounters,
    /// Admission control's counters.
    pub admission: AdmissionCounters,
    /// The registrar's gauges and counters.
    pub registrar: RegistrarCounters,
    /// Users' outbound calls.
    pub outbound: OutboundCounters,
}

/// Users' outbound calls since start, for `/metrics`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct OutboundCounters {
    /// Sent toward a trunk.
    pub placed: u64,
    /// Refused before any trunk saw them.
    pub refused: u64,
}

/// The registrar's gauges and counters for `/metrics`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct RegistrarCounters {
    /// Users with at least one registered binding now.
    pub users: u64,
    /// Registered bindings now.
    pub bindings: u64,
    /// REGISTERs accepted since start.
    pub registrations_total: u64,
    /// Failed authentications since start.
    pub auth_failures_total: u64,
    /// Sources banned for failed authentications since start.
    pub auth_bans_total: u64,
}

/// One registered binding, as `GET /api/v1/users/{id}/registrations` lists it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RegistrationInfo {
    /// The Contact as registered.
    pub contact: String,
    /// Where the REGISTER came from (where calls to it go).
    pub source: String,
    /// `udp` or `tcp`.
    pub transport: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_agent: Option<String>,
    /// RFC 5626 `+sip.instance`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instance: Option<String>,
    /// RFC 3327 Path of the REGISTER.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub path: Vec<String>,
    pub expires_in_secs: u64,
}

/// A user's bindings on their way from the core task.
pub type RegistrationsFuture =
    Pin<Box<dyn Future<Output = Vec<RegistrationInfo>> + Send + 'static>>;

/// SIP connection counters since start (and the open count and cap now).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ConnectionCounters {
    pub open: u64,
    pub max: u64,
    pub opened: u64,
    pub refused_full: u64,
    pub refused_per_source: u64,
    pub closed_message_deadline: u64,
    pub closed_idle: u64,
    /// Connections holdline opened that are open now.
    pub outbound_open: u64,
    /// Connections holdline decided to open (one per destination at a time).
    pub outbound_opened: u64,
    /// Messages sent on an open connection to their destination instead of a new one.
    pub reused: u64,
    /// Connections holdline opened and closed for idleness (`outbound_idle_timeout`).
    pub closed_outbound_idle: u64,
    /// SIP over TLS: handshakes that failed, certificate reloads.
    pub tls: TlsCounters,
}

/// SIP over TLS counters since start.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TlsCounters {
    /// TLS connections accepted and set up (handshake done).
    pub inbound_handshakes: u64,
    /// Accepted connections whose handshake failed or did not finish within the message
    /// deadline (no certificate, a wrong one, not TLS at all).
    pub inbound_failed: u64,
    /// Connections holdline opened whose handshake failed (the peer's certificate not valid
    /// for its name or CA, or no TLS there).
    pub outbound_failed: u64,
    /// Certificate reloads (SIGHUP, or changed TLS settings) that took effect.
    pub reloads: u64,
    /// Certificate reloads refused (the old certificate kept serving).
    pub reload_failures: u64,
}

/// Admission control's counters for `/metrics`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct AdmissionCounters {
    /// Sources banned now.
    pub bans_active: u64,
    /// Bans since start.
    pub bans_total: u64,
    /// Datagrams dropped by admission control (banned sources, requests over a rate).
    pub dropped_total: u64,
}

/// A source banned by admission control, as `GET /api/v1/bans` lists it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct BanInfo {
    /// The source IP address.
    pub addr: String,
    /// `request-rate`, `unconfirmed-calls`, `auth-failures` or `admin`.
    pub reason: String,
    /// How long ago it was banned.
    pub banned_secs: u64,
    /// How long the ban still lasts.
    pub expires_in_secs: u64,
    /// Datagrams dropped from it since.
    pub dropped: u64,
}

/// Everything live at one instant: every queue with activity, every call, the counters.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LiveSnapshot {
    pub queues: BTreeMap<String, QueueLive>,
    pub calls: Vec<ActiveCall>,
    pub counters: Counters,
    /// Sources banned by admission control, by address.
    pub bans: Vec<BanInfo>,
    /// Health-checked trunk SBCs, by trunk and URI.
    pub sbcs: Vec<SbcHealthInfo>,
}

/// What OPTIONS health checks know of a trunk's SBC.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SbcHealthInfo {
    pub trunk: String,
    pub uri: String,
    /// `probing` (no verdict yet), `up` or `down`.
    pub state: String,
    /// Round-trip time of the last answered OPTIONS, in milliseconds.
    pub rtt_ms: Option<u64>,
    /// Out of failover for this many more seconds (a 503's Retry-After).
    pub retry_after_secs: Option<u64>,
    /// Unanswered probes in a row.
    pub failures_in_a_row: u32,
}

impl LiveSnapshot {
    /// The queue's waiting calls and agents' states; empty for a queue with no activity.
    pub fn queue(&self, queue: &str) -> QueueLive {
        self.queues.get(queue).cloned().unwrap_or_default()
    }
}

/// A snapshot on its way: the runtime answers from the task that owns the calls.
pub type SnapshotFuture = Pin<Box<dyn Future<Output = LiveSnapshot> + Send + 'static>>;

/// What the runtime tells the API about calls and agents right now. The answer is a future
/// because the state lives in the core task: the API asks it and waits, so a snapshot is
/// taken only when someone looks (a scrape or a status request), never on the call path.
pub trait LiveState: Send + Sync + 'static {
    fn snapshot(&self) -> SnapshotFuture;

    /// Lifts admission control's ban on `addr`; resolves to whether there was one. A live
    /// state without admission control has none to lift.
    fn lift_ban(&self, addr: std::net::IpAddr) -> LiftFuture {
        let _ = addr;
        Box::pin(std::future::ready(false))
    }

    /// The registered bindings of `user`, in order. A live state without a registrar has none.
    fn registrations(&self, user: String) -> RegistrationsFuture {
        let _ = user;
        Box::pin(std::future::ready(Vec::new()))
    }

    /// Removes binding `index` (in [`LiveState::registrations`] order) of `user`; resolves to
    /// whether there was one.
    fn remove_registration(&self, user: String, index: usize) -> LiftFuture {
        let _ = (user, index);
        Box::pin(std::future::ready(false))
    }
}

/// A ban being lifted: the runtime answers from the task that owns admission control.
pub type LiftFuture = Pin<Box<dyn Future<Output = bool> + Send + 'static>>;

/// A [`LiveState`] holding whatever was set last.
#[derive(Default)]
pub struct MemoryLive {
    inner: Mutex<LiveSnapshot>,
    registrations: Mutex<BTreeMap<String, Vec<RegistrationInfo>>>,
}

impl MemoryLive {
    pub fn set_queue(&self, queue: &str, live: QueueLive) {
        self.lock().queues.insert(queue.to_owned(), live);
    }

    pub fn set_calls(&self, calls: Vec<ActiveCall>) {
        self.lock().calls = calls;
    }

    pub fn set_counters(&self, counters: Counters) {
        self.lock().counters = counters;
    }

    pub fn set_bans(&self, bans: Vec<BanInfo>) {
        self.lock().bans = bans;
    }

    pub fn set_sbcs(&self, sbcs: Vec<SbcHealthInfo>) {
        self.lock().sbcs = sbcs;
    }

    pub fn set_registrations(&self, user: &str, list: Vec<RegistrationInfo>) {
        self.registrations
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(user.to_owned(), list);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, LiveSnapshot> {
        // A panic while holding the lock cannot leave these plain values half-written.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl LiveState for MemoryLive {
    fn snapshot(&self) -> SnapshotFuture {
        let snapshot = self.lock().clone();
        Box::pin(std::future::ready(snapshot))
    }

    fn lift_ban(&self, addr: std::net::IpAddr) -> LiftFuture {
        let addr = addr.to_string();
        let mut live = self.lock();
        let before = live.bans.len();
        live.bans.retain(|b| b.addr != addr);
        Box::pin(std::future::ready(live.bans.len() < before))
    }

    fn registrations(&self, user: String) -> RegistrationsFuture {
        let regs = self.registrations.lock().unwrap_or_else(|e| e.into_inner());
        let list = regs.get(&user).cloned().unwrap_or_default();
        Box::pin(std::future::ready(list))
    }

    fn remove_registration(&self, user: String, index: usize) -> LiftFuture {
        let mut regs = self.registrations.lock().unwrap_or_else(|e| e.into_inner());
        let removed = match regs.get_mut(&user) {
            Some(list) if index < list.len() => {
                list.remove(index);
                true
            }
            _ => false,
        };
        Box::pin(std::future::ready(removed))
    }
}
