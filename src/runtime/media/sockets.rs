//! A party's media sockets: the RTP socket on its even port and the RTCP socket on the next
//! one (RFC 3550 §11), bound non-blocking on the configured address; the send-side duplicates
//! the pacer shard writes on; and the receive side, registered with tokio for readability only.
//!
//! Both sides use the same socket (two descriptors of it), so RTP leaves from the port the
//! peer sends to (symmetric RTP, RFC 4961). Not here: what is sent or received.

use std::io;
use std::net::{IpAddr, SocketAddr, UdpSocket};

use tokio::io::unix::AsyncFd;

use crate::runtime::sys;

/// A party's RTP and RTCP sockets.
pub(crate) struct Sockets {
    pub rtp: UdpSocket,
    pub rtcp: UdpSocket,
}

impl Sockets {
    /// Binds `port` for RTP and the port above it for RTCP on `ip`. On failure, the port that
    /// could not be bound.
    pub fn bind(ip: IpAddr, port: u16) -> Result<Sockets, (io::Error, u16)> {
        let rtp = bind(ip, port)?;
        let rtcp = bind(ip, port.wrapping_add(1))?;
        Ok(Sockets { rtp, rtcp })
    }

    /// The RTP port.
    pub fn port(&self) -> u16 {
        self.rtp.local_addr().map(|a| a.port()).unwrap_or(0)
    }

    /// Send-side duplicates (the same non-blocking sockets, other descriptors) for the shard.
    pub fn try_clone(&self) -> io::Result<Sockets> {
        Ok(Sockets {
            rtp: self.rtp.try_clone()?,
            rtcp: self.rtcp.try_clone()?,
        })
    }

    /// The receive side of both sockets.
    pub fn into_receivers(self) -> io::Result<(RecvSocket, RecvSocket)> {
        Ok((RecvSocket::new(self.rtp)?, RecvSocket::new(self.rtcp)?))
    }
}

fn bind(ip: IpAddr, port: u16) -> Result<UdpSocket, (io::Error, u16)> {
    let socket = UdpSocket::bind(SocketAddr::new(ip, port)).map_err(|e| (e, port))?;
    socket.set_nonblocking(true).map_err(|e| (e, port))?;
    Ok(socket)
}

/// A media socket as the receive task sees it: registered with the reactor for readability
/// only. The shard sends on a duplicate of the same socket, and every send frees buffer space,
/// which the kernel reports as an EPOLLOUT edge to whoever registered for it. Tokio's own
/// `UdpSocket` always registers for writability too, so each of the shard's 50,000 packets a
/// second per 1,000 calls would wake a runtime worker for nothing; here the epoll callback
/// filters those edges out before any wake-up.
pub(crate) struct RecvSocket(AsyncFd<UdpSocket>);

impl RecvSocket {
    /// Must be called inside a tokio runtime; `socket` must be non-blocking.
    fn new(socket: UdpSocket) -> io::Result<RecvSocket> {
        sys::register_readable(socket).map(RecvSocket)
    }

    /// Cancel-safe: nothing is read until the socket is readable and `recv_from` succeeds.
    pub async fn recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        loop {
            let mut ready = self.0.readable().await?;
            if let Ok(got) = ready.try_io(|socket| socket.get_ref().recv_from(buf)) {
                return got;
            }
        }
    }
}
