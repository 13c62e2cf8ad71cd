//! From the file's model ([`RawConfig`]) to a [`Config`]: defaults, ranges, references, loops.
//!
//! Every check runs and every problem is collected, so one `check-config` shows the whole list.
//! Each [`Problem`] names its object (`queue "sales"`), its field, the value and the reason, in
//! the words of the file. The limits follow DESIGN.md §1 (the cloud call-queue reference):
//! `max_calls` 0–200, `max_wait` 0–2700 s in 15 s steps, `agent_alert_time` 15–180 s, queue
//! names ≤ 64 characters, 50 agents per queue.
//!
//! Queues are checked in `validate_queue.rs`; this file holds the sections, numbers,
//! users, groups and trunks, and the shared helpers.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::number::E164;
use crate::sip::uri::{Host, Uri};
use crate::sip::Transport;

use super::error::Problem;
use super::model::ConnectionsConfig;
use super::model::SessionTimerConfig;
use super::model::{
    ApiConfig, Config, Group, GroupId, Listen, MediaConfig, Number, NumberKind, RtpConfig,
    SipConfig, StoreConfig, TlsFiles, User, UserId,
};
use super::prompt_ref::prompt_dir;
use super::raw::RawConnections;
use super::raw::{RawApi, RawConfig, RawGroup, RawMedia, RawRtp, RawSip, RawUser};
use super::uri::{parse_host, parse_sip_uri};
use super::validate_queue::queues;
use super::validate_trunk::trunks;

/// How long the event log keeps events by default: a year of queue statistics.
pub const DEFAULT_KEEP_EVENTS_DAYS: i64 = 365;

/// The longest id (of a queue, user, group or trunk).
pub const MAX_ID_CHARS: usize = 64;

/// Checks `raw` and builds the [`Config`]; relative paths resolve against `base_dir`.
pub fn validate(raw: RawConfig, base_dir: &Path) -> Result<Config, Vec<Problem>> {
    let mut p = Problems::default();
    let sip = sip(&raw.sip, base_dir, &mut p);
    let rtp = rtp(&raw.rtp, &mut p);
    let api = api(&raw.api, &mut p);
    let keep_days = in_range(
        "[store]",
        "keep_events_days",
        raw.store.keep_events_days,
        DEFAULT_KEEP_EVENTS_DAYS,
        0..=36_500,
        " days (0: keep every event)",
        &mut p,
    );
    let store = StoreConfig {
        path: resolve(base_dir, raw.store.path.as_deref().unwrap_or("holdline.db")),
        keep_events: (keep_days > 0).then(|| seconds(keep_days * 86_400)),
    };
    if raw
        .store
        .path
        .as_deref()
        .is_some_and(|s| s.trim().is_empty())
    {
        p.add("[store]", "path", "path is empty".into());
    }
    let media = media(&raw.media, &mut p);
    let media = MediaConfig {
        prompt_dir: prompt_dir(
            raw.media.dir.as_deref(),
            raw.store.path.as_deref(),
            base_dir,
        ),
        max_upload_bytes: upload_limit(&raw.media, &mut p),
        ..media
    };
    let limits = super::limits::limits(&raw.limits, &mut p);
    let probe = super::probe::probe(&raw.probe, &mut p);
    let registrar = super::registrar::registrar(&raw.registrar, &sip, &mut p);
    let numbers = numbers(&raw, &mut p);
    let users = users(&raw.user, &numbers, &mut p);
    let groups = groups(&raw.group, &users, &mut p);
    let mut trunks = trunks(&raw.trunk, &mut p);
    let queues = queues(
        &raw, base_dir, &sip, &numbers, &users, &groups, &trunks, &mut p,
    );
    let features = super::features::features(&raw, &mut p);
    let outbound = super::outbound::outbound(&raw, &numbers, &users, &mut p);
    super::validate_tls::tls(&raw, base_dir, &sip, &users, &mut trunks, &queues, &mut p);
    super::validate_srtp::trunks(&raw.trunk, &mut trunks, &mut p);
    super::inbound::named_sbcs_need_sources(&raw.trunk, &trunks, &sip, &mut p);
    if !p.list.is_empty() {
        return Err(p.list);
    }
    Ok(Config {
        features,
        outbound,
        sip,
        rtp,
        api,
        store,
        media,
        limits,
        probe,
        registrar,
        numbers,
        users,
        groups,
        trunks,
        queues,
    })
}

/// The problems found so far.
#[derive(Default)]
pub(crate) struct Problems {
    pub list: Vec<Problem>,
}

impl Problems {
    pub fn add(&mut self, subject: &str, field: &str, message: String) {
        self.list.push(Problem {
            subject: subject.to_owned(),
            field: field.to_owned(),
            message,
        });
    }
}

/// `queue "sales"`, or `queue #2` when the id is empty.
pub(crate) fn subject(kind: &str, id: &str, index: usize) -> String {
    if id.is_empty() {
        format!("{kind} #{}", index + 1)
    } else {
        format!("{kind} {id:?}")
    }
}

/// Checks the form of an id; the error completes "`id "…"` …".
pub(crate) fn valid_id(id: &str) -> Result<(), String> {
    if id.is_empty() {
        return Err("is empty".into());
    }
    if id.chars().count() > MAX_ID_CHARS {
        return Err(format!("is longer than {MAX_ID_CHARS} characters"));
    }
    if let Some(c) = id
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
    {
        return Err(format!(
            "contains {c:?}; ids may contain only letters, digits, '.', '_' and '-'"
        ));
    }
    Ok(())
}

/// Checks an `id` field and its uniqueness among `seen`; returns whether it is usable.
pub(crate) fn check_id(
    subj: &str,
    id: &str,
    kind: &str,
    seen: &mut HashSet<String>,
    p: &mut Problems,
) -> bool {
    if let Err(why) = valid_id(id) {
        p.add(subj, "id", format!("id {id:?} {why}"));
        return false;
    }
    if !seen.insert(id.to_owned()) {
        p.add(
            subj,
            "id",
            format!("there is more than one {kind} with id {id:?}"),
        );
        return false;
    }
    true
}

/// Reads an integer field that must lie in `range`; `None` (after reporting) when it does not.
pub(crate) fn in_range(
    subj: &str,
    field: &str,
    value: Option<i64>,
    default: i64,
    range: std::ops::RangeInclusive<i64>,
    unit: &str,
    p: &mut Problems,
) -> i64 {
    let v = value.unwrap_or(default);
    if !range.contains(&v) {
        p.add(
            subj,
            field,
            format!(
                "{field} {v} is out of range; it must be {}–{}{unit}",
                range.start(),
                range.end()
            ),
        );
        return default;
    }
    v
}

pub(crate) fn seconds(s: i64) -> Duration {
    Duration::from_secs(u64::try_from(s).unwrap_or(0))
}

/// A path from the file, relative to the config file's directory.
pub(crate) fn resolve(base_dir: &Path, path: &str) -> PathBuf {
    base_dir.join(path)
}

const DEFAULT_LISTEN: [&str; 2] = ["udp:0.0.0.0:5060", "tcp:0.0.0.0:5060"];

fn sip(raw: &RawSip, base_dir: &Path, p: &mut Problems) -> SipConfig {
    const S: &str = "[sip]";
    let texts: Vec<String> = match &raw.listen {
        Some(l) => l.clone(),
        None => DEFAULT_LISTEN.iter().map(|s| s.to_string()).collect(),
    };
    if texts.is_empty() {
        p.add(
            S,
            "listen",
            "listen is empty; give at least one address".into(),
        );
    }
    let mut listen: Vec<Listen> = Vec::new();
    for text in &texts {
        match parse_served_listen(text) {
            Ok(l) if listen.contains(&l) => {
                p.add(S, "listen", format!("listen {text:?} is given twice"))
            }
            Ok(l) => listen.push(l),
            Err(why) => p.add(S, "listen", format!("listen {text:?} {why}")),
        }
    }
    let tls_wanted = listen.iter().any(|l| l.transport == Transport::Tls);
    let tls = match (&raw.tls_cert, &raw.tls_key) {
        (Some(cert), Some(key)) => Some(TlsFiles {
            cert: resolve(base_dir, cert),
            key: resolve(base_dir, key),
            client_ca: raw.tls_client_ca.as_deref().map(|ca| resolve(base_dir, ca)),
            peer_ca: raw.tls_ca.as_deref().map(|ca| resolve(base_dir, ca)),
        }),
        (cert, key) => {
            if tls_wanted {
                let missing = match (cert, key) {
                    (None, None) => "tls_cert and tls_key",
                    (None, _) => "tls_cert",
                    _ => "tls_key",
                };
                p.add(
                    S,
                    if cert.is_none() {
                        "tls_cert"
                    } else {
                        "tls_key"
                    },
                    format!("a tls: listen address needs {missing} (PEM files)"),
                );
            }
            None
        }
    };
    let public_host = raw.public_host.clone();
    if let Some(h) = &public_host {
        if let Err(why) = parse_host(h) {
            p.add(S, "public_host", format!("public_host {why}"));
        }
    }
    let mut domains = Vec::new();
    for d in &raw.domains {
        match parse_host(d) {
            Ok(Host::Name(n)) => domains.push(n.trim_end_matches('.').to_ascii_lowercase()),
            Ok(_) => p.add(
                S,
                "domains",
                format!("domain {d:?} is an IP address, not a domain"),
            ),
            Err(why) => p.add(S, "domains", format!("domain {why}")),
        }
    }
    let user_agent = server_header(raw, p);
    let t1 = in_range(S, "t1_ms", raw.t1_ms, 500, 100..=5000, " ms", p);
    SipConfig {
        listen,
        public_host,
        domains,
        user_agent,
        tls: if tls_wanted { tls } else { None },
        t1: Duration::from_millis(u64::try_from(t1).unwrap_or(500)),
        connections: connections(&raw.connections, t1, p),
        session_timer: session_timer(raw, p),
        inbound: super::inbound::policy(raw, p),
        srtp: super::validate_srtp::sip_policy(raw, p),
        dns_servers: dns_servers(raw, p),
    }
}

/// `[sip] dns_servers`: `IP:port` of each server, in the order to ask them. An address
/// without a port is refused rather than guessed, so a test server's port is never lost.
fn dns_servers(raw: &RawSip, p: &mut Problems) -> Vec<std::net::SocketAddr> {
    const S: &str = "[sip]";
    let Some(texts) = &raw.dns_servers else {
        return Vec::new();
    };
    if texts.is_empty() {
        p.add(
            S,
            "dns_servers",
            "dns_servers is empty; give IP:port of at least one server, or leave it out to \
             use /etc/resolv.conf"
                .into(),
        );
    }
    let mut out = Vec::new();
    for text in texts {
        match text.trim().parse::<std::net::SocketAddr>() {
            Ok(a) if a.port() == 0 => p.add(
                S,
                "dns_servers",
                format!("dns_servers entry {text:?} has port 0"),
            ),
            Ok(a) if out.contains(&a) => p.add(
                S,
                "dns_servers",
                format!("dns_servers entry {text:?} is given twice"),
            ),
            Ok(a) => out.push(a),
            Err(_) => p.add(
                S,
                "dns_servers",
                format!(
                    "dns_servers entry {text:?} is not IP:port (\"192.0.2.53:53\", \"[2001:db8::53]:53\")"
                ),
            ),
        }
    }
    out
}

/// `[sip] session_expires` and `min_se` (RFC 4028). Neither may go below the 90 s floor of
/// §4 (a peer would refuse it with 422), and the interval we grant cannot be smaller than the
/// smallest we accept. A day at most: a longer interval no longer detects a dead peer.
fn session_timer(raw: &RawSip, p: &mut Problems) -> SessionTimerConfig {
    const S: &str = "[sip]";
    let expires = in_range(
        S,
        "session_expires",
        raw.session_expires,
        1800,
        90..=86_400,
        " s",
        p,
    );
    let min_se = in_range(S, "min_se", raw.min_se, 90, 90..=86_400, " s", p);
    if min_se > expires {
        p.add(
            S,
            "min_se",
            format!("min_se ({min_se} s) must not exceed session_expires ({expires} s)"),
        );
    }
    SessionTimerConfig {
        session_expires: u32::try_from(expires).unwrap_or(1800),
        min_se: u32::try_from(min_se.min(expires)).unwrap_or(90),
    }
}

/// `[sip.connections]`. The idle timeout's default, 600 s, is five times the 120 s at most
/// between an RFC 5626 §4.4.1 phone's keep-alive pings, so a registered phone's flow survives
/// a few lost pings; the caps, not the idle timeout, are what bound a flood.
fn connections(raw: &RawConnections, t1_ms: i64, p: &mut Problems) -> ConnectionsConfig {
    const S: &str = "[sip.connections]";
    let max_connections = raw.max_connections.map(|_| {
        in_range(
            S,
            "max_connections",
            raw.max_connections,
            1024,
            16..=1_000_000,
            "",
            p,
        )
    });
    let max_per_source = in_range(
        S,
        "max_per_source",
        raw.max_per_source,
        64,
        1..=1_000_000,
        "",
        p,
    );
    let message_deadline = in_range(
        S,
        "message_deadline",
        raw.message_deadline,
        10,
        1..=300,
        " s",
        p,
    );
    let idle_timeout = in_range(
        S,
        "idle_timeout",
        raw.idle_timeout,
        600,
        10..=86_400,
        " s",
        p,
    );
    if message_deadline > idle_timeout {
        p.add(
            S,
            "message_deadline",
            format!(
                "message_deadline {message_deadline} s is longer than idle_timeout {idle_timeout} s; \
                 a message would never meet it"
            ),
        );
    }
    ConnectionsConfig {
        max_connections: max_connections.map(|n| usize::try_from(n).unwrap_or(1024)),
        max_per_source: usize::try_from(max_per_source).unwrap_or(64),
        message_deadline: seconds(message_deadline),
        idle_timeout: seconds(idle_timeout),
        outbound_idle_timeout: outbound_idle_timeout(raw, t1_ms, p),
    }
}

/// `[sip.connections] outbound_idle_timeout`: when a connection holdline opened (to an agent
/// or a trunk) is closed for idleness. The default, 240 s, outlasts the longest silence a
/// transaction leaves on it: an INVITE rings up to the longest agent alert time (180 s) with
/// nothing on the wire after its 180, and its CANCEL's 487 comes within a transaction's
/// 64×T1 (32 s). It may not be shorter than 64×T1 (RFC 3261 §17.1.1.2 Timer B), or a
/// transaction could lose its connection before its answer.
fn outbound_idle_timeout(raw: &RawConnections, t1_ms: i64, p: &mut Problems) -> Duration {
    const S: &str = "[sip.connections]";
    let secs = in_range(
        S,
        "outbound_idle_timeout",
        raw.outbound_idle_timeout,
        240,
        1..=86_400,
        " s",
        p,
    );
    let transaction_ms = 64 * t1_ms;
    if secs * 1000 < transaction_ms {
        p.add(
            S,
            "outbound_idle_timeout",
            format!(
                "outbound_idle_timeout {secs} s is shorter than a transaction (64 x t1_ms = {} s); \
                 a request could lose its connection before its answer",
                transaction_ms as f64 / 1000.0
            ),
        );
    }
    seconds(secs)
}

/// `[sip] server_header` (or its older name `user_agent`): the Server / User-Agent value.
/// The default names the product without its version, which would only tell a scanner which
/// flaws to try; `server_header = ""` sends neither header (RFC 3261 §20.35, §20.41: both are
/// optional).
fn server_header(raw: &RawSip, p: &mut Problems) -> String {
    const S: &str = "[sip]";
    let (field, value) = match (&raw.server_header, &raw.user_agent) {
        (Some(_), Some(_)) => {
            p.add(
                S,
                "server_header",
                "server_header and user_agent are the same setting; keep server_header only".into(),
            );
            return String::new();
        }
        (Some(v), None) => ("server_header", v),
        (None, Some(v)) => ("user_agent", v),
        (None, None) => return "holdline".to_owned(),
    };
    // A header value: no line breaks (they would inject headers). Empty is "no header" only
    // under the new name; the older key always required a value.
    let empty_ok = field == "server_header" && value.is_empty();
    if (!empty_ok && value.trim().is_empty()) || value.chars().any(char::is_control) {
        let what = if field == "server_header" {
            "server_header must be text without control characters (\"\" sends no header)"
        } else {
            "user_agent must be non-empty text without control characters"
        };
        p.add(S, field, what.into());
    }
    value.clone()
}

/// `udp:0.0.0.0:5060`, `tcp:[::]:5060`, `tls:0.0.0.0:5061`; the error completes the sentence.
/// A listen address holdline serves: every transport of [`parse_listen`] is served now (a
/// `tls:` one with `tls_cert` and `tls_key`). `serve --listen` checks the same.
pub fn parse_served_listen(text: &str) -> Result<Listen, String> {
    parse_listen(text)
}

pub fn parse_listen(text: &str) -> Result<Listen, String> {
    let Some((scheme, addr)) = text.split_once(':') else {
        return Err("has no transport; write udp:ADDR:PORT, tcp:ADDR:PORT or tls:ADDR:PORT".into());
    };
    let transport = match scheme.to_ascii_lowercase().as_str() {
        "udp" => Transport::Udp,
        "tcp" => Transport::Tcp,
        "tls" => Transport::Tls,
        _ => {
            return Err(format!(
                "has unknown transport {scheme:?}; use udp, tcp or tls"
            ))
        }
    };
    let addr: SocketAddr = addr.parse().map_err(|_| {
        format!("has {addr:?}, which is not IP:PORT (an IPv6 address goes in brackets: [::]:5060)")
    })?;
    Ok(Listen { transport, addr })
}

fn rtp(raw: &RawRtp, p: &mut Problems) -> RtpConfig {
    const S: &str = "[rtp]";
    let text = raw.ports.as_deref().unwrap_or("20000-30000");
    let (mut port_min, mut port_max) = (20000, 30000);
    match parse_port_range(text) {
        Ok((a, b)) => (port_min, port_max) = (a, b),
        Err(why) => p.add(S, "ports", format!("ports {text:?} {why}")),
    }
    let timeout = in_range(S, "timeout", raw.timeout, 60, 0..=86400, " s", p);
    let (latch_packets, unproven_media) = rtp_strict(raw, p);
    RtpConfig {
        port_min,
        port_max,
        symmetric: raw.symmetric.unwrap_or(true),
        timeout: (timeout > 0).then(|| seconds(timeout)),
        realtime: raw.realtime.unwrap_or(true),
        latch_packets,
        unproven_media,
    }
}

/// `[rtp] latch_packets` and `unproven_media`: strict RTP and the bound on media toward a
/// caller that has not proven its address. One packet is no run at all, and more than a
/// second of in-sequence packets only delays a NAT'd caller's audio; a minute of media to an
/// unproven address is already a lot to reflect.
fn rtp_strict(raw: &RawRtp, p: &mut Problems) -> (u16, Option<Duration>) {
    const S: &str = "[rtp]";
    let latch = in_range(
        S,
        "latch_packets",
        raw.latch_packets,
        4,
        2..=50,
        " packets",
        p,
    );
    let unproven = in_range(S, "unproven_media", raw.unproven_media, 5, 1..=60, " s", p);
    (u16::try_from(latch).unwrap_or(4), Some(seconds(unproven)))
}

/// `20000-30000`: an even first port ≥ 1024 (RFC 3550 §11: RTP on even ports, RTCP on the
/// next), at least one RTP/RTCP pair.
fn parse_port_range(text: &str) -> Result<(u16, u16), String> {
    let (a, b) = text
        .split_once('-')
        .ok_or_else(|| "is not a range FIRST-LAST".to_string())?;
    let a: u16 = a
        .trim()
        .parse()
        .map_err(|_| "does not start with a port number".to_string())?;
    let b: u16 = b
        .trim()
        .parse()
        .map_err(|_| "does not end with a port number".to_string())?;
    if a < 1024 {
        return Err(format!("starts at {a}; use ports from 1024 up"));
    }
    if !a.is_multiple_of(2) {
        return Err(format!(
            "starts at odd port {a}; RTP uses even ports (RFC 3550 §11)"
        ));
    }
    if b <= a {
        return Err("must hold at least one RTP/RTCP port pair".into());
    }
    Ok((a, b))
}

fn api(raw: &RawApi, p: &mut Problems) -> ApiConfig {
    const S: &str = "[api]";
    let text = raw.listen.as_deref().unwrap_or("127.0.0.1:8080");
    let listen = match text.parse::<SocketAddr>() {
        Ok(a) => a,
        Err(_) => {
            p.add(S, "listen", format!("listen {text:?} is not IP:PORT"));
            SocketAddr::from(([127, 0, 0, 1], 8080))
        }
    };
    let token = raw.token.clone();
    if token.as_deref().is_some_and(|t| t.trim().is_empty()) {
        p.add(S, "token", "token is empty; remove it or set one".into());
    }
    if let Err(why) = api_listen_allowed(listen, token.as_deref()) {
        p.add(S, "token", format!("listen {why}"));
    }
    let admin_password_hash = raw.admin_password_hash.clone();
    if let Some(Err(why)) = admin_password_hash.as_deref().map(admin_password_hash_ok) {
        p.add(S, "admin_password_hash", why);
    }
    ApiConfig {
        listen,
        token,
        admin_password_hash,
    }
}

/// `[api] admin_password_hash` must be an argon2 hash in PHC form (`$argon2id$v=19$m=…`), as
/// `holdline admin-password` prints: a plain password there would be a password on disk.
fn admin_password_hash_ok(text: &str) -> Result<(), String> {
    let hint = "make one with `holdline admin-password`";
    let hash = argon2::PasswordHash::new(text.trim()).map_err(|e| {
        format!("admin_password_hash is not an argon2 PHC string ($argon2id$v=19$…): {e}; {hint}")
    })?;
    if !["argon2id", "argon2i", "argon2d"].contains(&hash.algorithm.as_str()) || hash.hash.is_none()
    {
        return Err(format!(
            "admin_password_hash is a {} hash, not argon2; {hint}",
            hash.algorithm
        ));
    }
    Ok(())
}

/// The rule for where the admin API may listen, for `[api] listen` and `serve --api-listen`
/// alike: an unauthenticated admin API may only be reachable from this host, so a
/// non-loopback address needs a configured token. The error completes "listen …".
pub fn api_listen_allowed(listen: SocketAddr, token: Option<&str>) -> Result<(), String> {
    if token.is_none() && !listen.ip().is_loopback() {
        return Err(format!(
            "{listen} is not a loopback address, so a token is required"
        ));
    }
    Ok(())
}

fn media(raw: &RawMedia, p: &mut Problems) -> MediaConfig {
    let s = in_range(
        "[media]",
        "max_prompt_seconds",
        raw.max_prompt_seconds,
        600,
        1..=3600,
        " s",
        p,
    );
    MediaConfig {
        max_prompt: seconds(s),
        prompt_dir: None,
        max_upload_bytes: 0,
    }
}

/// `[media] max_upload_mb` (1–512, default 20) in bytes, and `[media] dir` not empty.
fn upload_limit(raw: &RawMedia, p: &mut Problems) -> u64 {
    if raw.dir.as_deref().is_some_and(|d| d.trim().is_empty()) {
        p.add(
            "[media]",
            "dir",
            "dir is empty; remove it or give a directory".into(),
        );
    }
    // 512 MB is the most the decoder reads at all (audio::media::MAX_FILE_BYTES).
    let mb = in_range(
        "[media]",
        "max_upload_mb",
        raw.max_upload_mb,
        20,
        1..=512,
        " MB",
        p,
    );
    u64::try_from(mb).unwrap_or(20) * 1024 * 1024
}

fn numbers(raw: &RawConfig, p: &mut Problems) -> Vec<Number> {
    let mut out: Vec<Number> = Vec::new();
    for n in &raw.number {
        let subj = format!("number {:?}", n.e164);
        let kind = match n.kind.as_str() {
            "service-toll" => Some(NumberKind::ServiceToll),
            "service-toll-free" => Some(NumberKind::ServiceTollFree),
            "user" => Some(NumberKind::User),
            other => {
                p.add(
                    &subj,
                    "kind",
                    format!("kind {other:?} is not one of service-toll, service-toll-free, user"),
                );
                None
            }
        };
        match E164::parse(&n.e164) {
            Err(why) => p.add(&subj, "e164", format!("e164 {why}")),
            Ok(e164) if out.iter().any(|o| o.e164 == e164) => {
                p.add(&subj, "e164", format!("{e164} is declared more than once"))
            }
            Ok(e164) => {
                if let Some(kind) = kind {
                    out.push(Number { e164, kind });
                }
            }
        }
    }
    out
}

fn users(raw: &[RawUser], numbers: &[Number], p: &mut Problems) -> Vec<User> {
    let mut seen = HashSet::new();
    let mut owner: HashMap<E164, String> = HashMap::new();
    let mut out = Vec::new();
    for (i, u) in raw.iter().enumerate() {
        let subj = subject("user", &u.id, i);
        let id_ok = check_id(&subj, &u.id, "user", &mut seen, p);
        if u.password.as_deref().is_some_and(str::is_empty) {
            p.add(
                &subj,
                "password",
                "password is empty; remove it or set one".into(),
            );
        }
        let name = u.name.clone().unwrap_or_else(|| u.id.clone());
        if name.trim().is_empty() || name.chars().any(char::is_control) {
            p.add(
                &subj,
                "name",
                "name must be non-empty text on one line".into(),
            );
        }
        let mut contacts = Vec::new();
        for c in &u.contacts {
            // A TLS contact needs a tls: listener; `validate_tls` checks that.
            match parse_sip_uri(c) {
                Ok(uri) => contacts.push(Uri::Sip(uri)),
                Err(why) => p.add(&subj, "contacts", format!("contact {c:?} {why}")),
            }
        }
        let mut user_numbers = Vec::new();
        for text in &u.numbers {
            let n = match E164::parse(text) {
                Ok(n) => n,
                Err(why) => {
                    p.add(&subj, "numbers", format!("number {text:?} {why}"));
                    continue;
                }
            };
            if let Some(declared) = numbers.iter().find(|d| d.e164 == n) {
                if declared.kind.is_service() {
                    p.add(
                        &subj,
                        "numbers",
                        format!(
                            "number {n} is declared as {}; a user's numbers must be of kind user",
                            declared.kind
                        ),
                    );
                }
            }
            match owner.get(&n) {
                Some(other) => p.add(
                    &subj,
                    "numbers",
                    format!("number {n} is already assigned to user {other:?}"),
                ),
                None => {
                    owner.insert(n.clone(), u.id.clone());
                    user_numbers.push(n);
                }
            }
        }
        if id_ok {
            out.push(User {
                id: UserId(u.id.clone()),
                name,
                password: u.password.clone(),
                contacts,
                numbers: user_numbers,
                srtp: super::validate_srtp::policy(&subj, u.srtp.as_deref(), p),
            });
        }
    }
    out
}

fn groups(raw: &[RawGroup], users: &[User], p: &mut Problems) -> Vec<Group> {
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for (i, g) in raw.iter().enumerate() {
        let subj = subject("group", &g.id, i);
        let id_ok = check_id(&subj, &g.id, "group", &mut seen, p);
        let mut members: Vec<UserId> = Vec::new();
        for m in &g.members {
            let id = UserId(m.clone());
            if !users.iter().any(|u| u.id == id) {
                p.add(&subj, "members", format!("member {m:?} is not a [[user]]"));
            } else if members.contains(&id) {
                p.add(&subj, "members", format!("member {m:?} is listed twice"));
            } else {
                members.push(id);
            }
        }
        if id_ok {
            out.push(Group {
                id: GroupId(g.id.clone()),
                members,
            });
        }
    }
    out
}
