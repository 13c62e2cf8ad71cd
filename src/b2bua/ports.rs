//! The RTP port pool: one even RTP port (and the odd RTCP port above it, RFC 3550 §11) per
//! call from the configured range, returned on hang-up.
//!
//! Pure bookkeeping: the runtime binds the sockets. A port handed out is never handed out again
//! until it is released, and a release of a port that is not in use is ignored, so a double
//! hang-up cannot corrupt the pool.

use std::collections::BTreeSet;

/// Where a call's RTP port comes from. The core asks for a port before it writes it into an
/// SDP body; the runtime's implementation binds the RTP and RTCP sockets right then, so every
/// port holdline advertises is really its own (another process may hold part of the range).
pub trait MediaPorts: Send {
    /// An even RTP port (RTCP on the next one), or `None` when none is free.
    fn reserve(&mut self) -> Option<u16>;
    /// The port is free again.
    fn release(&mut self, port: u16);
    /// Ports reserved now.
    fn in_use(&self) -> usize;
}

impl MediaPorts for PortPool {
    fn reserve(&mut self) -> Option<u16> {
        self.allocate()
    }

    fn release(&mut self, port: u16) {
        PortPool::release(self, port);
    }

    fn in_use(&self) -> usize {
        PortPool::in_use(self)
    }
}

/// Free and used RTP ports.
#[derive(Debug)]
pub struct PortPool {
    free: BTreeSet<u16>,
    used: BTreeSet<u16>,
    /// Where the next search starts: rotating through the range delays reuse of a port that was
    /// just released, so late packets of an old call do not land in a new one.
    cursor: u16,
}

impl PortPool {
    /// A pool of the even ports in `min..=max` whose RTCP port (`p + 1`) is also in range.
    pub fn new(min: u16, max: u16) -> PortPool {
        let start = min + (min % 2);
        let free = (start..max)
            .step_by(2)
            .filter(|p| p.checked_add(1).is_some_and(|r| r <= max))
            .collect();
        PortPool {
            free,
            used: BTreeSet::new(),
            cursor: start,
        }
    }

    /// Starts the rotation at `port` instead of the bottom of the range, so servers that
    /// share a range (several instances, tests side by side) do not all probe the same ports
    /// first, and a restarted server does not reuse the ports of the calls it just dropped.
    pub fn starting_at(mut self, port: u16) -> PortPool {
        self.cursor = port.saturating_add(1) & !1;
        self
    }

    /// An RTP port, or `None` when every port is in use.
    pub fn allocate(&mut self) -> Option<u16> {
        let port = self
            .free
            .range(self.cursor..)
            .next()
            .or_else(|| self.free.iter().next())
            .copied()?;
        self.free.remove(&port);
        self.used.insert(port);
        self.cursor = port.saturating_add(2);
        Some(port)
    }

    /// Returns `port` to the pool.
    pub fn release(&mut self, port: u16) {
        if self.used.remove(&port) {
            self.free.insert(port);
        }
    }

    pub fn in_use(&self) -> usize {
        self.used.len()
    }

    pub fn available(&self) -> usize {
        self.free.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rotation_can_start_anywhere_and_wraps() {
        let mut pool = PortPool::new(20000, 20009).starting_at(20005);
        assert_eq!(pool.allocate(), Some(20006));
        assert_eq!(pool.allocate(), Some(20008));
        assert_eq!(pool.allocate(), Some(20000), "wraps to the bottom");
    }

    #[test]
    fn allocates_even_ports_with_rtcp_in_range() {
        let mut pool = PortPool::new(20001, 20006);
        assert_eq!(pool.available(), 2); // 20002/3 and 20004/5
        assert_eq!(pool.allocate(), Some(20002));
        assert_eq!(pool.allocate(), Some(20004));
        assert_eq!(pool.allocate(), None);
    }

    #[test]
    fn released_ports_return_once_and_rotate() {
        let mut pool = PortPool::new(20000, 20009);
        let a = pool.allocate().unwrap();
        pool.release(a);
        pool.release(a);
        assert_eq!(pool.available(), 5);
        // The next allocation moves on instead of reusing the port just released.
        assert_ne!(pool.allocate(), Some(a));
        assert_eq!(pool.in_use(), 1);
    }
}
