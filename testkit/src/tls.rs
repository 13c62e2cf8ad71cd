//! SIP over TLS for the tests: certificates made on the spot ([`Pki`]: a CA and the leaf
//! certificates it issues, written as PEM files), a blocking TLS client ([`TlsClient`]) that
//! frames SIP messages, and a TLS server ([`TlsServer`]) that plays an SBC or a phone and
//! records what it got, starting with whether the first bytes were a TLS ClientHello.
//!
//! Blocking rustls (`StreamOwned`) rather than tokio-rustls: the tests are plain threads, like
//! the TCP phones they sit beside; the protocol engine is the same rustls the server runs.
#![allow(clippy::disallowed_methods)] // A real process in real time: waiting is the point.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
use rustls::{ClientConfig, ClientConnection, RootCertStore, ServerConfig, StreamOwned};
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName};

/// The ring provider, as the server uses.
#[allow(deprecated)] // reason: the server's provider; rustls deprecates it only for lacking PQ
fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A test CA and the files of what it issued.
pub struct Pki {
    issuer: CertifiedIssuer<'static, KeyPair>,
    dir: PathBuf,
    label: String,
}

/// A leaf certificate and its key, as PEM files and as DER.
#[derive(Clone)]
pub struct Leaf {
    pub cert_pem: PathBuf,
    pub key_pem: PathBuf,
    pub cert: CertificateDer<'static>,
    key_der: Vec<u8>,
}

impl Leaf {
    pub fn key(&self) -> PrivateKeyDer<'static> {
        PrivateKeyDer::try_from(self.key_der.clone()).expect("a private key")
    }
}

impl Pki {
    /// A new CA named `name`, its certificate written to `DIR/NAME-ca.pem`.
    pub fn new(dir: &Path, name: &str) -> Pki {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, format!("{name} test CA"));
        let issuer =
            CertifiedIssuer::self_signed(params, KeyPair::generate().expect("CA key")).expect("CA");
        let pki = Pki {
            issuer,
            dir: dir.to_owned(),
            label: name.to_owned(),
        };
        std::fs::write(pki.ca_pem(), pki.issuer.pem()).expect("write the CA");
        pki
    }

    /// The CA certificate's PEM file.
    pub fn ca_pem(&self) -> PathBuf {
        self.dir.join(format!("{}-ca.pem", self.label))
    }

    pub fn ca_der(&self) -> CertificateDer<'static> {
        self.issuer.der().clone()
    }

    /// A certificate for `names` (DNS names or IP addresses) issued by this CA, written to
    /// `DIR/FILE.pem` and `DIR/FILE.key`.
    pub fn issue(&self, file: &str, names: &[&str]) -> Leaf {
        let params =
            CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
                .expect("leaf params");
        let key = KeyPair::generate().expect("leaf key");
        let cert = params.signed_by(&key, &self.issuer).expect("issue");
        let cert_pem = self.dir.join(format!("{file}.pem"));
        let key_pem = self.dir.join(format!("{file}.key"));
        std::fs::write(&cert_pem, cert.pem()).expect("write cert");
        std::fs::write(&key_pem, key.serialize_pem()).expect("write key");
        Leaf {
            cert_pem,
            key_pem,
            cert: cert.der().clone(),
            key_der: key.serialize_der(),
        }
    }

    fn roots(&self) -> RootCertStore {
        let mut roots = RootCertStore::empty();
        roots.add(self.ca_der()).expect("CA into roots");
        roots
    }

    /// A client configuration trusting this CA, presenting `client` when given.
    pub fn client_config(&self, client: Option<&Leaf>) -> Arc<ClientConfig> {
        let builder = ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .expect("versions")
            .with_root_certificates(self.roots());
        let config = match client {
            Some(leaf) => builder
                .with_client_auth_cert(vec![leaf.cert.clone()], leaf.key())
                .expect("client cert"),
            None => builder.with_no_client_auth(),
        };
        Arc::new(config)
    }

    /// A server configuration serving `leaf`; with `client_ca`, clients must present a
    /// certificate that CA issued.
    pub fn server_config(leaf: &Leaf, client_ca: Option<&Pki>) -> Arc<ServerConfig> {
        let builder = ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .expect("versions");
        let builder = match client_ca {
            Some(ca) => builder.with_client_cert_verifier(
                rustls::server::WebPkiClientVerifier::builder_with_provider(
                    Arc::new(ca.roots()),
                    provider(),
                )
                .build()
                .expect("client verifier"),
            ),
            None => builder.with_no_client_auth(),
        };
        Arc::new(
            builder
                .with_single_cert(vec![leaf.cert.clone()], leaf.key())
                .expect("server cert"),
        )
    }
}

/// A TLS connection to holdline that sends and receives whole SIP messages.
pub struct TlsClient {
    stream: StreamOwned<ClientConnection, TcpStream>,
    buf: Vec<u8>,
}

impl TlsClient {
    /// Connects to `addr` and completes the handshake, verifying the server for `name`.
    pub fn connect(
        addr: SocketAddr,
        name: &str,
        config: Arc<ClientConfig>,
    ) -> std::io::Result<TlsClient> {
        let tcp = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
        tcp.set_read_timeout(Some(Duration::from_secs(5)))?;
        // One message is often two writes (a TLS record each); Nagle would hold the second.
        tcp.set_nodelay(true)?;
        let name = ServerName::try_from(name.to_owned())
            .map_err(|e| std::io::Error::other(e.to_string()))?;
        let conn = ClientConnection::new(config, name).map_err(std::io::Error::other)?;
        let mut stream = StreamOwned::new(conn, tcp);
        // Drive the handshake to its end now, so a refusal shows here.
        while stream.conn.is_handshaking() {
            stream.conn.complete_io(&mut stream.sock)?;
        }
        // TLS 1.3: the server's verdict on a client certificate comes after the client's
        // Finished, so a refused client may get here; its first read then fails.
        Ok(TlsClient {
            stream,
            buf: Vec::new(),
        })
    }

    /// The certificate the server presented (its leaf).
    pub fn peer_certificate(&self) -> Option<CertificateDer<'static>> {
        self.stream
            .conn
            .peer_certificates()
            .and_then(|c| c.first().cloned())
    }

    /// The local address (the Via sent-by of the messages sent on this connection).
    pub fn local_addr(&self) -> SocketAddr {
        self.stream.sock.local_addr().expect("local address")
    }

    pub fn send(&mut self, message: &str) -> std::io::Result<()> {
        self.stream.write_all(message.as_bytes())?;
        self.stream.flush()
    }

    /// The next whole SIP message, or `None` when none came within `timeout` (or the
    /// connection closed).
    pub fn recv(&mut self, timeout: Duration) -> Option<String> {
        let end = Instant::now() + timeout;
        let mut chunk = [0u8; 4096];
        loop {
            if let Some((_, _, total)) = frame(&self.buf) {
                let text = String::from_utf8_lossy(&self.buf[..total]).into_owned();
                self.buf.drain(..total);
                return Some(text.trim_start_matches(['\r', '\n']).to_owned());
            }
            let left = end.checked_duration_since(Instant::now())?;
            let _ = self
                .stream
                .sock
                .set_read_timeout(Some(left.max(Duration::from_millis(10))));
            match self.stream.read(&mut chunk) {
                Ok(0) => return None,
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) =>
                {
                    if Instant::now() >= end {
                        return None;
                    }
                }
                Err(_) => return None,
            }
        }
    }

    /// Receives messages until one whose first line satisfies `want`, within `timeout`.
    pub fn recv_until(&mut self, timeout: Duration, want: impl Fn(&str) -> bool) -> Option<String> {
        let end = Instant::now() + timeout;
        loop {
            let left = end.checked_duration_since(Instant::now())?;
            let m = self.recv(left)?;
            if want(m.lines().next().unwrap_or_default()) {
                return Some(m);
            }
        }
    }
}

/// A complete message at the start of `buf` (keep-alive CRLFs skipped): the header length, the
/// body length and the bytes it takes.
pub fn frame(buf: &[u8]) -> Option<(usize, usize, usize)> {
    let skip = buf
        .iter()
        .take_while(|b| **b == b'\r' || **b == b'\n')
        .count();
    let rest = &buf[skip..];
    let end = rest.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = String::from_utf8_lossy(&rest[..end]);
    let body = header(&head, "content-length", Some("l"))
        .and_then(|v| v.trim().parse::<usize>().ok())
        .unwrap_or(0);
    let total = skip + end + 4 + body;
    (buf.len() >= total).then_some((skip + end, body, total))
}

/// The first value of header `name` (or its compact form) in a message's text.
pub fn header(message: &str, name: &str, compact: Option<&str>) -> Option<String> {
    message.lines().skip(1).find_map(|l| {
        let (n, v) = l.split_once(':')?;
        let n = n.trim();
        (n.eq_ignore_ascii_case(name) || compact.is_some_and(|c| n.eq_ignore_ascii_case(c)))
            .then(|| v.trim().to_owned())
    })
}

/// What a [`TlsServer`] saw.
#[derive(Default, Debug)]
pub struct ServerSeen {
    /// Connections accepted (TCP).
    pub connections: usize,
    /// The first bytes of each connection looked like a TLS handshake record (0x16 0x03).
    pub client_hellos: usize,
    /// Connections whose TLS handshake completed.
    pub handshakes: usize,
    /// Plaintext SIP bytes seen on any connection before a handshake (never expected).
    pub plaintext: usize,
    /// The SIP messages received, whole.
    pub messages: Vec<String>,
}

/// A TLS endpoint playing an SBC or a phone: answers INVITE with 180 and 200 (an SDP answer
/// toward `rtp_port`), and BYE, CANCEL and OPTIONS with 200.
pub struct TlsServer {
    pub addr: SocketAddr,
    pub seen: Arc<Mutex<ServerSeen>>,
}

impl TlsServer {
    pub fn start(config: Arc<ServerConfig>, rtp_port: u16) -> TlsServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the TLS server");
        let addr = listener.local_addr().expect("address");
        let seen = Arc::new(Mutex::new(ServerSeen::default()));
        let s = seen.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { return };
                let (config, s) = (config.clone(), s.clone());
                std::thread::spawn(move || serve(stream, config, addr, rtp_port, s));
            }
        });
        TlsServer { addr, seen }
    }

    pub fn seen(&self) -> std::sync::MutexGuard<'_, ServerSeen> {
        self.seen.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn serve(
    tcp: TcpStream,
    config: Arc<ServerConfig>,
    addr: SocketAddr,
    rtp_port: u16,
    seen: Arc<Mutex<ServerSeen>>,
) {
    let lock = || seen.lock().unwrap_or_else(|e| e.into_inner());
    lock().connections += 1;
    let _ = tcp.set_read_timeout(Some(Duration::from_secs(10)));
    let _ = tcp.set_nodelay(true);
    let mut first = [0u8; 3];
    match tcp.peek(&mut first) {
        Ok(n) if n >= 2 && first[0] == 0x16 && first[1] == 0x03 => lock().client_hellos += 1,
        Ok(n) if n > 0 => {
            lock().plaintext += 1;
            return;
        }
        _ => return,
    }
    let Ok(conn) = rustls::ServerConnection::new(config) else {
        return;
    };
    let mut stream = StreamOwned::new(conn, tcp);
    while stream.conn.is_handshaking() {
        if stream.conn.complete_io(&mut stream.sock).is_err() {
            return;
        }
    }
    lock().handshakes += 1;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        while let Some((_, _, total)) = frame(&buf) {
            let text = String::from_utf8_lossy(&buf[..total])
                .trim_start_matches(['\r', '\n'])
                .to_owned();
            buf.drain(..total);
            lock().messages.push(text.clone());
            let method = text.split(' ').next().unwrap_or_default().to_owned();
            let answers = match method.as_str() {
                "INVITE" => vec![
                    response(&text, "180 Ringing", addr, None),
                    response(&text, "200 OK", addr, Some(rtp_port)),
                ],
                "BYE" | "CANCEL" | "OPTIONS" => vec![response(&text, "200 OK", addr, None)],
                _ => Vec::new(),
            };
            for a in answers {
                if stream.write_all(a.as_bytes()).is_err() {
                    return;
                }
            }
        }
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}

/// A response to `request` (its text), with an SDP answer when `rtp_port` is given; the
/// Contact is `sips:` at `addr`.
pub fn response(request: &str, status: &str, addr: SocketAddr, rtp_port: Option<u16>) -> String {
    let mut out = format!("SIP/2.0 {status}\r\n");
    for line in request
        .split("\r\n\r\n")
        .next()
        .unwrap_or_default()
        .lines()
        .skip(1)
    {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        match name.trim().to_ascii_lowercase().as_str() {
            "via" | "v" | "from" | "f" | "call-id" | "i" | "cseq" | "record-route" => {
                out.push_str(line);
                out.push_str("\r\n");
            }
            "to" | "t" => {
                out.push_str(line);
                if !value.contains("tag=") {
                    out.push_str(";tag=far");
                }
                out.push_str("\r\n");
            }
            _ => {}
        }
    }
    out.push_str(&format!("Contact: <sip:far@{addr};transport=tls>\r\n"));
    match rtp_port {
        Some(rtp) => {
            let sdp = format!(
                "v=0\r\no=far 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
                 m=audio {rtp} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n"
            );
            out.push_str(&format!(
                "Content-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{sdp}",
                sdp.len()
            ));
        }
        None => out.push_str("Content-Length: 0\r\n\r\n"),
    }
    out
}
