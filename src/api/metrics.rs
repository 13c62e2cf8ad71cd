//! `/metrics`: the Prometheus text exposition format (version 0.0.4) over the live state.
//!
//! Exported: calls waiting and the longest wait per queue (gauges); offered, answered,
//! abandoned, overflowed and timed-out calls per queue (counters); agents by state (gauge, each
//! agent counted once: do-not-disturb first, else its busiest state in any queue); active RTP
//! streams; SIP requests by method and the class of our final response (counter); RTP and
//! RTCP packets strict RTP dropped for their source (counter); SIP connections open and
//! their cap (gauges), refused by cap and closed for time (counters); admission control's
//! bans in force (gauge), bans and dropped datagrams (counters); users and bindings
//! registered (gauges), registrations, failed authentications and the bans they led to
//! (counters); trunk SBCs up or not and their OPTIONS round-trip time (gauges).
//!
//! What this does not do: keep counters itself. They come from the runtime's
//! [`super::live::LiveState`] snapshot.

use std::collections::BTreeMap;
use std::fmt::Write;

use crate::config::Config;
use crate::store::AgentPrefs;

use super::live::{AgentState, LiveSnapshot};

/// The whole `/metrics` body.
pub fn render(config: &Config, live: &LiveSnapshot, prefs: &AgentPrefs) -> String {
    let mut out = String::new();
    let counters = &live.counters;
    let mut waiting = Vec::new();
    let mut agents: BTreeMap<String, AgentState> = BTreeMap::new();
    for q in &config.queues {
        let l = live.queue(q.id.as_str());
        let longest = l.waiting.iter().map(|c| c.waiting_secs).max().unwrap_or(0);
        waiting.push((q.id.as_str(), l.waiting.len(), longest));
        for m in &q.members {
            let state = l
                .agents
                .get(m.as_str())
                .copied()
                .unwrap_or(AgentState::Offline);
            let e = agents.entry(m.0.clone()).or_insert(AgentState::Offline);
            if busyness(state) > busyness(*e) {
                *e = state;
            }
        }
    }
    for (id, state) in agents.iter_mut() {
        if prefs.is_dnd(id) {
            *state = AgentState::Dnd;
        }
    }

    header(
        &mut out,
        "holdline_calls_waiting",
        "gauge",
        "Calls waiting in the queue.",
    );
    for (q, n, _) in &waiting {
        let _ = writeln!(out, "holdline_calls_waiting{{queue=\"{}\"}} {n}", escape(q));
    }
    header(
        &mut out,
        "holdline_longest_wait_seconds",
        "gauge",
        "How long the call waiting longest has waited.",
    );
    for (q, _, longest) in &waiting {
        let _ = writeln!(
            out,
            "holdline_longest_wait_seconds{{queue=\"{}\"}} {longest}",
            escape(q)
        );
    }
    type Pick = fn(&super::live::QueueCounters) -> u64;
    let series: [(&str, &str, Pick); 5] = [
        ("offered", "Calls that arrived at the queue.", |c| c.offered),
        ("answered", "Calls an agent answered.", |c| c.answered),
        (
            "abandoned",
            "Calls the caller hung up while waiting.",
            |c| c.abandoned,
        ),
        (
            "overflowed",
            "Calls refused or forwarded because max_calls were waiting.",
            |c| c.overflowed,
        ),
        ("timed_out", "Calls that waited max_wait.", |c| c.timed_out),
    ];
    for (name, help, pick) in series {
        let metric = format!("holdline_calls_{name}_total");
        header(&mut out, &metric, "counter", help);
        for q in &config.queues {
            let v = counters.queues.get(q.id.as_str()).map_or(0, pick);
            let _ = writeln!(out, "{metric}{{queue=\"{}\"}} {v}", escape(q.id.as_str()));
        }
    }
    header(&mut out, "holdline_agents", "gauge", "Agents by state.");
    let states = [
        AgentState::Offline,
        AgentState::Available,
        AgentState::Ringing,
        AgentState::OnCall,
        AgentState::WrapUp,
        AgentState::Dnd,
    ];
    for s in states {
        let n = agents.values().filter(|a| **a == s).count();
        let _ = writeln!(out, "holdline_agents{{state=\"{}\"}} {n}", s.as_str());
    }
    header(
        &mut out,
        "holdline_rtp_streams_active",
        "gauge",
        "RTP streams being sent.",
    );
    let _ = writeln!(
        out,
        "holdline_rtp_streams_active {}",
        counters.rtp_streams_active
    );
    header(
        &mut out,
        "holdline_sip_requests_total",
        "counter",
        "SIP requests received, by method and the class of the final response.",
    );
    for ((method, class), n) in &counters.sip_requests {
        let _ = writeln!(
            out,
            "holdline_sip_requests_total{{method=\"{}\",class=\"{}\"}} {n}",
            escape(method),
            escape(class)
        );
    }
    rtp_strict(&mut out, counters);
    srtp(&mut out, counters);
    connections(&mut out, &counters.connections);
    connection_reuse(&mut out, &counters.connections);
    admission(&mut out, &counters.admission);
    registrar(&mut out, &counters.registrar);
    outbound(&mut out, &counters.outbound);
    trunk_sbcs(&mut out, &live.sbcs);
    out
}

/// What strict RTP dropped: packets sprayed at our ports (RTP bleed) or from a peer's old
/// address.
fn rtp_strict(out: &mut String, counters: &super::live::Counters) {
    header(
        out,
        "holdline_rtp_dropped_foreign_total",
        "counter",
        "RTP and RTCP packets dropped because no call latched their source.",
    );
    let _ = writeln!(
        out,
        "holdline_rtp_dropped_foreign_total {}",
        counters.rtp_dropped_foreign
    );
}

/// SRTP packets refused: forged, damaged or replayed media aimed at a call's port.
fn srtp(out: &mut String, counters: &super::live::Counters) {
    header(
        out,
        "holdline_srtp_refused_total",
        "counter",
        "SRTP and SRTCP packets dropped: failed authentication or replayed (RFC 3711).",
    );
    let _ = writeln!(out, "holdline_srtp_refused_total {}", counters.srtp_refused);
}

/// The SIP connection series: open and cap (gauges), admitted, refused by reason and closed
/// for time by reason (counters).
fn connections(out: &mut String, c: &super::live::ConnectionCounters) {
    header(
        out,
        "holdline_sip_connections_open",
        "gauge",
        "SIP connections (TCP) open, inbound and outbound.",
    );
    let _ = writeln!(out, "holdline_sip_connections_open {}", c.open);
    header(
        out,
        "holdline_sip_connections_max",
        "gauge",
        "The cap on open SIP connections ([sip.connections] max_connections).",
    );
    let _ = writeln!(out, "holdline_sip_connections_max {}", c.max);
    header(
        out,
        "holdline_sip_connections_opened_total",
        "counter",
        "SIP connections admitted, inbound and outbound.",
    );
    let _ = writeln!(out, "holdline_sip_connections_opened_total {}", c.opened);
    header(
        out,
        "holdline_sip_connections_refused_total",
        "counter",
        "SIP connections closed at once because a cap was reached.",
    );
    for (reason, n) in [
        ("max_connections", c.refused_full),
        ("max_per_source", c.refused_per_source),
    ] {
        let _ = writeln!(
            out,
            "holdline_sip_connections_refused_total{{reason=\"{reason}\"}} {n}"
        );
    }
    header(
        out,
        "holdline_sip_connections_expired_total",
        "counter",
        "SIP connections closed for time: a message not complete within the deadline, or idle.",
    );
    for (reason, n) in [
        ("message_deadline", c.closed_message_deadline),
        ("idle_timeout", c.closed_idle),
    ] {
        let _ = writeln!(
            out,
            "holdline_sip_connections_expired_total{{reason=\"{reason}\"}} {n}"
        );
    }
}

/// Connection reuse (RFC 3261 §18, RFC 5923): connections holdline opened (open, opened,
/// closed idle), messages that reused an open connection, and messages refused for TLS.
fn connection_reuse(out: &mut String, c: &super::live::ConnectionCounters) {
    let series = [
        (
            "holdline_sip_connections_outbound_open",
            "gauge",
            "SIP connections holdline opened (to agents, trunks, or for responses) open now.",
            c.outbound_open,
        ),
        (
            "holdline_sip_connections_outbound_opened_total",
            "counter",
            "SIP connections holdline opened: one per destination at a time.",
            c.outbound_opened,
        ),
        (
            "holdline_sip_connections_reused_total",
            "counter",
            "SIP messages sent on an open connection to their destination instead of a new one.",
            c.reused,
        ),
        (
            "holdline_sip_connections_outbound_idle_closed_total",
            "counter",
            "SIP connections holdline opened and closed after outbound_idle_timeout without a message.",
            c.closed_outbound_idle,
        ),
        (
            "holdline_sip_tls_inbound_handshakes_total",
            "counter",
            "TLS connections accepted with a completed handshake.",
            c.tls.inbound_handshakes,
        ),
        (
            "holdline_sip_tls_inbound_handshake_failures_total",
            "counter",
            "Accepted TLS connections whose handshake failed or did not complete within message_deadline.",
            c.tls.inbound_failed,
        ),
        (
            "holdline_sip_tls_outbound_handshake_failures_total",
            "counter",
            "TLS connections holdline opened whose handshake failed (certificate not valid for the name or CA, or no TLS there).",
            c.tls.outbound_failed,
        ),
        (
            "holdline_sip_tls_reloads_total",
            "counter",
            "TLS certificate reloads (SIGHUP, or changed TLS settings) that took effect for new connections.",
            c.tls.reloads,
        ),
        (
            "holdline_sip_tls_reload_failures_total",
            "counter",
            "TLS certificate reloads refused; the certificate loaded before keeps serving.",
            c.tls.reload_failures,
        ),
    ];
    for (name, kind, help, value) in series {
        header(out, name, kind, help);
        let _ = writeln!(out, "{name} {value}");
    }
}

/// Admission control: bans in force, bans since start, datagrams dropped.
fn admission(out: &mut String, c: &super::live::AdmissionCounters) {
    let series = [
        (
            "holdline_bans_active",
            "gauge",
            "Source addresses banned now by admission control.",
            c.bans_active,
        ),
        (
            "holdline_bans_total",
            "counter",
            "Source addresses banned since start.",
            c.bans_total,
        ),
        (
            "holdline_admission_dropped_total",
            "counter",
            "Datagrams dropped by admission control (banned sources, requests over a rate).",
            c.dropped_total,
        ),
    ];
    for (name, kind, help, v) in series {
        header(out, name, kind, help);
        let _ = writeln!(out, "{name} {v}");
    }
}

/// Health-checked trunk SBCs: up (1) or not (0), and the last OPTIONS round-trip time.
fn trunk_sbcs(out: &mut String, sbcs: &[super::live::SbcHealthInfo]) {
    header(
        out,
        "holdline_trunk_sbc_up",
        "gauge",
        "Whether a trunk's SBC answers its OPTIONS health checks (1 up, 0 down or not known yet).",
    );
    for s in sbcs {
        let _ = writeln!(
            out,
            "holdline_trunk_sbc_up{{trunk=\"{}\",sbc=\"{}\"}} {}",
            escape(&s.trunk),
            escape(&s.uri),
            u8::from(s.state == "up")
        );
    }
    header(
        out,
        "holdline_trunk_sbc_rtt_seconds",
        "gauge",
        "Round-trip time of the last answered OPTIONS to a trunk's SBC.",
    );
    for s in sbcs {
        if let Some(ms) = s.rtt_ms {
            let _ = writeln!(
                out,
                "holdline_trunk_sbc_rtt_seconds{{trunk=\"{}\",sbc=\"{}\"}} {:.3}",
                escape(&s.trunk),
                escape(&s.uri),
                ms as f64 / 1000.0
            );
        }
    }
}

/// The registrar: users and bindings registered now, registrations and failed
/// authentications since start, and the bans those failures led to.
fn registrar(out: &mut String, c: &super::live::RegistrarCounters) {
    let series = [
        (
            "holdline_registered_users",
            "gauge",
            "Users with at least one registered binding.",
            c.users,
        ),
        (
            "holdline_registered_bindings",
            "gauge",
            "Registered bindings (contacts) of all users.",
            c.bindings,
        ),
        (
            "holdline_registrations_total",
            "counter",
            "REGISTER requests accepted since start.",
            c.registrations_total,
        ),
        (
            "holdline_auth_failures_total",
            "counter",
            "Failed digest authentications since start.",
            c.auth_failures_total,
        ),
        (
            "holdline_auth_failure_bans_total",
            "counter",
            "Source addresses banned for failed authentications since start.",
            c.auth_bans_total,
        ),
    ];
    for (name, kind, help, v) in series {
        header(out, name, kind, help);
        let _ = writeln!(out, "{name} {v}");
    }
}

/// Users' outbound calls: placed toward a trunk, refused before one saw them.
fn outbound(out: &mut String, c: &super::live::OutboundCounters) {
    header(
        out,
        "holdline_outbound_calls_total",
        "counter",
        "Users' calls to external numbers: placed toward a trunk, or refused before one saw them.",
    );
    let _ = writeln!(
        out,
        "holdline_outbound_calls_total{{result=\"placed\"}} {}",
        c.placed
    );
    let _ = writeln!(
        out,
        "holdline_outbound_calls_total{{result=\"refused\"}} {}",
        c.refused
    );
}

/// Which state wins when an agent is in several queues.
fn busyness(s: AgentState) -> u8 {
    match s {
        AgentState::Offline => 0,
        AgentState::OptedOut => 1,
        AgentState::Available => 2,
        AgentState::WrapUp => 3,
        AgentState::Ringing => 4,
        AgentState::OnCall => 5,
        AgentState::Dnd => 6,
    }
}

fn header(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

/// Label values escape `\`, `"` and newlines (exposition format).
fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}
