//! SIP over TLS in the configuration: the trunks' TLS keys, and that every destination that
//! asks for TLS (RFC 3261 §26.2: `sips:` or `transport=tls`) can be served over it.
//!
//! A TLS destination needs a `tls:` listener: the far end sends its in-dialog requests (BYE,
//! re-INVITE) to our Contact, which then says `transport=tls` with the listener's port; with no
//! listener there would be nothing to reach (a far end that reuses our connection, RFC 5923,
//! would manage, one that does not would fail every hang-up). A `sips:` forward target must
//! leave through a trunk reached over TLS (§26.2.2: `sips:` is TLS on every hop).
//!
//! Only the shape is checked here (which keys go together, that the names are host names); the
//! files' contents (PEM, a key that matches its certificate) are read by the runtime, for
//! `check-config` and at start-up, because parsing certificates is the TLS library's job.

use std::path::Path;

use crate::sip::transport::Transport;
use crate::sip::uri::SipUri;

use super::model::{
    NoAgentsAction, OverflowAction, Queue, SipConfig, Target, TimeoutAction, Trunk, TrunkTls, User,
};
use super::raw::RawConfig;
use super::uri::{asks_for_tls, parse_host};
use super::validate::{resolve, subject, Problems};

/// Fills each TLS trunk's [`TrunkTls`] and checks every TLS destination.
pub(super) fn tls(
    raw: &RawConfig,
    base_dir: &Path,
    sip: &SipConfig,
    users: &[User],
    trunks: &mut [Trunk],
    queues: &[Queue],
    p: &mut Problems,
) {
    let listener = sip.listen.iter().any(|l| l.transport == Transport::Tls);
    let no_listener = "asks for TLS (sips: or transport=tls), and no tls: listener is configured \
                       for its in-dialog requests to reach; add tls:ADDR:PORT to [sip] listen";
    if !listener {
        for (field, value) in [
            ("tls_client_ca", &raw.sip.tls_client_ca),
            ("tls_ca", &raw.sip.tls_ca),
        ] {
            if value.is_some() {
                p.add(
                    "[sip]",
                    field,
                    format!("{field} is set, but no tls: listener is configured to use it"),
                );
            }
        }
    }
    for (i, t) in raw.trunk.iter().enumerate() {
        let subj = subject("trunk", &t.id, i);
        let Some(trunk) = trunks.iter_mut().find(|x| x.id.as_str() == t.id) else {
            continue;
        };
        let fields = [
            ("tls_ca", &t.tls_ca),
            ("tls_name", &t.tls_name),
            ("tls_cert", &t.tls_cert),
            ("tls_key", &t.tls_key),
        ];
        // Each SBC on its own: a trunk whose first SBC is UDP may have a TLS one behind it,
        // and that one needs the trunk's TLS keys and a listener as much as a first one does.
        let tls_sbcs: Vec<(String, String)> = trunk
            .sbcs
            .iter()
            .enumerate()
            .filter(|(_, s)| asks_for_tls(&s.uri))
            .map(|(i, s)| match &t.proxy {
                Some(proxy) => ("proxy".to_owned(), proxy.clone()),
                None => (format!("sbcs[{i}]"), s.uri.to_string()),
            })
            .collect();
        if tls_sbcs.is_empty() {
            for (field, value) in fields {
                if value.is_some() {
                    p.add(
                        &subj,
                        field,
                        format!(
                            "{field} is set, but the proxy {:?} is not reached over TLS, nor \
                             is any other SBC of the trunk; write one as sips: or with \
                             ;transport=tls",
                            // The first SBC by priority (`proxy`, or the first of `sbcs`).
                            t.proxy.clone().unwrap_or_else(|| trunk.proxy.to_string())
                        ),
                    );
                }
            }
            continue;
        }
        if !listener {
            for (field, uri) in &tls_sbcs {
                p.add(&subj, field, format!("{field} {uri:?} {no_listener}"));
            }
        }
        let name = t.tls_name.as_deref().map(str::trim);
        if let Some(n) = name {
            if let Err(why) = parse_host(n) {
                p.add(&subj, "tls_name", format!("tls_name {why}"));
            }
        }
        // The TLS SBCs these keys are for, named in the problems below.
        let named: Vec<&str> = tls_sbcs.iter().map(|(_, uri)| uri.as_str()).collect();
        let for_sbcs = format!("TLS SBC {}", named.join(", "));
        let client = match (&t.tls_cert, &t.tls_key) {
            (Some(cert), Some(key)) => Some((resolve(base_dir, cert), resolve(base_dir, key))),
            (None, None) => None,
            (Some(_), None) => {
                p.add(
                    &subj,
                    "tls_key",
                    format!(
                        "tls_cert is set without tls_key (the client certificate's private \
                         key), so {for_sbcs} has no usable client certificate"
                    ),
                );
                None
            }
            (None, Some(_)) => {
                p.add(
                    &subj,
                    "tls_cert",
                    format!(
                        "tls_key is set without tls_cert (the client certificate it belongs \
                         to), so {for_sbcs} has no usable client certificate"
                    ),
                );
                None
            }
        };
        for (field, value) in fields {
            if value.as_deref().is_some_and(|v| v.trim().is_empty()) {
                p.add(
                    &subj,
                    field,
                    format!("{field} is empty; remove it or set it"),
                );
            }
        }
        trunk.tls = Some(TrunkTls {
            ca: t.tls_ca.as_deref().map(|ca| resolve(base_dir, ca)),
            name: name.map(str::to_owned),
            client,
        });
    }
    if !listener {
        for (i, u) in users.iter().enumerate() {
            for c in &u.contacts {
                if let crate::sip::uri::Uri::Sip(uri) = c {
                    if asks_for_tls(uri) {
                        p.add(
                            &subject("user", u.id.as_str(), i),
                            "contacts",
                            format!("contact \"{uri}\" {no_listener}"),
                        );
                    }
                }
            }
        }
    }
    for (i, q) in queues.iter().enumerate() {
        let subj = subject("queue", q.id.as_str(), i);
        let targets = [
            ("on_overflow", overflow_target(&q.on_overflow)),
            ("on_timeout", timeout_target(&q.on_timeout)),
            ("no_agents", no_agents_target(&q.no_agents)),
        ];
        for (field, target) in targets {
            let Some(Target::Sip { uri, trunk }) = target else {
                continue;
            };
            if uri_needs_tls_trunk(uri) && !trunk_is_tls(trunks, trunk.as_str()) {
                p.add(
                    &subj,
                    field,
                    format!(
                        "target \"{uri}\" is sips:, and trunk {:?} is not reached over TLS; \
                         a sips: target must be TLS on every hop (RFC 3261 §26.2.2)",
                        trunk.as_str()
                    ),
                );
            }
        }
    }
}

/// `sips:` (only the scheme: `transport=tls` on a target URI says nothing about the trunk hop).
fn uri_needs_tls_trunk(uri: &SipUri) -> bool {
    uri.scheme == crate::sip::uri::Scheme::Sips
}

/// Whether every SBC of trunk `id` is reached over TLS (a `sips:` target must be TLS on every
/// hop, whichever SBC failover picks).
fn trunk_is_tls(trunks: &[Trunk], id: &str) -> bool {
    trunks
        .iter()
        .any(|t| t.id.as_str() == id && t.sbcs.iter().all(|s| asks_for_tls(&s.uri)))
}

fn overflow_target(a: &OverflowAction) -> Option<&Target> {
    match a {
        OverflowAction::Forward(t) => Some(t),
        OverflowAction::Busy => None,
    }
}

fn timeout_target(a: &TimeoutAction) -> Option<&Target> {
    match a {
        TimeoutAction::Forward(t) => Some(t),
        TimeoutAction::Disconnect => None,
    }
}

fn no_agents_target(a: &NoAgentsAction) -> Option<&Target> {
    match a {
        NoAgentsAction::Forward(t) => Some(t),
        _ => None,
    }
}
