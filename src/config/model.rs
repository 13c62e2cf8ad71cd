//! The validated configuration: plain, typed data the rest of holdline consumes.
//!
//! A [`Config`] only exists after [`super::validate`] accepted a file, so its invariants hold
//! for every reader: ids are unique, every reference (agent, group, forward target) resolves,
//! numbers are canonical E.164, durations are within their documented ranges, and no queue
//! forwarding chain loops. Paths are already resolved against the config file's directory.
//!
//! Nothing here reads files or sockets; the runtime opens what the paths name.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::number::E164;
use crate::sip::uri::{SipUri, Uri};
use crate::sip::Transport;

/// Shared with the queue engine, which owns them: a queue's id and how it offers calls.
pub use crate::queue::types::{OfferMode, QueueId, Routing};

/// The most agents (users plus group members, without duplicates) one queue may have.
pub const MAX_AGENTS_PER_QUEUE: usize = 50;
/// The longest queue name, in characters; it is shown to agents as the From display name.
pub const MAX_QUEUE_NAME_CHARS: usize = 64;

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(pub String);

        impl $name {
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

id_type!(
    /// A user's `id` from the config (`"amos"`); users are the agents.
    UserId
);
id_type!(
    /// A group's `id` from the config.
    GroupId
);
id_type!(
    /// A trunk's `id` from the config.
    TrunkId
);

/// The whole validated configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    pub sip: SipConfig,
    pub rtp: RtpConfig,
    pub api: ApiConfig,
    pub store: StoreConfig,
    pub media: MediaConfig,
    /// `[limits]`: per-source admission control.
    pub limits: super::limits::LimitsConfig,
    /// `[probe]`: OPTIONS probing of static contacts.
    pub probe: super::probe::ProbeConfig,
    /// `[registrar]`: REGISTER with digest authentication for users with a password.
    pub registrar: super::registrar::RegistrarConfig,
    /// `[features]`: feature codes, user-to-user ringing, extensions.
    pub features: super::features::FeaturesConfig,
    /// `[outbound]`, `[[clid_policy]]` and users' outbound calls.
    pub outbound: super::outbound::OutboundConfig,
    pub numbers: Vec<Number>,
    pub users: Vec<User>,
    pub groups: Vec<Group>,
    pub trunks: Vec<Trunk>,
    pub queues: Vec<Queue>,
}

/// `[sip]`: where the SIP stack listens and how it presents itself.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SipConfig {
    /// At least one; no duplicates.
    pub listen: Vec<Listen>,
    /// The host put in Contact and SDP `c=` when the listen address is not reachable (NAT).
    pub public_host: Option<String>,
    /// Domains the server answers for, lowercased. Empty: any.
    pub domains: Vec<String>,
    /// The User-Agent / Server header value (`[sip] server_header`); empty: neither header.
    pub user_agent: String,
    /// Present exactly when a `tls:` listener is configured.
    pub tls: Option<TlsFiles>,
    /// RFC 3261 §17.1.1.1 T1, the round-trip estimate (default 500 ms).
    pub t1: Duration,
    /// `[sip.connections]`: caps and deadlines of SIP connections.
    pub connections: ConnectionsConfig,
    /// `[sip] session_expires` / `min_se`: RFC 4028 session timers on caller dialogs.
    pub session_timer: SessionTimerConfig,
    /// `[sip] inbound` / `inbound_refuse`: who may call service numbers.
    pub inbound: super::inbound::InboundPolicy,
    /// `[sip] srtp`: SRTP policy for callers that are neither a trunk nor a user.
    pub srtp: crate::sip::sdp::SrtpPolicy,
    /// `[sip] dns_servers`: where trunk SBC host names are looked up. Empty: the system's
    /// resolver configuration (/etc/resolv.conf).
    pub dns_servers: Vec<std::net::SocketAddr>,
}

/// RFC 4028 session timers: the interval we ask for and the smallest we accept.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SessionTimerConfig {
    /// The session interval we grant at most (default 1800 s, at least 90 s, §4).
    pub session_expires: u32,
    /// The smallest interval we accept (default 90 s, RFC 4028 §4's floor); a smaller
    /// `Session-Expires` gets 422 with this `Min-SE` (§8.1).
    pub min_se: u32,
}

impl Default for SessionTimerConfig {
    fn default() -> Self {
        SessionTimerConfig {
            session_expires: 1800,
            min_se: 90,
        }
    }
}

/// `[sip.connections]`: how many SIP connections may be open, and for how long.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConnectionsConfig {
    /// Open connections at most, inbound and outbound. `None`: derived at start from the
    /// descriptor limit, less a reserve for the RTP ports, the store and the API.
    pub max_connections: Option<usize>,
    /// Inbound connections at most from one source address (default 64).
    pub max_per_source: usize,
    /// A message must be complete within this time of its first byte (default 10 s).
    pub message_deadline: Duration,
    /// A connection that receives nothing for this long is closed (default 600 s).
    pub idle_timeout: Duration,
    /// A connection holdline opened is closed when nothing went either way for this long
    /// (default 240 s).
    pub outbound_idle_timeout: Duration,
}

/// One listening socket: `udp:0.0.0.0:5060`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Listen {
    pub transport: Transport,
    pub addr: SocketAddr,
}

impl fmt::Display for Listen {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = match self.transport {
            Transport::Udp => "udp",
            Transport::Tcp => "tcp",
            Transport::Tls => "tls",
        };
        write!(f, "{scheme}:{}", self.addr)
    }
}

/// The certificate chain and private key (PEM files) for `tls:` listeners.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
    /// `tls_client_ca`: when set, a client must present a certificate issued by one of these
    /// CAs (mutual TLS); otherwise no client certificate is asked for.
    pub client_ca: Option<PathBuf>,
    /// `tls_ca`: the CAs the certificates of TLS destinations other than trunks (users'
    /// static `sips:` / `transport=tls` contacts) must chain to; `None`: the system's roots.
    pub peer_ca: Option<PathBuf>,
}

/// TLS toward a trunk whose proxy is `sips:` or `;transport=tls`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TrunkTls {
    /// `tls_ca`: the CA certificates (PEM) the SBC's certificate must chain to; `None`: the
    /// system's roots.
    pub ca: Option<PathBuf>,
    /// `tls_name`: the name the SBC's certificate must be valid for; `None`: the proxy's host
    /// (an IP address must then be in the certificate's subjectAltName).
    pub name: Option<String>,
    /// `tls_cert` and `tls_key`: the client certificate holdline presents (mutual TLS).
    pub client: Option<(PathBuf, PathBuf)>,
}

/// `[rtp]`
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RtpConfig {
    /// First port of the range: even (RFC 3550 §11: RTP on even, RTCP on the next odd port).
    pub port_min: u16,
    /// Last port of the range (inclusive).
    pub port_max: u16,
    /// Send RTP to where the peer's RTP comes from, not only to its SDP address (NAT).
    pub symmetric: bool,
    /// Hang up a call after this long without RTP from the caller; `None`: never.
    pub timeout: Option<Duration>,
    /// Run the pacer threads at real-time priority (SCHED_FIFO) when the OS lets us.
    pub realtime: bool,
    /// Strict RTP: in-sequence packets that latch a source other than the SDP address (NAT).
    pub latch_packets: u16,
    /// How long a caller's media goes out before its ACK or RTP proves the SDP address is its
    /// own (reflection); `None`: no bound.
    pub unproven_media: Option<Duration>,
}

impl RtpConfig {
    /// The even ports usable for RTP (each with its RTCP port inside the range).
    pub fn rtp_ports(&self) -> impl Iterator<Item = u16> {
        let max = self.port_max;
        (self.port_min..max).step_by(2)
    }
}

/// `[api]`
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiConfig {
    pub listen: SocketAddr,
    /// Bearer token required on every request when set; required for non-loopback listeners.
    pub token: Option<String>,
    /// The web console's admin password, an argon2 PHC string (`holdline admin-password`
    /// makes one); `None`: admins sign in to the console with the token only.
    pub admin_password_hash: Option<String>,
}

/// `[store]`
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoreConfig {
    /// The SQLite database file.
    pub path: PathBuf,
    /// How long the queue event log keeps an event; `None`: for ever.
    pub keep_events: Option<Duration>,
}

/// `[media]`
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MediaConfig {
    /// Longer greeting / music files are refused when loaded.
    pub max_prompt: Duration,
    /// Where uploaded prompts are stored (`[media] dir`, else `prompts/` beside the store);
    /// `None`: the store is in memory and no directory is set, so uploads are refused.
    pub prompt_dir: Option<PathBuf>,
    /// Largest prompt upload accepted, in bytes (`[media] max_upload_mb`).
    pub max_upload_bytes: u64,
}

/// `[[number]]`
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Number {
    pub e164: E164,
    pub kind: NumberKind,
}

/// What a number is for. Only service numbers may be assigned to queues.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum NumberKind {
    ServiceToll,
    ServiceTollFree,
    User,
}

impl NumberKind {
    pub fn is_service(self) -> bool {
        !matches!(self, NumberKind::User)
    }

    /// The spelling used in the file.
    pub fn as_str(self) -> &'static str {
        match self {
            NumberKind::ServiceToll => "service-toll",
            NumberKind::ServiceTollFree => "service-toll-free",
            NumberKind::User => "user",
        }
    }
}

impl fmt::Display for NumberKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `[[user]]`: a person who can be an agent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct User {
    pub id: UserId,
    /// Display name; the id when the file gives none.
    pub name: String,
    /// Digest password for REGISTER; `None`: the user cannot register, only static contacts.
    pub password: Option<String>,
    /// Static contacts for phones that do not register.
    pub contacts: Vec<Uri>,
    /// The user's own numbers (kind `user`).
    pub numbers: Vec<E164>,
    /// `srtp`: this user's SRTP policy; `None`: `[sip] srtp`.
    pub srtp: Option<crate::sip::sdp::SrtpPolicy>,
}

/// `[[group]]`
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Group {
    pub id: GroupId,
    pub members: Vec<UserId>,
}

/// `[[trunk]]`: a carrier or SBC used for calls to external numbers and SIP URIs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Trunk {
    pub id: TrunkId,
    /// Where requests are sent (`sip:sbc.carrier.example:5061;transport=tls`): the first of
    /// `sbcs` by priority (the `proxy` key, or the `sbcs` entry with the lowest priority).
    pub proxy: SipUri,
    /// Every SBC of the trunk (at least one; `proxy` alone is one SBC), in config order.
    pub sbcs: Vec<Sbc>,
    /// How long an INVITE through this trunk waits for a provisional response before the
    /// next SBC (or trunk) is tried. Shorter than Timer B.
    pub first_response_timeout: std::time::Duration,
    /// OPTIONS health checks of every SBC (`None`: off).
    pub health: Option<TrunkHealth>,
    /// Which external targets may be reached through this trunk (toll-fraud control).
    pub allow: Vec<AllowPattern>,
    pub auth: Option<TrunkAuth>,
    /// How numbers written without `+` are read for this trunk (see [`super::dial`]).
    pub dialling: super::dial::DialRules,
    /// Present exactly when the proxy is reached over TLS.
    pub tls: Option<TrunkTls>,
    /// Where this trunk's requests come from (`sources`, default its SBCs' addresses); see
    /// [`super::inbound::trunk_of_source`].
    pub sources: Vec<super::inbound::Cidr>,
    /// `srtp`: the trunk's SRTP policy; `None`: `[sip] srtp`.
    pub srtp: Option<crate::sip::sdp::SrtpPolicy>,
}

impl Trunk {
    /// Whether this trunk may carry a call to `target`.
    pub fn allows(&self, target: &ExternalTarget) -> bool {
        self.allow.iter().any(|p| p.matches(target))
    }
}

/// One SBC address of a trunk: tried in `priority` order (lowest first), by `weight` within
/// a priority (RFC 2782's selection, see `b2bua::trunk`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sbc {
    pub uri: SipUri,
    pub priority: u16,
    pub weight: u16,
}

/// A trunk's health checks: an OPTIONS to each SBC every `interval`; `down_after`
/// unanswered ones in a row take it out of failover, `up_after` answered ones bring it back.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TrunkHealth {
    pub interval: std::time::Duration,
    pub down_after: u32,
    pub up_after: u32,
}

/// Digest credentials holdline answers a trunk's 401/407 challenge with.
#[derive(Clone, PartialEq, Eq)]
pub struct TrunkAuth {
    pub username: String,
    pub password: String,
    /// Answer only challenges for this realm; `None`: any.
    pub realm: Option<String>,
}

/// Without the password: configurations and call legs are logged with `{:?}`.
impl std::fmt::Debug for TrunkAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TrunkAuth")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .field("realm", &self.realm)
            .finish()
    }
}

/// One entry of a trunk's `allow` list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AllowPattern {
    /// `+1425*`: numbers starting with these digits (`+*` is every number).
    NumberPrefix(String),
    /// `+14255550123`: exactly this number.
    Number(E164),
    /// `sip:partner.example.com`: any SIP URI at this host (lowercased).
    SipHost(String),
}

impl AllowPattern {
    pub fn matches(&self, target: &ExternalTarget) -> bool {
        match (self, target) {
            (AllowPattern::NumberPrefix(p), ExternalTarget::Number(n)) => {
                n.digits().starts_with(p.as_str())
            }
            (AllowPattern::Number(a), ExternalTarget::Number(n)) => a == n,
            (AllowPattern::SipHost(h), ExternalTarget::SipHost(t)) => h.eq_ignore_ascii_case(t),
            _ => false,
        }
    }
}

/// What a trunk's allow list is checked against for an external forward.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ExternalTarget {
    Number(E164),
    SipHost(String),
}

/// Where a call is forwarded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    /// `user:ID`
    User(UserId),
    /// `queue:ID`
    Queue(QueueId),
    /// `tel:+E164`: through `trunk`, the first trunk whose allow list admits the number.
    Tel { number: E164, trunk: TrunkId },
    /// `sip:URI`: through `trunk`, as for `Tel`.
    Sip { uri: SipUri, trunk: TrunkId },
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::User(id) => write!(f, "user:{id}"),
            Target::Queue(id) => write!(f, "queue:{id}"),
            Target::Tel { number, .. } => write!(f, "tel:{number}"),
            Target::Sip { uri, .. } => write!(f, "{uri}"),
        }
    }
}

/// `[[queue]]`
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Queue {
    pub id: QueueId,
    /// ≤ 64 characters; the id when the file gives none.
    pub name: String,
    /// Service numbers that reach the queue.
    pub numbers: Vec<E164>,
    /// SIP addresses that reach the queue (`sip:sales@example.com`), matched on user@host.
    pub addresses: Vec<SipUri>,
    /// Played once before music on hold.
    pub greeting: Option<PathBuf>,
    pub music_on_hold: Music,
    pub routing: Routing,
    pub offer: OfferMode,
    /// As listed in `agents`.
    pub agents: Vec<UserId>,
    /// As listed in `groups`.
    pub groups: Vec<GroupId>,
    /// Everyone who can be offered calls: `agents` in order, then each group's members in
    /// order, without duplicates. Serial routing rings in this order. At most 50.
    pub members: Vec<UserId>,
    /// Agents may opt out of this queue.
    pub allow_opt_out: bool,
    /// How long an offered call rings an agent (15–180 s).
    pub agent_alert_time: Duration,
    /// Pause after an agent's call before the next offer.
    pub wrap_up: Duration,
    /// Ring (180) this long before answering a caller (0–30 s; default 0: answer at once).
    pub answer_delay: Duration,
    /// Calls waiting at once (0–200); one more gets `on_overflow`.
    pub max_calls: u32,
    pub on_overflow: OverflowAction,
    /// Longest wait (0–2700 s, in 15 s steps) before `on_timeout`.
    pub max_wait: Duration,
    pub on_timeout: TimeoutAction,
    pub no_agents: NoAgentsAction,
    /// The service-level threshold (0–2400 s, default [`DEFAULT_SERVICE_LEVEL_SECS`]): a call
    /// answered after waiting at most this long counts toward the queue's service level.
    pub service_level: Duration,
    /// Users who may edit this queue (and no other) in the web console, signed in with their
    /// SIP password: Teams' delegated queue admins. At most [`MAX_AUTHORIZED_USERS`].
    pub authorized_users: Vec<UserId>,
}

/// The most authorized users (delegated admins) a queue lists.
pub const MAX_AUTHORIZED_USERS: usize = 50;

/// The default service-level threshold: 20 s, the contact-centre "80/20" target (80 % of calls
/// answered within 20 seconds), the one most service-level goals are written against.
pub const DEFAULT_SERVICE_LEVEL_SECS: u64 = 20;

/// The longest service-level threshold, 40 minutes (the cloud call queues' limit).
pub const MAX_SERVICE_LEVEL_SECS: u64 = 2400;

impl Queue {
    /// The audio files the queue plays, with the field that names each: its greeting, then its
    /// music on hold unless that is the default.
    pub fn prompt_files(&self) -> impl Iterator<Item = (&'static str, &Path)> {
        let music = match &self.music_on_hold {
            Music::File(path) => Some(("music_on_hold", path.as_path())),
            Music::Default => None,
        };
        let greeting = self.greeting.as_deref().map(|g| ("greeting", g));
        greeting.into_iter().chain(music)
    }
}

/// Music on hold: the built-in asset or a file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Music {
    Default,
    File(PathBuf),
}

/// `on_overflow`: a call arriving when `max_calls` are waiting.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OverflowAction {
    /// 486 Busy Here before answering.
    Busy,
    Forward(Target),
}

/// `on_timeout`: a call that waited `max_wait`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TimeoutAction {
    Disconnect,
    Forward(Target),
}

/// `no_agents`: a call arriving when no agent is opted in and signed in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NoAgentsAction {
    /// Queue the call anyway (the default).
    Queue,
    Disconnect,
    Forward(Target),
}

impl Config {
    pub fn queue(&self, id: &QueueId) -> Option<&Queue> {
        self.queues.iter().find(|q| &q.id == id)
    }

    pub fn user(&self, id: &UserId) -> Option<&User> {
        self.users.iter().find(|u| &u.id == id)
    }

    pub fn group(&self, id: &GroupId) -> Option<&Group> {
        self.groups.iter().find(|g| &g.id == id)
    }

    pub fn trunk(&self, id: &TrunkId) -> Option<&Trunk> {
        self.trunks.iter().find(|t| &t.id == id)
    }

    /// `1 queue, 1 number, 0 users`: what `check-config` prints after `ok:`.
    pub fn summary(&self) -> String {
        fn count(n: usize, one: &str) -> String {
            if n == 1 {
                format!("1 {one}")
            } else {
                format!("{n} {one}s")
            }
        }
        let mut parts = vec![
            count(self.queues.len(), "queue"),
            count(self.numbers.len(), "number"),
            count(self.users.len(), "user"),
        ];
        if !self.groups.is_empty() {
            parts.push(count(self.groups.len(), "group"));
        }
        if !self.trunks.is_empty() {
            parts.push(count(self.trunks.len(), "trunk"));
        }
        parts.join(", ")
    }
}
