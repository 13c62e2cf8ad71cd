//! DNS for trunk SBCs given by host name (RFC 3263 §4), with hickory-resolver.
//!
//! One task per name looks it up, reports the result to the core task
//! ([`super::Input::SbcResolved`]) and asks again when the records expire (their TTL, kept
//! between [`MIN_REFRESH`] and [`MAX_REFRESH`]), or after [`MIN_REFRESH`] when the look-up
//! failed. The core keeps the last good addresses through failures (`b2bua::sbc_dns`).
//! No resolver is created when every SBC is an IP address.
//!
//! What is looked up (RFC 3263 §4.1, §4.2):
//! - a URI with a port: A/AAAA of the host at that port, over the URI's transport;
//! - otherwise SRV: `_sips._tcp` for `sips:` or `transport=tls`, `_sip._tcp` for
//!   `transport=tcp`, `_sip._udp` for `transport=udp`, and with no transport `_sip._udp`, then
//!   `_sip._tcp` when UDP has none (we implement no NAPTR, §4.1 allows going to SRV directly);
//! - no SRV records at all: A/AAAA of the host at 5060 (5061 for TLS), over UDP unless the
//!   URI says otherwise (§4.2).

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hickory_resolver::config::{NameServerConfig, ResolverConfig, ResolverOpts};
use hickory_resolver::name_server::TokioConnectionProvider;
use hickory_resolver::proto::xfer::Protocol;
use hickory_resolver::TokioResolver;
use tokio::sync::mpsc;

use crate::b2bua::sbc_dns::{names_to_resolve, DnsLookup, DnsTarget};
use crate::config::Config;
use crate::sip::transport::Transport;
use crate::sip::uri::{Host, Scheme, SipUri};

use super::clock;
use super::Input;

/// The shortest time between two look-ups of a name (also the retry after a failure): a
/// zero-TTL record must not turn into a query loop.
pub const MIN_REFRESH: Duration = Duration::from_secs(30);
/// The longest: a record with a day's TTL is still checked every hour, so a carrier's change
/// reaches us the same day whatever its TTLs say.
pub const MAX_REFRESH: Duration = Duration::from_secs(3600);

/// The running look-ups; dropping it stops them.
pub(crate) struct Resolving {
    names: Vec<String>,
    servers: Vec<SocketAddr>,
    tasks: Vec<tokio::task::AbortHandle>,
}

impl Drop for Resolving {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// Starts looking up every host-name SBC of `config`; `None` when there is none (no resolver
/// is created) or the system's resolver configuration cannot be read (logged: every
/// host-name SBC then stays unusable and failover skips it).
pub(crate) fn start(config: &Config, tx: &mpsc::Sender<Input>) -> Option<Resolving> {
    let sbcs = names_to_resolve(config);
    if sbcs.is_empty() {
        return None;
    }
    let resolver = match resolver(&config.sip.dns_servers) {
        Ok(r) => Arc::new(r),
        Err(e) => {
            tracing::error!(error = %e, "no DNS resolver; trunk SBCs given by host name are not usable");
            return None;
        }
    };
    let names = sbcs.iter().map(|s| s.to_string()).collect();
    let tasks = sbcs
        .into_iter()
        .map(|sbc| tokio::spawn(follow(resolver.clone(), sbc, tx.clone())).abort_handle())
        .collect();
    Some(Resolving {
        names,
        servers: config.sip.dns_servers.clone(),
        tasks,
    })
}

/// After a reconfiguration: the same look-ups go on when the names and servers are the same;
/// otherwise they start again.
pub(crate) fn restart(
    current: Option<Resolving>,
    config: &Config,
    tx: &mpsc::Sender<Input>,
) -> Option<Resolving> {
    let names: Vec<String> = names_to_resolve(config)
        .iter()
        .map(|s| s.to_string())
        .collect();
    match current {
        Some(r) if r.names == names && r.servers == config.sip.dns_servers => Some(r),
        _ => start(config, tx),
    }
}

fn resolver(servers: &[SocketAddr]) -> Result<TokioResolver, hickory_resolver::ResolveError> {
    let mut opts = ResolverOpts::default();
    // A carrier's SRV answers are small; two tries of 2 s each bound a look-up at seconds,
    // and the next try comes at MIN_REFRESH anyway.
    opts.timeout = Duration::from_secs(2);
    opts.attempts = 2;
    if servers.is_empty() {
        let mut builder = TokioResolver::builder_tokio()?;
        builder.options_mut().timeout = opts.timeout;
        builder.options_mut().attempts = opts.attempts;
        return Ok(builder.build());
    }
    let mut config = ResolverConfig::new();
    for s in servers {
        config.add_name_server(NameServerConfig::new(*s, Protocol::Udp));
    }
    Ok(
        TokioResolver::builder_with_config(config, TokioConnectionProvider::default())
            .with_options(opts)
            .build(),
    )
}

/// Looks `sbc` up, reports it, and again when it expires, until aborted.
async fn follow(resolver: Arc<TokioResolver>, sbc: SipUri, tx: mpsc::Sender<Input>) {
    loop {
        let (lookup, expires) = match lookup(&resolver, &sbc).await {
            Ok((targets, until)) => (DnsLookup::Resolved(targets), refresh_after(until)),
            Err(reason) => (DnsLookup::Failed(reason), MIN_REFRESH),
        };
        if tx
            .send(Input::SbcResolved {
                sbc: sbc.clone(),
                lookup,
            })
            .await
            .is_err()
        {
            return;
        }
        clock::sleep(expires).await;
    }
}

/// The records' remaining lifetime, within the bounds.
fn refresh_after(until: Instant) -> Duration {
    clock::left_until(until).clamp(MIN_REFRESH, MAX_REFRESH)
}

/// The transport a URI names (RFC 3263 §4.1): `sips:` is TLS whatever `transport` says.
fn uri_transport(sbc: &SipUri) -> Option<Transport> {
    if sbc.scheme == Scheme::Sips {
        return Some(Transport::Tls);
    }
    match sbc.params.value("transport") {
        Some(t) if t.eq_ignore_ascii_case("udp") => Some(Transport::Udp),
        Some(t) if t.eq_ignore_ascii_case("tcp") => Some(Transport::Tcp),
        Some(t) if t.eq_ignore_ascii_case("tls") => Some(Transport::Tls),
        _ => None,
    }
}

fn srv_prefix(t: Transport) -> &'static str {
    match t {
        Transport::Udp => "_sip._udp",
        Transport::Tcp => "_sip._tcp",
        Transport::Tls => "_sips._tcp",
    }
}

/// The SBC's targets and when the answers expire, or why there are none.
async fn lookup(
    resolver: &TokioResolver,
    sbc: &SipUri,
) -> Result<(Vec<DnsTarget>, Instant), String> {
    let Host::Name(name) = &sbc.host else {
        return Err("not a host name".into());
    };
    let host = fqdn(name);
    let transport = uri_transport(sbc);
    // RFC 3263 §4.2: an explicit port means A/AAAA only.
    if let Some(port) = sbc.port {
        let t = transport.unwrap_or(Transport::Udp);
        return addresses(resolver, &host, t, port, 0, 0).await;
    }
    let tries = match transport {
        Some(t) => vec![t],
        None => vec![Transport::Udp, Transport::Tcp],
    };
    let mut last_error = None;
    for t in tries {
        match srv(resolver, &host, t).await {
            Ok(Some(found)) => return Ok(found),
            Ok(None) => {}
            Err(e) => last_error = Some(e),
        }
    }
    // §4.2: no SRV records: the host's own addresses at the transport's default port.
    let t = transport.unwrap_or(Transport::Udp);
    let port = if t == Transport::Tls { 5061 } else { 5060 };
    addresses(resolver, &host, t, port, 0, 0)
        .await
        .map_err(|e| match last_error {
            Some(srv) => format!("{srv}; {e}"),
            None => e,
        })
}

/// The SRV records of `host` for `t`, each target's addresses with its priority and weight.
/// `Ok(None)`: there are none (fall back to A/AAAA).
async fn srv(
    resolver: &TokioResolver,
    host: &str,
    t: Transport,
) -> Result<Option<(Vec<DnsTarget>, Instant)>, String> {
    let name = format!("{}.{host}", srv_prefix(t));
    let found = match resolver.srv_lookup(name.as_str()).await {
        Ok(found) => found,
        Err(e) if e.is_no_records_found() => return Ok(None),
        Err(e) => return Err(format!("SRV {name}: {e}")),
    };
    let mut until = found.as_lookup().valid_until();
    let mut out = Vec::new();
    let mut errors = Vec::new();
    for record in found.iter() {
        let target = record.target().to_utf8();
        // RFC 2782: a target of "." says the service is decidedly not available there.
        if target == "." || record.port() == 0 {
            continue;
        }
        match addresses(
            resolver,
            &target,
            t,
            record.port(),
            record.priority(),
            record.weight(),
        )
        .await
        {
            Ok((mut targets, u)) => {
                until = until.min(u);
                out.append(&mut targets);
            }
            Err(e) => errors.push(e),
        }
    }
    if out.is_empty() {
        return match errors.is_empty() {
            true => Ok(None),
            false => Err(errors.join("; ")),
        };
    }
    Ok(Some((out, until)))
}

async fn addresses(
    resolver: &TokioResolver,
    host: &str,
    t: Transport,
    port: u16,
    priority: u16,
    weight: u16,
) -> Result<(Vec<DnsTarget>, Instant), String> {
    let found = resolver
        .lookup_ip(host)
        .await
        .map_err(|e| format!("A/AAAA {host}: {e}"))?;
    let targets: Vec<DnsTarget> = found
        .iter()
        .map(|ip: IpAddr| DnsTarget {
            transport: t,
            addr: SocketAddr::new(ip, port),
            priority,
            weight,
        })
        .collect();
    if targets.is_empty() {
        return Err(format!("A/AAAA {host}: no addresses"));
    }
    Ok((targets, found.valid_until()))
}

/// The name as an absolute one, so no search domain of resolv.conf is tried on it.
fn fqdn(name: &str) -> String {
    match name.ends_with('.') {
        true => name.to_owned(),
        false => format!("{name}."),
    }
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use holdline_testkit::dns::{DnsZone, Srv};

    use super::*;

    fn uri(text: &str) -> SipUri {
        crate::config::uri::parse_sip_uri(text).expect("a sip: URI")
    }

    fn found(r: Result<(Vec<DnsTarget>, Instant), String>) -> Vec<(Transport, String, u16, u16)> {
        let (targets, _) = r.expect("resolved");
        targets
            .iter()
            .map(|t| (t.transport, t.addr.to_string(), t.priority, t.weight))
            .collect()
    }

    /// RFC 3263 §4: which records are asked for, per URI form, against a test server.
    #[tokio::test]
    async fn srv_then_a_per_uri_form() {
        let dns = DnsZone::new(120)
            .srv(
                "_sip._tcp.tcp-only.test",
                &[Srv {
                    priority: 5,
                    weight: 7,
                    port: 5070,
                    target: "host.test".into(),
                }],
            )
            .srv(
                "_sip._udp.dead.test",
                &[Srv {
                    priority: 1,
                    weight: 1,
                    port: 5060,
                    target: ".".into(),
                }],
            )
            .a("host.test", &[Ipv4Addr::new(127, 0, 0, 2)])
            .a("plain.test", &[Ipv4Addr::new(127, 0, 0, 3)])
            .a("port.test", &[Ipv4Addr::new(127, 0, 0, 4)])
            .start();
        let addr: SocketAddr = dns.addr().parse().unwrap();
        let r = resolver(&[addr]).expect("resolver");
        // No transport: _sip._udp (none), then _sip._tcp: TCP to the SRV target's port.
        assert_eq!(
            found(lookup(&r, &uri("sip:tcp-only.test")).await),
            [(Transport::Tcp, "127.0.0.2:5070".into(), 5, 7)]
        );
        assert_eq!(dns.asked("_sip._udp.tcp-only.test", 33), 1);
        // No SRV at all: the host's A record at 5060 (§4.2), or 5061 for TLS.
        assert_eq!(
            found(lookup(&r, &uri("sip:plain.test")).await),
            [(Transport::Udp, "127.0.0.3:5060".into(), 0, 0)]
        );
        assert_eq!(
            found(lookup(&r, &uri("sips:plain.test")).await),
            [(Transport::Tls, "127.0.0.3:5061".into(), 0, 0)]
        );
        assert_eq!(dns.asked("_sips._tcp.plain.test", 33), 1);
        // An explicit port: A only, no SRV question.
        assert_eq!(
            found(lookup(&r, &uri("sip:port.test:5099;transport=tcp")).await),
            [(Transport::Tcp, "127.0.0.4:5099".into(), 0, 0)]
        );
        assert_eq!(dns.asked("_sip._tcp.port.test", 33), 0);
        assert_eq!(dns.asked("port.test", 1), 1);
        // Nothing anywhere (a "." SRV target and no A record): a failure, not a panic.
        assert!(lookup(&r, &uri("sip:dead.test")).await.is_err());
        assert!(lookup(&r, &uri("sip:nowhere.test")).await.is_err());
    }

    #[test]
    #[allow(clippy::disallowed_methods)] // reason: the bounds are checked against real instants
    fn refresh_is_bounded() {
        assert_eq!(refresh_after(Instant::now()), MIN_REFRESH);
        let far = Instant::now() + Duration::from_secs(86_400);
        assert_eq!(refresh_after(far), MAX_REFRESH);
    }
}
