//! TCP and TLS connections (RFC 3261 §18, §26.2): a reader that frames messages by Content-Length
//! ([`parse_stream`]), a writer task per connection, and the outbound connections the core
//! task's [`crate::sip::conn_table::ConnectionTable`] decides to open (one per destination; it
//! also decides when one we opened is closed for idleness, carried out through [`Link::close`]).
//!
//! Every connection holds a place from [`ConnectionLimits`] (the global and per-source caps)
//! for exactly as long as it is open: an accepted connection over a cap is closed at once
//! (never left in the listen backlog), and one whose message does not complete in time, or
//! that stays silent, is closed when [`StreamDeadlines`] says so. A connection keeps no buffer
//! while it has no partial message, so idle connections cost little memory, and nothing of it
//! remains once it is closed (its reader, writer task and the core's writer entry all go);
//! after a flood the freed heap is given back to the OS ([`Streams::return_memory_after_floods`]).
//!
//! TLS (see [`super::tls`]) is the same machinery with a handshake first: an accepted
//! connection holds its place under the caps during the handshake, which must finish within
//! the message deadline (a client that never completes it is closed like one that never
//! completes a message); a failed handshake is counted and logged briefly, never fatal.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadHalf};
use tokio::net::tcp::OwnedReadHalf;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, Notify};
use tokio_rustls::{TlsAcceptor, TlsConnector};

use crate::sip::connections::{
    ConnectionLimits, ConnectionStats, Direction, Expiry, LimitSettings, Permit, RefusedBecause,
    StreamDeadlines,
};
use crate::sip::parse::{parse_stream, Frame, Limits};
use crate::sip::transport::{ConnId, Peer, Transport};

use super::clock::Clock;
use super::tls::Tls;
use super::Input;

/// A source refused again within this window is counted, not logged again.
const REFUSAL_LOG_WINDOW: Duration = Duration::from_secs(60);

/// How long a closed connection's writer may take to flush what it was given; a peer that
/// does not read does not keep the writer task (and the socket) alive.
const WRITER_GRACE: Duration = Duration::from_secs(1);

/// How long an outbound connect may take before the messages waiting for it are given up.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// The most bytes read at once; a read buffer exists only while a message is incomplete.
const READ_CHUNK: usize = 4096;

/// Descriptors kept for everything but SIP connections and RTP ports: listeners, the store's
/// files (database, WAL, shared memory, lock), the API's listener and its clients, the
/// runtime's own (epoll, eventfd, signal pipe), stdio and prompt files being read.
const FIXED_DESCRIPTORS: u64 = 512;

/// The derived cap never exceeds this: an idle connection costs a few KiB (its tasks and
/// channel), so 65,536 of them stay within a few hundred MiB.
const DERIVED_CAP_MAX: u64 = 65_536;

/// The derived cap never goes below this, even when the descriptor limit cannot hold the
/// whole RTP range (the server then warns at start).
const DERIVED_CAP_MIN: u64 = 64;

/// The global connection cap when `[sip.connections] max_connections` is not set.
///
/// The arithmetic: every port of the RTP range may be a socket at once (each call and each
/// agent leg binds an even RTP port and the odd RTCP port after it, so the range's ports are
/// the range's sockets), plus [`FIXED_DESCRIPTORS`]; what the descriptor limit leaves after that
/// reserve is the cap. So with the connection table full, a call still binds its RTP ports.
/// With `ulimit -n` 20,000 and ports 20000–30000: 20,000 − 10,001 − 512 = 9,487 connections.
/// Returns the cap and whether the reserve fits in the limit at all.
pub fn derived_max_connections(nofile: u64, rtp_min: u16, rtp_max: u16) -> (usize, bool) {
    let rtp_sockets = u64::from(rtp_max.saturating_sub(rtp_min)) + 1;
    let reserve = rtp_sockets + FIXED_DESCRIPTORS;
    let left = nofile.saturating_sub(reserve);
    let fits = left >= DERIVED_CAP_MIN;
    let cap = left.clamp(DERIVED_CAP_MIN, DERIVED_CAP_MAX);
    (usize::try_from(cap).unwrap_or(usize::MAX), fits)
}

/// How often the open count is looked at to decide whether to give memory back.
const TRIM_EVERY: Duration = Duration::from_secs(5);

/// Closed connections (about 8 KiB of heap each) that make giving memory back worth a
/// `malloc_trim` (a few ms on a large heap): a thousand, some 8 MiB.
const TRIM_AFTER_CLOSED: usize = 1000;

/// Connection counters the runtime keeps beside the limiter's.
#[derive(Clone, Copy, Debug, Default)]
pub struct StreamStats {
    pub limits: ConnectionStats,
    pub max_connections: u64,
    /// Closed because a message was not complete within the message deadline.
    pub closed_deadline: u64,
    /// Closed because nothing was received for the idle timeout.
    pub closed_idle: u64,
}

/// What the core task holds of one open connection: its writer, and the signal that closes it.
pub(crate) struct Link {
    pub writer: mpsc::Sender<Vec<u8>>,
    /// Notified when the connection table closes the connection for idleness.
    pub close: Arc<Notify>,
}

/// Shared state of the stream transport.
#[derive(Clone)]
pub struct Streams {
    inputs: mpsc::Sender<Input>,
    limits: Limits,
    next_conn: Arc<AtomicU64>,
    clock: Clock,
    admission: Arc<Mutex<ConnectionLimits>>,
    closed_deadline: Arc<AtomicU64>,
    closed_idle: Arc<AtomicU64>,
    /// Certificates and trust anchors for TLS connections; `None`: TLS is not configured.
    tls: Option<Arc<Tls>>,
    /// When a failed TLS handshake was last logged (one line per window, the rest counted).
    tls_log: Arc<Mutex<Option<crate::time::Time>>>,
}

/// A connection's place under the caps, given back when dropped (however the connection ends).
struct Place {
    admission: Arc<Mutex<ConnectionLimits>>,
    permit: Option<Permit>,
}

impl Drop for Place {
    fn drop(&mut self) {
        if let Some(permit) = self.permit.take() {
            lock(&self.admission).close(permit);
        }
    }
}

fn lock(m: &Mutex<ConnectionLimits>) -> MutexGuard<'_, ConnectionLimits> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Streams {
    pub(crate) fn new(
        inputs: mpsc::Sender<Input>,
        limits: Limits,
        clock: Clock,
        settings: LimitSettings,
    ) -> Streams {
        Streams {
            inputs,
            limits,
            next_conn: Arc::new(AtomicU64::new(1)),
            clock,
            admission: Arc::new(Mutex::new(ConnectionLimits::new(settings))),
            closed_deadline: Arc::new(AtomicU64::new(0)),
            closed_idle: Arc::new(AtomicU64::new(0)),
            tls: None,
            tls_log: Arc::new(Mutex::new(None)),
        }
    }

    /// Serves TLS listeners and connects to TLS destinations with `tls`.
    pub(crate) fn with_tls(mut self, tls: Arc<Tls>) -> Streams {
        self.tls = Some(tls);
        self
    }

    /// The counters `/metrics` exports.
    pub fn stats(&self) -> StreamStats {
        let admission = lock(&self.admission);
        StreamStats {
            limits: admission.stats(),
            max_connections: admission.settings().max_connections as u64,
            closed_deadline: self.closed_deadline.load(Ordering::Relaxed),
            closed_idle: self.closed_idle.load(Ordering::Relaxed),
        }
    }

    /// Gives the memory of closed connections back to the OS after a flood: every
    /// [`TRIM_EVERY`], when at least [`TRIM_AFTER_CLOSED`] fewer connections are open than at
    /// the peak since the last look. Runs until the runtime stops.
    pub async fn return_memory_after_floods(self) {
        loop {
            super::clock::sleep(TRIM_EVERY).await;
            let (peak, open) = {
                let mut admission = lock(&self.admission);
                (admission.take_peak(), admission.open())
            };
            if peak.saturating_sub(open) >= TRIM_AFTER_CLOSED {
                let trimmed = tokio::task::spawn_blocking(super::sys::release_free_memory).await;
                tracing::debug!(
                    open,
                    ok = trimmed.is_ok(),
                    "connections closed; heap trimmed"
                );
            }
        }
    }

    fn admit(&self, peer: SocketAddr, direction: Direction) -> Option<Place> {
        let now = self.clock.now();
        let decision = lock(&self.admission).try_open(now, peer.ip(), direction);
        match decision {
            Ok(permit) => Some(Place {
                admission: self.admission.clone(),
                permit: Some(permit),
            }),
            Err(refusal) => {
                if refusal.log {
                    match refusal.because {
                        RefusedBecause::Full => tracing::warn!(
                            source = %peer.ip(),
                            ?direction,
                            "SIP connection refused: the connection table is full \
                             (max_connections); further refusals are counted in /metrics, not \
                             logged, for a minute"
                        ),
                        RefusedBecause::SourceFull => tracing::warn!(
                            source = %peer.ip(),
                            ?direction,
                            "SIP connection refused: the source has max_per_source connections \
                             open; further refusals of this source are counted in /metrics, not \
                             logged, for a minute"
                        ),
                    }
                }
                None
            }
        }
    }

    /// Accepts connections on a TCP listener (`transport` Tcp) or a TLS one (Tls) until the
    /// runtime stops.
    pub async fn accept_loop(self, listener: TcpListener, transport: Transport) {
        let mut last_error_log: Option<crate::time::Time> = None;
        loop {
            match listener.accept().await {
                Ok((stream, from)) => match self.admit(from, Direction::Inbound) {
                    Some(place) => {
                        let _ = stream.set_nodelay(true);
                        let this = self.clone();
                        tokio::spawn(async move {
                            if transport == Transport::Tls {
                                this.accept_tls(stream, from, place).await;
                            } else {
                                this.serve_with(Io::Tcp(stream), from, Direction::Inbound, place)
                                    .await;
                            }
                        });
                    }
                    // Over a cap: closed now, so it neither waits in the backlog nor holds a
                    // descriptor (RFC 3261 §18.3 leaves closing connections to the server).
                    None => drop(stream),
                },
                Err(err) => {
                    // Out of descriptors (EMFILE/ENFILE) repeats until some close: once per
                    // window in the log, not 20 times a second.
                    let now = self.clock.now();
                    if last_error_log.is_none_or(|t| now.saturating_since(t) >= REFUSAL_LOG_WINDOW)
                    {
                        tracing::warn!(%err, "tcp accept failed");
                        last_error_log = Some(now);
                    }
                    super::clock::sleep(Duration::from_millis(50)).await;
                }
            }
        }
    }

    /// Opens a connection to `addr` for the connection table ([`crate::sip::conn_table`]),
    /// then serves it like an accepted one. The core task learns the outcome from
    /// [`Input::Connected`] (and sends what waited for it) or [`Input::ConnectFailed`].
    pub fn connect(&self, transport: Transport, addr: SocketAddr) {
        let this = self.clone();
        tokio::spawn(async move {
            // Our own connections count against the global cap (they use descriptors too) but
            // never against the peer's per-source count.
            let Some(place) = this.admit(addr, Direction::Outbound) else {
                let _ = this
                    .inputs
                    .send(Input::ConnectFailed { transport, addr })
                    .await;
                return;
            };
            let connected = tokio::time::timeout(CONNECT_TIMEOUT, async {
                let stream = TcpStream::connect(addr).await?;
                let _ = stream.set_nodelay(true);
                if transport == Transport::Tls {
                    this.tls_connect(stream, addr).await
                } else {
                    Ok(Io::Tcp(stream))
                }
            })
            .await;
            match connected {
                Ok(Ok(io)) => {
                    this.serve_with(io, addr, Direction::Outbound, place).await;
                }
                _ => {
                    drop(place);
                    tracing::debug!(%addr, "tcp connect failed; messages waiting for it dropped");
                    let _ = this
                        .inputs
                        .send(Input::ConnectFailed { transport, addr })
                        .await;
                }
            }
        });
    }

    /// The server side of a TLS handshake on an accepted connection, within the message
    /// deadline, then the connection served like a TCP one.
    async fn accept_tls(self, stream: TcpStream, from: SocketAddr, place: Place) {
        let Some(tls) = self.tls.clone() else { return };
        let Some(config) = tls.server() else { return };
        let deadline = lock(&self.admission).settings().message_deadline;
        let accepted =
            tokio::time::timeout(deadline, TlsAcceptor::from(config).accept(stream)).await;
        match accepted {
            Ok(Ok(stream)) => {
                tls.inbound_handshake_done();
                self.serve_with(
                    Io::Tls(Box::new(stream.into())),
                    from,
                    Direction::Inbound,
                    place,
                )
                .await;
            }
            Ok(Err(err)) => {
                tls.inbound_handshake_failed();
                self.log_tls_failure(from, "inbound", &err.to_string());
            }
            Err(_) => {
                tls.inbound_handshake_failed();
                self.log_tls_failure(from, "inbound", "not completed within message_deadline");
            }
        }
    }

    /// The client side of a TLS handshake to `addr`: its certificate verified for the name
    /// and CAs the configuration gives (see [`super::tls`]).
    async fn tls_connect(&self, stream: TcpStream, addr: SocketAddr) -> std::io::Result<Io> {
        let Some(tls) = self.tls.clone() else {
            return Err(std::io::Error::other("TLS is not configured"));
        };
        let target = tls.client(addr);
        match TlsConnector::from(target.config)
            .connect(target.name, stream)
            .await
        {
            Ok(stream) => Ok(Io::Tls(Box::new(stream.into()))),
            Err(err) => {
                tls.outbound_handshake_failed();
                self.log_tls_failure(addr, "outbound", &err.to_string());
                Err(err)
            }
        }
    }

    /// One warning per [`REFUSAL_LOG_WINDOW`]; the rest are counted in `/metrics` only.
    fn log_tls_failure(&self, peer: SocketAddr, direction: &str, why: &str) {
        let now = self.clock.now();
        let mut last = self.tls_log.lock().unwrap_or_else(|e| e.into_inner());
        if last.is_none_or(|t| now.saturating_since(t) >= REFUSAL_LOG_WINDOW) {
            *last = Some(now);
            tracing::warn!(
                %peer,
                direction,
                "TLS handshake failed: {why}; further failures are counted in /metrics, not \
                 logged, for a minute"
            );
        } else {
            tracing::debug!(%peer, direction, "TLS handshake failed: {why}");
        }
    }

    async fn serve_with(self, io: Io, from: SocketAddr, direction: Direction, place: Place) {
        let conn = ConnId(self.next_conn.fetch_add(1, Ordering::Relaxed));
        let local = match io.local_addr() {
            Ok(a) => a,
            Err(_) => return,
        };
        let transport = io.transport();
        let (mut reader, mut writer) = io.split();
        let (wtx, mut wrx) = mpsc::channel::<Vec<u8>>(256);
        let close = Arc::new(Notify::new());
        let mut write_task = tokio::spawn(async move {
            while let Some(bytes) = wrx.recv().await {
                // A TLS writer keeps records until flushed; TCP's flush does nothing.
                if writer.write_all(&bytes).await.is_err() || writer.flush().await.is_err() {
                    break;
                }
            }
        });
        if self
            .inputs
            .send(Input::Connected {
                conn,
                link: Link {
                    writer: wtx.clone(),
                    close: close.clone(),
                },
                transport,
                remote: from,
                direction,
            })
            .await
            .is_err()
        {
            write_task.abort();
            return;
        }
        let peer = Peer {
            transport,
            addr: from,
            conn: Some(conn),
        };
        let settings = *lock(&self.admission).settings();
        let mut deadlines = StreamDeadlines::new(self.clock.now(), &settings);
        // Empty (no allocation) while no message is partly received.
        let mut buf: Vec<u8> = Vec::new();
        'read: loop {
            let (at, expiry) = deadlines.deadline();
            let n = tokio::select! {
                read = read_some(&mut reader, &mut buf) => match read {
                    Ok(0) | Err(_) => break 'read,
                    Ok(n) => n,
                },
                _ = self.clock.sleep_until(at) => {
                    let counter = match expiry {
                        Expiry::MessageDeadline => &self.closed_deadline,
                        Expiry::Idle => &self.closed_idle,
                    };
                    counter.fetch_add(1, Ordering::Relaxed);
                    tracing::debug!(%from, ?expiry, "closing a SIP connection for time");
                    break 'read;
                }
                // The connection table's decision: one we opened has been idle either way.
                _ = close.notified() => {
                    tracing::debug!(%from, "closing an idle SIP connection we opened");
                    break 'read;
                }
            };
            debug_assert!(n > 0);
            let mut completed = false;
            loop {
                match parse_stream(&buf, &self.limits) {
                    Ok(Frame::Incomplete) => break,
                    Ok(Frame::KeepAlive { consumed }) => {
                        // RFC 5626 §3.5.1: a CRLFCRLF ping gets a CRLF pong.
                        if buf[..consumed].starts_with(b"\r\n\r\n") {
                            let _ = wtx.try_send(b"\r\n".to_vec());
                        }
                        buf.drain(..consumed);
                        completed = true;
                    }
                    Ok(Frame::Message { message, consumed }) => {
                        buf.drain(..consumed);
                        completed = true;
                        let input = Input::Frame {
                            peer,
                            local,
                            parsed: Box::new(Ok(message)),
                        };
                        if self.inputs.send(input).await.is_err() {
                            break 'read;
                        }
                    }
                    Err(err) => {
                        // A stream that cannot be framed cannot be resynchronised: answer what
                        // can be answered, then close (RFC 3261 §18.3).
                        let input = Input::Frame {
                            peer,
                            local,
                            parsed: Box::new(Err(err)),
                        };
                        let _ = self.inputs.send(input).await;
                        super::clock::sleep(Duration::from_millis(100)).await;
                        break 'read;
                    }
                }
            }
            if buf.is_empty() {
                // Nothing partial: give the buffer back rather than keep it for an idle peer.
                buf = Vec::new();
            }
            deadlines.received(self.clock.now(), completed, !buf.is_empty());
        }
        drop(wtx);
        drop(reader);
        let _ = self.inputs.send(Input::Closed { conn }).await;
        // The core drops its writer on Closed, which ends the writer task once it has flushed;
        // a peer that stopped reading gets a moment, then the task is ended.
        if tokio::time::timeout(WRITER_GRACE, &mut write_task)
            .await
            .is_err()
        {
            write_task.abort();
        }
        drop(place);
    }
}

/// An open connection, before it is split into its reader and its writer task.
enum Io {
    Tcp(TcpStream),
    Tls(Box<tokio_rustls::TlsStream<TcpStream>>),
}

/// The read side of a connection.
enum Reader {
    Tcp(OwnedReadHalf),
    Tls(ReadHalf<tokio_rustls::TlsStream<TcpStream>>),
}

type Writer = Box<dyn AsyncWrite + Send + Unpin>;

impl Io {
    fn local_addr(&self) -> std::io::Result<SocketAddr> {
        match self {
            Io::Tcp(s) => s.local_addr(),
            Io::Tls(s) => s.get_ref().0.local_addr(),
        }
    }

    fn transport(&self) -> Transport {
        match self {
            Io::Tcp(_) => Transport::Tcp,
            Io::Tls(_) => Transport::Tls,
        }
    }

    fn split(self) -> (Reader, Writer) {
        match self {
            Io::Tcp(s) => {
                let (r, w) = s.into_split();
                (Reader::Tcp(r), Box::new(w))
            }
            Io::Tls(s) => {
                let (r, w) = tokio::io::split(*s);
                (Reader::Tls(r), Box::new(w))
            }
        }
    }
}

/// Appends what `reader` has (up to [`READ_CHUNK`]) to `buf`. On TCP the buffer grows only
/// when bytes have come, so an idle connection holds none; TLS decrypts into a reserved chunk
/// (rustls keeps its own record buffers either way).
async fn read_some(reader: &mut Reader, buf: &mut Vec<u8>) -> std::io::Result<usize> {
    match reader {
        Reader::Tcp(r) => read_tcp(r, buf).await,
        Reader::Tls(r) => read_any(r, buf).await,
    }
}

async fn read_any<R: AsyncRead + Unpin>(
    reader: &mut R,
    buf: &mut Vec<u8>,
) -> std::io::Result<usize> {
    buf.reserve(READ_CHUNK);
    reader.read_buf(buf).await
}

async fn read_tcp(reader: &mut OwnedReadHalf, buf: &mut Vec<u8>) -> std::io::Result<usize> {
    loop {
        reader.readable().await?;
        buf.reserve(READ_CHUNK);
        match reader.try_read_buf(buf) {
            Ok(n) => return Ok(n),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
            Err(e) => return Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derived_cap_leaves_the_rtp_range_and_a_fixed_reserve() {
        // 20,000 descriptors, ports 20000-30000: 20,000 - 10,001 - 512.
        assert_eq!(
            derived_max_connections(20_000, 20_000, 30_000),
            (9_487, true)
        );
        // Plenty of descriptors: the memory bound.
        assert_eq!(
            derived_max_connections(1 << 20, 20_000, 30_000),
            (65_536, true)
        );
        // Too few for the RTP range: a small cap, and the caller is told.
        assert_eq!(derived_max_connections(1_024, 20_000, 30_000), (64, false));
    }
}
