//! RTP ports that are bound when the core reserves them ([`MediaPorts`]): a port is only
//! advertised in SDP once holdline holds its RTP and RTCP sockets, and a port some other
//! process holds is skipped instead of failing the call later.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::sync::{Arc, Mutex, MutexGuard};

use crate::b2bua::ports::{MediaPorts, PortPool};

/// Sockets bound for reserved ports, waiting for the media plane to take them.
#[derive(Clone, Default)]
pub struct Stash(Arc<Mutex<HashMap<u16, (UdpSocket, UdpSocket)>>>);

impl Stash {
    fn lock(&self) -> MutexGuard<'_, HashMap<u16, (UdpSocket, UdpSocket)>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The RTP and RTCP sockets of `port`, if it was reserved and not taken yet.
    pub fn take(&self, port: u16) -> Option<(UdpSocket, UdpSocket)> {
        self.lock().remove(&port)
    }
}

/// The pool over `[rtp] ports`, binding as it reserves.
pub struct BoundPorts {
    pool: PortPool,
    ip: IpAddr,
    stash: Stash,
}

impl BoundPorts {
    /// The rotation through the range starts at a random port (OS randomness lives here).
    pub fn new(min: u16, max: u16, ip: IpAddr, stash: Stash) -> BoundPorts {
        let start = min.saturating_add(rand::random::<u16>() % max.saturating_sub(min).max(1));
        BoundPorts {
            pool: PortPool::new(min, max).starting_at(start),
            ip,
            stash,
        }
    }
}

/// How many ports to try before giving up on one reservation: enough to step over ports
/// other processes hold, bounded so a full range answers at once.
const ATTEMPTS: usize = 64;

impl MediaPorts for BoundPorts {
    fn reserve(&mut self) -> Option<u16> {
        let mut busy = Vec::new();
        let mut found = None;
        for _ in 0..ATTEMPTS {
            let Some(port) = self.pool.allocate() else {
                break;
            };
            match bind_pair(self.ip, port) {
                Ok(pair) => {
                    self.stash.lock().insert(port, pair);
                    found = Some(port);
                    break;
                }
                Err(err) => {
                    tracing::debug!(port, %err, "RTP port taken by someone else; skipping");
                    busy.push(port);
                }
            }
        }
        // Ports held elsewhere go back to the pool: they may be free next time round.
        for port in busy {
            self.pool.release(port);
        }
        found
    }

    fn release(&mut self, port: u16) {
        // Sockets the media plane never took (the call was refused or cancelled) close here.
        drop(self.stash.take(port));
        self.pool.release(port);
    }

    fn in_use(&self) -> usize {
        self.pool.in_use()
    }
}

fn bind_pair(ip: IpAddr, port: u16) -> std::io::Result<(UdpSocket, UdpSocket)> {
    let rtp = UdpSocket::bind(SocketAddr::new(ip, port))?;
    let rtcp = UdpSocket::bind(SocketAddr::new(ip, port.wrapping_add(1)))?;
    rtp.set_nonblocking(true)?;
    rtcp.set_nonblocking(true)?;
    Ok((rtp, rtcp))
}
