//! Binding the SIP listeners. A listen address with port 0 gets an ephemeral port; when UDP and
//! TCP listen on the same IP with port 0, they get the same port (tests and `holdline serve`
//! then advertise one port for both, as SIP expects of a server, RFC 3261 §18.2.1).

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::{TcpListener, UdpSocket};

use crate::config::Listen;
use crate::sip::transport::Transport;

/// Bound listeners.
pub struct Listeners {
    pub udp: Vec<Arc<UdpSocket>>,
    pub tcp: Vec<TcpListener>,
    /// TCP listeners that speak TLS (the handshake is the stream transport's).
    pub tls: Vec<TcpListener>,
}

impl Listeners {
    /// (transport, bound address) of every listener.
    pub fn addresses(&self) -> Vec<(Transport, SocketAddr)> {
        let udp = self
            .udp
            .iter()
            .filter_map(|s| s.local_addr().ok())
            .map(|a| (Transport::Udp, a));
        let tcp = self
            .tcp
            .iter()
            .filter_map(|s| s.local_addr().ok())
            .map(|a| (Transport::Tcp, a));
        let tls = self
            .tls
            .iter()
            .filter_map(|s| s.local_addr().ok())
            .map(|a| (Transport::Tls, a));
        udp.chain(tcp).chain(tls).collect()
    }
}

/// Binds every configured listener.
pub async fn bind_listeners(listen: &[Listen]) -> std::io::Result<Listeners> {
    const ATTEMPTS: usize = 20;
    let mut last_err = None;
    for _ in 0..ATTEMPTS {
        match try_bind(listen).await {
            Ok(l) => return Ok(l),
            // Another process took the port we picked for the second transport: pick again.
            Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => last_err = Some(e),
            Err(e) => return Err(e),
        }
    }
    Err(last_err.unwrap_or_else(|| std::io::Error::other("could not bind listeners")))
}

async fn try_bind(listen: &[Listen]) -> std::io::Result<Listeners> {
    let mut udp = Vec::new();
    let mut tcp = Vec::new();
    let mut tls = Vec::new();
    // Ports chosen for port-0 listeners, per IP, so UDP and TCP share one.
    let mut chosen: Vec<(std::net::IpAddr, u16)> = Vec::new();
    for l in listen {
        let mut addr = l.addr;
        // A TLS listener with port 0 gets its own port: TCP has the shared one.
        if addr.port() == 0 && l.transport != Transport::Tls {
            if let Some((_, p)) = chosen.iter().find(|(ip, _)| *ip == addr.ip()) {
                addr.set_port(*p);
            }
        }
        let bound = match l.transport {
            Transport::Udp => {
                let s = UdpSocket::bind(addr).await?;
                let a = s.local_addr()?;
                udp.push(Arc::new(s));
                a
            }
            Transport::Tcp => {
                let s = TcpListener::bind(addr).await?;
                let a = s.local_addr()?;
                tcp.push(s);
                a
            }
            Transport::Tls => {
                let s = TcpListener::bind(addr).await?;
                tls.push(s);
                continue;
            }
        };
        if l.addr.port() == 0 && !chosen.iter().any(|(ip, _)| *ip == bound.ip()) {
            chosen.push((bound.ip(), bound.port()));
        }
    }
    Ok(Listeners { udp, tcp, tls })
}
