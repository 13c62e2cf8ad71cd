//! Where SIP bytes come from and go to: the vocabulary shared by the sans-IO cores and the
//! runtime's sockets. No socket lives here.

use std::fmt;
use std::net::SocketAddr;

/// A SIP transport protocol (RFC 3261 §18).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Transport {
    Udp,
    Tcp,
    Tls,
}

impl Transport {
    /// The token used in Via (`SIP/2.0/UDP`).
    pub fn as_via_str(self) -> &'static str {
        match self {
            Transport::Udp => "UDP",
            Transport::Tcp => "TCP",
            Transport::Tls => "TLS",
        }
    }

    /// Whether the transport is reliable: no retransmissions over it (RFC 3261 §17.1.1.2).
    pub fn is_reliable(self) -> bool {
        !matches!(self, Transport::Udp)
    }

    /// Parses a Via transport token, case-insensitively.
    pub fn from_via_token(token: &str) -> Option<Transport> {
        if token.eq_ignore_ascii_case("UDP") {
            Some(Transport::Udp)
        } else if token.eq_ignore_ascii_case("TCP") {
            Some(Transport::Tcp)
        } else if token.eq_ignore_ascii_case("TLS") {
            Some(Transport::Tls)
        } else {
            None
        }
    }
}

impl fmt::Display for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_via_str())
    }
}

/// Identifies one accepted or opened stream connection in the runtime.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnId(pub u64);

/// The far end of a flow: where a message came from, or where to send one.
///
/// For stream transports `conn` names the connection it arrived on, so a response goes back on
/// the same connection (RFC 3261 §18.2.2); the runtime opens a new one when it is gone.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Peer {
    pub transport: Transport,
    pub addr: SocketAddr,
    pub conn: Option<ConnId>,
}

impl Peer {
    pub fn udp(addr: SocketAddr) -> Peer {
        Peer {
            transport: Transport::Udp,
            addr,
            conn: None,
        }
    }
}

/// Bytes to send to a peer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transmit {
    pub to: Peer,
    pub bytes: Vec<u8>,
}
