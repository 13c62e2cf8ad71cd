//! SIP over TLS (RFC 3261 §26.2; RFC 5630 for what `sips:` means): the certificates, keys and
//! trust anchors from the configuration turned into rustls configurations (ring provider,
//! TLS 1.2 and 1.3 only), and swapped on SIGHUP.
//!
//! - Listeners: the chain and key of `[sip] tls_cert` / `tls_key`; with `tls_client_ca`, a
//!   client must present a certificate issued by one of those CAs (mutual TLS).
//! - Outbound: a trunk's SBC is verified against its `tls_ca` (else the system's roots) for its
//!   `tls_name` (else the proxy's host), and is shown the trunk's client certificate when it
//!   has one. Any other TLS destination (a user's static `transport=tls` contact, which names
//!   an IP address) is verified against `[sip] tls_ca` (else the system's roots) for that
//!   address.
//!
//! The system roots are Debian's (`/etc/ssl/certs`, kept current by the `ca-certificates`
//! package and the administrator) read through rustls-native-certs, rather than a list
//! compiled into the binary (webpki-roots) that would age with the build.
//!
//! A new configuration is built whole before it replaces the old one, so a bad file on reload
//! leaves the old certificate serving (the reason is logged); connections already set up keep
//! the session they negotiated. The sans-IO cores never see any of this: to them a connection
//! is a transport kind and a [`crate::sip::transport::ConnId`].

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, RwLock};

use rustls::client::WebPkiServerVerifier;
use rustls::crypto::CryptoProvider;
use rustls::server::WebPkiClientVerifier;
use rustls::sign::CertifiedKey;
use rustls::{ClientConfig, RootCertStore, ServerConfig, SupportedProtocolVersion};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName};

use crate::api::live::TlsCounters;
use crate::b2bua::sbc_dns::DnsLookup;
use crate::config::{Config, Problem, TlsFiles, Trunk};
use crate::sip::uri::Host;

/// TLS 1.3 and 1.2 only: older versions have no place on a SIP trunk (RFC 8996).
static VERSIONS: &[&SupportedProtocolVersion] = &[&rustls::version::TLS13, &rustls::version::TLS12];

/// The ring provider (DESIGN.md §3: no C/CMake toolchain, unlike aws-lc-rs). rustls 0.23.48
/// deprecates it for lacking post-quantum key exchange only; the suites are the usual ones.
#[allow(deprecated)] // reason: the ring provider is the chosen one; see above
fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// How TLS is set up for one destination: the name its certificate must be valid for, and the
/// client configuration (trust anchors, our client certificate).
#[derive(Clone)]
pub struct ClientTarget {
    pub name: ServerName<'static>,
    pub config: Arc<ClientConfig>,
}

/// The client configurations: one per TLS trunk SBC (by address, or by the SBC URI for one
/// given by host name), one for the rest.
#[derive(Clone)]
struct Clients {
    default: Arc<ClientConfig>,
    trunks: HashMap<SocketAddr, ClientTarget>,
    by_name: HashMap<String, ClientTarget>,
}

/// Where a trunk SBC's client configuration is filed.
enum TrunkKey {
    Addr(SocketAddr),
    /// An SBC given by host name: found through the addresses DNS gave for it.
    Name(String),
}

/// The runtime's TLS state, shared by the listeners, the connectors and the SIGHUP task.
pub struct Tls {
    /// `None` when no `tls:` listener is configured.
    server: RwLock<Option<Arc<ServerConfig>>>,
    clients: RwLock<Clients>,
    /// What the configurations are built from, for a reload.
    sources: Mutex<Sources>,
    inbound_handshakes: AtomicU64,
    inbound_failed: AtomicU64,
    outbound_failed: AtomicU64,
    reloads: AtomicU64,
    reload_failures: AtomicU64,
    /// The addresses DNS gave for host-name SBCs, and the SBC URI each belongs to.
    resolved: RwLock<HashMap<SocketAddr, String>>,
}

#[derive(Clone)]
struct Sources {
    server: Option<TlsFiles>,
    trunks: Vec<Trunk>,
}

impl Sources {
    fn of(config: &Config) -> Sources {
        Sources {
            server: config.sip.tls.clone(),
            trunks: config
                .trunks
                .iter()
                .filter(|t| t.tls.is_some())
                .cloned()
                .collect(),
        }
    }
}

impl Tls {
    /// Reads every TLS file `config` names. The problems name the field and the reason.
    pub fn load(config: &Config) -> Result<Tls, Vec<Problem>> {
        let sources = Sources::of(config);
        let (server, clients) = build(&sources)?;
        Ok(Tls {
            server: RwLock::new(server),
            clients: RwLock::new(clients),
            sources: Mutex::new(sources),
            inbound_handshakes: AtomicU64::new(0),
            inbound_failed: AtomicU64::new(0),
            outbound_failed: AtomicU64::new(0),
            reloads: AtomicU64::new(0),
            reload_failures: AtomicU64::new(0),
            resolved: RwLock::new(HashMap::new()),
        })
    }

    /// DNS gave `lookup` for `sbc`: connections to those addresses verify the SBC's
    /// configured name (its host, or `tls_name`), never the address (RFC 5922 §4: the
    /// certificate is matched against the domain the URI names, not what it resolved to).
    pub fn resolved(&self, sbc: &crate::sip::uri::SipUri, lookup: &DnsLookup) {
        let DnsLookup::Resolved(targets) = lookup else {
            return;
        };
        if targets.is_empty() {
            return;
        }
        let key = sbc.to_string();
        let mut resolved = self.resolved.write().unwrap_or_else(|e| e.into_inner());
        resolved.retain(|_, k| k != &key);
        for t in targets {
            resolved.insert(t.addr, key.clone());
        }
    }

    /// The listeners' configuration for the next connection accepted.
    pub fn server(&self) -> Option<Arc<ServerConfig>> {
        self.server
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// How to connect to `addr` over TLS.
    pub fn client(&self, addr: SocketAddr) -> ClientTarget {
        let clients = self.clients.read().unwrap_or_else(|e| e.into_inner());
        let by_name = || {
            let resolved = self.resolved.read().unwrap_or_else(|e| e.into_inner());
            clients.by_name.get(resolved.get(&addr)?).cloned()
        };
        match clients.trunks.get(&addr).cloned().or_else(by_name) {
            Some(t) => t,
            None => ClientTarget {
                name: ServerName::IpAddress(addr.ip().into()),
                config: clients.default.clone(),
            },
        }
    }

    /// Reads the files again (SIGHUP; blocking IO). Each part is replaced only when it loads
    /// whole; otherwise the reason is logged and the old one keeps serving.
    pub fn reload(&self) {
        let sources = self
            .sources
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        self.apply(&sources, "SIGHUP");
    }

    /// A new effective configuration (blocking IO): the trunks' TLS, and the listeners' files
    /// when they changed.
    pub fn reconfigure(&self, config: &Config) {
        let sources = Sources::of(config);
        {
            let mut current = self.sources.lock().unwrap_or_else(|e| e.into_inner());
            let same = current.server == sources.server && current.trunks == sources.trunks;
            *current = sources.clone();
            if same {
                return;
            }
        }
        self.apply(&sources, "configuration change");
    }

    fn apply(&self, sources: &Sources, why: &str) {
        match build(sources) {
            Ok((server, clients)) => {
                *self.server.write().unwrap_or_else(|e| e.into_inner()) = server;
                *self.clients.write().unwrap_or_else(|e| e.into_inner()) = clients;
                self.reloads.fetch_add(1, Ordering::Relaxed);
                tracing::info!(why, "TLS certificates loaded for new connections");
            }
            Err(problems) => {
                self.reload_failures.fetch_add(1, Ordering::Relaxed);
                for p in problems {
                    tracing::warn!(
                        why,
                        "TLS reload refused, the certificates loaded before keep serving: {}: {}",
                        p.subject,
                        p.message
                    );
                }
            }
        }
    }

    pub fn inbound_handshake_done(&self) {
        self.inbound_handshakes.fetch_add(1, Ordering::Relaxed);
    }

    pub fn inbound_handshake_failed(&self) {
        self.inbound_failed.fetch_add(1, Ordering::Relaxed);
    }

    pub fn outbound_handshake_failed(&self) {
        self.outbound_failed.fetch_add(1, Ordering::Relaxed);
    }

    /// The counters `/metrics` exports.
    pub fn counters(&self) -> TlsCounters {
        TlsCounters {
            inbound_handshakes: self.inbound_handshakes.load(Ordering::Relaxed),
            inbound_failed: self.inbound_failed.load(Ordering::Relaxed),
            outbound_failed: self.outbound_failed.load(Ordering::Relaxed),
            reloads: self.reloads.load(Ordering::Relaxed),
            reload_failures: self.reload_failures.load(Ordering::Relaxed),
        }
    }
}

/// The TLS problems of `config`'s files, as `check-config` and start-up report them.
pub fn check(config: &Config) -> Vec<Problem> {
    let sources = Sources::of(config);
    // Nothing to read (and the system's roots are not worth loading) without TLS.
    if sources.server.is_none() && sources.trunks.is_empty() {
        return Vec::new();
    }
    match build(&sources) {
        Ok(_) => Vec::new(),
        Err(problems) => problems,
    }
}

type Built = (Option<Arc<ServerConfig>>, Clients);

fn build(sources: &Sources) -> Result<Built, Vec<Problem>> {
    let mut problems = Vec::new();
    let server = match &sources.server {
        Some(files) => match server_config(files) {
            Ok(c) => Some(Arc::new(c)),
            Err(mut p) => {
                problems.append(&mut p);
                None
            }
        },
        None => None,
    };
    // TLS destinations that are not trunks: `[sip] tls_ca`, else the system's roots.
    let peer_roots = match sources.server.as_ref().and_then(|s| s.peer_ca.as_deref()) {
        Some(ca) => match roots("[sip]", "tls_ca", ca) {
            Ok(r) => Arc::new(r),
            Err(p) => {
                problems.push(p);
                Arc::new(RootCertStore::empty())
            }
        },
        None => system_roots(),
    };
    let default = client_config(peer_roots, None).map(Arc::new);
    let mut trunks = HashMap::new();
    let mut by_name = HashMap::new();
    for t in &sources.trunks {
        // Every SBC of the trunk (`sbcs`) is reached with the trunk's TLS keys, each verified
        // for its own host unless `tls_name` says otherwise; a file's problem is said once.
        for sbc in &t.sbcs {
            let mut one = t.clone();
            one.proxy = sbc.uri.clone();
            match trunk_client(&one) {
                Ok(Some((TrunkKey::Addr(addr), target))) => {
                    trunks.insert(addr, target);
                }
                Ok(Some((TrunkKey::Name(sbc), target))) => {
                    by_name.insert(sbc, target);
                }
                Ok(None) => {}
                Err(p) => {
                    for p in p {
                        if !problems.contains(&p) {
                            problems.push(p);
                        }
                    }
                }
            }
        }
    }
    match default {
        Ok(default) if problems.is_empty() => Ok((
            server,
            Clients {
                default,
                trunks,
                by_name,
            },
        )),
        Ok(_) => Err(problems),
        Err(e) => {
            problems.push(problem(
                "[sip]",
                "tls",
                format!("TLS client set-up failed: {e}"),
            ));
            Err(problems)
        }
    }
}

fn problem(subject: &str, field: &str, message: String) -> Problem {
    Problem {
        subject: subject.to_owned(),
        field: field.to_owned(),
        message,
    }
}

/// `[sip] tls_cert`, `tls_key`, `tls_client_ca` as a listener's configuration.
fn server_config(files: &TlsFiles) -> Result<ServerConfig, Vec<Problem>> {
    const S: &str = "[sip]";
    let pair = certified_key(S, ("tls_cert", &files.cert), ("tls_key", &files.key));
    let client_roots = files
        .client_ca
        .as_deref()
        .map(|ca| roots(S, "tls_client_ca", ca))
        .transpose();
    let ((certs, key), client_roots) = match (pair, client_roots) {
        (Ok(pair), Ok(roots)) => (pair, roots),
        (pair, roots) => {
            let mut out = pair.err().unwrap_or_default();
            out.extend(roots.err());
            return Err(out);
        }
    };
    let builder = ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(VERSIONS)
        .map_err(|e| vec![problem(S, "tls_cert", format!("tls_cert: {e}"))])?;
    let builder = match client_roots {
        // RFC 5922 §7.3 leaves client certificates to policy: asked for and required only
        // when the listener has CAs to verify them with.
        Some(roots) => {
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider())
                .build()
                .map_err(|e| {
                    vec![problem(
                        S,
                        "tls_client_ca",
                        format!("tls_client_ca holds no usable CA certificate: {e}"),
                    )]
                })?;
            builder.with_client_cert_verifier(verifier)
        }
        None => builder.with_no_client_auth(),
    };
    builder
        .with_single_cert(certs, key)
        .map_err(|e| vec![problem(S, "tls_cert", format!("tls_cert: {e}"))])
}

/// A trunk's client configuration, keyed by its proxy's address, or by its URI when the proxy
/// is a host name (DNS gives the addresses at run time); `None` for a trunk without TLS.
fn trunk_client(t: &Trunk) -> Result<Option<(TrunkKey, ClientTarget)>, Vec<Problem>> {
    let Some(tls) = &t.tls else {
        return Ok(None);
    };
    let subject = format!("trunk {:?}", t.id.as_str());
    let mut problems = Vec::new();
    let anchors = match &tls.ca {
        Some(ca) => match roots(&subject, "tls_ca", ca) {
            Ok(r) => Arc::new(r),
            Err(p) => {
                problems.push(p);
                Arc::new(RootCertStore::empty())
            }
        },
        None => system_roots(),
    };
    let client = match &tls.client {
        Some((cert, key)) => match certified_key(&subject, ("tls_cert", cert), ("tls_key", key)) {
            Ok(pair) => Some(pair),
            Err(mut p) => {
                problems.append(&mut p);
                None
            }
        },
        None => None,
    };
    let name_text = verified_name(t);
    let name = match ServerName::try_from(name_text.clone()) {
        Ok(n) => Some(n),
        Err(_) => {
            problems.push(problem(
                &subject,
                "tls_name",
                format!("tls_name {name_text:?} is not a DNS name or IP address"),
            ));
            None
        }
    };
    let ip: Option<IpAddr> = match &t.proxy.host {
        Host::V4(a) => Some(IpAddr::V4(*a)),
        Host::V6(a) => Some(IpAddr::V6(*a)),
        Host::Name(_) => None,
    };
    if !problems.is_empty() {
        return Err(problems);
    }
    let config = client_config(anchors, client)
        .map_err(|e| vec![problem(&subject, "tls_cert", format!("tls_cert: {e}"))])?;
    let Some(name) = name else {
        return Ok(None);
    };
    let target = ClientTarget {
        name,
        config: Arc::new(config),
    };
    let key = match ip {
        Some(ip) => TrunkKey::Addr(SocketAddr::new(ip, t.proxy.port.unwrap_or(5061))),
        None => TrunkKey::Name(t.proxy.to_string()),
    };
    Ok(Some((key, target)))
}

/// The name a TLS trunk's certificate is verified for: `tls_name`, else the proxy's host.
fn verified_name(t: &Trunk) -> String {
    if let Some(name) = t.tls.as_ref().and_then(|tls| tls.name.clone()) {
        return name;
    }
    match &t.proxy.host {
        Host::V4(a) => a.to_string(),
        Host::V6(a) => a.to_string(),
        Host::Name(n) => n.clone(),
    }
}

fn client_config(
    roots: Arc<RootCertStore>,
    client: Option<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)>,
) -> Result<ClientConfig, rustls::Error> {
    let verifier = WebPkiServerVerifier::builder_with_provider(roots, provider())
        .build()
        .map_err(|e| rustls::Error::General(e.to_string()));
    let builder =
        ClientConfig::builder_with_provider(provider()).with_protocol_versions(VERSIONS)?;
    let builder = match verifier {
        Ok(v) => builder.with_webpki_verifier(v),
        // No trust anchor at all (no system roots on this machine): every server is refused
        // by an empty store rather than accepted.
        Err(_) => builder.with_root_certificates(RootCertStore::empty()),
    };
    match client {
        Some((certs, key)) => builder.with_client_auth_cert(certs, key),
        None => Ok(builder.with_no_client_auth()),
    }
}

/// The system's trust anchors, read once.
fn system_roots() -> Arc<RootCertStore> {
    static ROOTS: OnceLock<Arc<RootCertStore>> = OnceLock::new();
    ROOTS
        .get_or_init(|| {
            let found = rustls_native_certs::load_native_certs();
            for e in &found.errors {
                tracing::warn!(%e, "a system CA certificate could not be read");
            }
            let mut store = RootCertStore::empty();
            let (added, ignored) = store.add_parsable_certificates(found.certs);
            tracing::debug!(added, ignored, "system CA certificates loaded");
            Arc::new(store)
        })
        .clone()
}

/// The CA certificates in the PEM file `path` (`field` of `subject`).
fn roots(subject: &str, field: &str, path: &Path) -> Result<RootCertStore, Problem> {
    let certs = read_certs(subject, field, path)?;
    let mut store = RootCertStore::empty();
    let (added, _) = store.add_parsable_certificates(certs);
    if added == 0 {
        return Err(problem(
            subject,
            field,
            format!(
                "{field} {:?} holds no usable CA certificate",
                path.display().to_string()
            ),
        ));
    }
    Ok(store)
}

fn read_certs(
    subject: &str,
    field: &str,
    path: &Path,
) -> Result<Vec<CertificateDer<'static>>, Problem> {
    let shown = path.display().to_string();
    let bad = |why: String| problem(subject, field, format!("{field} {shown:?} {why}"));
    let iter = CertificateDer::pem_file_iter(path).map_err(|e| bad(pem_reason(&e)))?;
    let certs: Vec<_> = iter
        .collect::<Result<_, _>>()
        .map_err(|e| bad(pem_reason(&e)))?;
    if certs.is_empty() {
        return Err(bad("holds no PEM CERTIFICATE block".into()));
    }
    Ok(certs)
}

fn pem_reason(e: &rustls_pki_types::pem::Error) -> String {
    use rustls_pki_types::pem::Error as E;
    match e {
        E::Io(io) => format!("cannot be read: {io}"),
        E::NoItemsFound => "holds no PEM block of the expected kind".into(),
        other => format!("is not valid PEM: {other}"),
    }
}

/// A certificate chain and its private key, checked to belong together.
fn certified_key(
    subject: &str,
    (cert_field, cert): (&str, &Path),
    (key_field, key): (&str, &Path),
) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), Vec<Problem>> {
    let certs = read_certs(subject, cert_field, cert);
    let shown = key.display().to_string();
    let private = PrivateKeyDer::from_pem_file(key).map_err(|e| {
        let why = match e {
            rustls_pki_types::pem::Error::NoItemsFound => {
                "holds no PEM private key (PRIVATE KEY, RSA PRIVATE KEY or EC PRIVATE KEY)".into()
            }
            e => pem_reason(&e),
        };
        problem(subject, key_field, format!("{key_field} {shown:?} {why}"))
    });
    let (certs, private) = match (certs, private) {
        (Ok(c), Ok(k)) => (c, k),
        (c, k) => {
            return Err([c.err(), k.err()].into_iter().flatten().collect());
        }
    };
    let signer = provider()
        .key_provider
        .load_private_key(private.clone_key())
        .map_err(|e| {
            vec![problem(
                subject,
                key_field,
                format!("{key_field} {shown:?} is not a usable RSA, ECDSA or Ed25519 key: {e}"),
            )]
        })?;
    match CertifiedKey::new(certs.clone(), signer).keys_match() {
        Ok(()) => Ok((certs, private)),
        Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::KeyMismatch)) => {
            Err(vec![problem(
                subject,
                key_field,
                format!(
                    "{key_field} {shown:?} does not match the certificate in {cert_field} \
                     (the first certificate of the chain must be the key's)"
                ),
            )])
        }
        // The key cannot tell its public half; the handshake will show a mismatch.
        Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::Unknown)) => {
            Ok((certs, private))
        }
        Err(e) => Err(vec![problem(
            subject,
            cert_field,
            format!(
                "{cert_field} {:?}: the certificate cannot be read: {e}",
                cert.display().to_string()
            ),
        )]),
    }
}
