//! The configuration file as TOML gives it: the serde model, before validation.
//!
//! Every table denies unknown keys, so a typo (`max_wiat`) is an error that names the key and
//! its line instead of a silently ignored setting. Fields that have a range or a fixed set of
//! values are read as plain integers and strings here and checked in [`super::validate`], so one
//! run reports every such mistake at once; serde stops at the first error it meets.
//!
//! Defaults live in [`super::validate`] next to the checks, not here, so this file is only the
//! shape of the file.

use serde::Deserialize;

/// The whole file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a TOML document")]
pub struct RawConfig {
    #[serde(default)]
    pub sip: RawSip,
    #[serde(default)]
    pub rtp: RawRtp,
    #[serde(default)]
    pub api: RawApi,
    #[serde(default)]
    pub store: RawStore,
    #[serde(default)]
    pub media: RawMedia,
    #[serde(default)]
    pub limits: super::limits::RawLimits,
    #[serde(default)]
    pub probe: super::probe::RawProbe,
    #[serde(default)]
    pub registrar: super::registrar::RawRegistrar,
    #[serde(default)]
    pub features: super::features::RawFeatures,
    #[serde(default)]
    pub number: Vec<RawNumber>,
    #[serde(default)]
    pub user: Vec<RawUser>,
    #[serde(default)]
    pub group: Vec<RawGroup>,
    #[serde(default)]
    pub trunk: Vec<RawTrunk>,
    #[serde(default)]
    pub queue: Vec<RawQueue>,
    #[serde(default)]
    pub outbound: super::outbound::RawOutbound,
    #[serde(default)]
    pub clid_policy: Vec<super::outbound::RawClidPolicy>,
}

/// `[sip]`
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a table ([sip])")]
pub struct RawSip {
    pub listen: Option<Vec<String>>,
    pub public_host: Option<String>,
    #[serde(default)]
    pub domains: Vec<String>,
    pub user_agent: Option<String>,
    pub server_header: Option<String>,
    pub tls_cert: Option<String>,
    pub tls_key: Option<String>,
    /// CA certificates (PEM) a `tls:` listener verifies clients' certificates against.
    pub tls_client_ca: Option<String>,
    /// CA certificates (PEM) TLS destinations that are not trunks are verified against.
    pub tls_ca: Option<String>,
    pub t1_ms: Option<i64>,
    #[serde(default)]
    pub connections: RawConnections,
    pub session_expires: Option<i64>,
    pub min_se: Option<i64>,
    /// `"any"` or `"trunks"`: who may call service numbers (checked in `config::inbound`).
    pub inbound: Option<String>,
    /// `"403"` or `"drop"`: what a refused INVITE gets.
    pub inbound_refuse: Option<String>,
    /// SRTP policy for callers that are neither a trunk nor a user (see `validate_srtp`).
    pub srtp: Option<String>,
    /// DNS servers (`IP:port`) for trunk SBCs given by host name; absent: /etc/resolv.conf.
    pub dns_servers: Option<Vec<String>>,
}

/// `[rtp]`
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a table ([rtp])")]
pub struct RawRtp {
    pub ports: Option<String>,
    pub symmetric: Option<bool>,
    pub timeout: Option<i64>,
    pub realtime: Option<bool>,
    pub latch_packets: Option<i64>,
    pub unproven_media: Option<i64>,
}

/// `[api]`
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a table ([api])")]
pub struct RawApi {
    pub listen: Option<String>,
    pub token: Option<String>,
    pub admin_password_hash: Option<String>,
}

/// `[store]`
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a table ([store])")]
pub struct RawStore {
    pub path: Option<String>,
    pub keep_events_days: Option<i64>,
}

/// `[media]`
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a table ([media])")]
pub struct RawMedia {
    pub max_prompt_seconds: Option<i64>,
    /// Where uploaded prompts are stored.
    pub dir: Option<String>,
    pub max_upload_mb: Option<i64>,
}

/// `[[number]]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a table ([[number]])")]
pub struct RawNumber {
    pub e164: String,
    pub kind: String,
}

/// `[[user]]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a table ([[user]])")]
pub struct RawUser {
    pub id: String,
    pub name: Option<String>,
    pub password: Option<String>,
    #[serde(default)]
    pub contacts: Vec<String>,
    #[serde(default)]
    pub numbers: Vec<String>,
    /// Checked in [`super::features`].
    pub extension: Option<String>,
    /// SRTP policy for this user's calls (see `validate_srtp`); absent: `[sip] srtp`.
    pub srtp: Option<String>,
    /// `none` | `national` | `international`; checked in [`super::outbound`], as are the two
    /// below.
    pub outbound: Option<String>,
    pub clid_policy: Option<String>,
    pub identify_by_source: Option<bool>,
}

/// `[[group]]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a table ([[group]])")]
pub struct RawGroup {
    pub id: String,
    #[serde(default)]
    pub members: Vec<String>,
}

/// `[[trunk]]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a table ([[trunk]])")]
pub struct RawTrunk {
    pub id: String,
    /// One SBC; `sbcs` lists several (checked in `validate_trunk`: one of the two).
    #[serde(default)]
    pub proxy: Option<String>,
    #[serde(default)]
    pub sbcs: Vec<RawSbc>,
    /// Seconds (decimals allowed) an INVITE may wait for a provisional response before the
    /// next SBC is tried.
    pub first_response_timeout: Option<f64>,
    /// Seconds between OPTIONS to each SBC; 0 or absent: no health checks.
    pub health_interval: Option<i64>,
    pub down_after: Option<i64>,
    pub up_after: Option<i64>,
    #[serde(default)]
    pub allow: Vec<String>,
    pub auth: Option<RawTrunkAuth>,
    pub country_code: Option<String>,
    pub national_prefix: Option<String>,
    pub international_prefix: Option<String>,
    /// TLS toward the proxy (see `validate_tls`): CA file, name to verify, client certificate.
    pub tls_ca: Option<String>,
    pub tls_name: Option<String>,
    pub tls_cert: Option<String>,
    pub tls_key: Option<String>,
    /// Addresses and CIDRs that are this trunk when they send to us (default: the SBCs').
    pub sources: Option<Vec<String>>,
    /// `"keep"`, `"strip"` or `"add"`: the `+` of numbers sent to the trunk.
    pub plus: Option<String>,
    /// SRTP policy for calls from and to this trunk (see `validate_srtp`).
    pub srtp: Option<String>,
}

/// `sbcs = [{ uri = "sip:192.0.2.10:5060", priority = 1, weight = 50 }, …]` of a trunk.
#[derive(Debug, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a table such as { uri = \"sip:192.0.2.10:5060\", priority = 1, weight = 50 }"
)]
pub struct RawSbc {
    pub uri: String,
    pub priority: Option<i64>,
    pub weight: Option<i64>,
}

/// `auth = { username = "…", password = "…", realm = "…" }` of a trunk.
#[derive(Debug, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a table such as { username = \"…\", password = \"…\" }"
)]
pub struct RawTrunkAuth {
    pub username: String,
    pub password: String,
    pub realm: Option<String>,
}

/// `[[queue]]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a table ([[queue]])")]
pub struct RawQueue {
    pub id: String,
    pub name: Option<String>,
    #[serde(default)]
    pub numbers: Vec<String>,
    #[serde(default)]
    pub addresses: Vec<String>,
    pub greeting: Option<String>,
    pub music_on_hold: Option<String>,
    pub routing: Option<String>,
    pub offer: Option<String>,
    #[serde(default)]
    pub agents: Vec<String>,
    #[serde(default)]
    pub groups: Vec<String>,
    pub allow_opt_out: Option<bool>,
    pub agent_alert_time: Option<i64>,
    pub wrap_up: Option<i64>,
    pub answer_delay_ms: Option<i64>,
    pub max_calls: Option<i64>,
    pub on_overflow: Option<RawAction>,
    pub max_wait: Option<i64>,
    pub on_timeout: Option<RawAction>,
    pub no_agents: Option<RawAction>,
    /// Seconds: answered within this counts toward the service level (reports, wallboard).
    pub service_level: Option<i64>,
    /// Checked in [`super::features`].
    pub extension: Option<String>,
    /// Users who may edit this queue in the web console (delegated admins).
    #[serde(default)]
    pub authorized_users: Vec<String>,
}

/// `{ action = "…", to = "…" }`: what a queue does on overflow, timeout or with no agents.
#[derive(Debug, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a table such as { action = \"forward\", to = \"queue:support\" }"
)]
pub struct RawAction {
    pub action: String,
    pub to: Option<String>,
}

/// `[sip.connections]`: limits on SIP connections (TCP).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a table ([sip.connections])")]
pub struct RawConnections {
    pub max_connections: Option<i64>,
    pub max_per_source: Option<i64>,
    pub message_deadline: Option<i64>,
    pub idle_timeout: Option<i64>,
    pub outbound_idle_timeout: Option<i64>,
}
