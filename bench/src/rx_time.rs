//! Kernel receive timestamps (`SO_TIMESTAMPNS`, socket(7)): the time the kernel took a datagram
//! off the wire, read with `recvmsg` beside the datagram. Inter-arrival times from these do not
//! include how late the tool's task got to read the socket, which on a small machine shared with
//! the server is most of what a user-space stamp measures.
// Part of the bench's IO edge; its tests wait on real time.
#![allow(clippy::disallowed_methods)]
// The one place of the tool with `unsafe`: setsockopt and recvmsg with its control messages have
// no safe wrapper in std, tokio or socket2 (each block says why it is sound).
#![allow(unsafe_code)]

use std::io;
use std::os::fd::{AsRawFd, RawFd};

/// Asks the kernel to stamp every datagram `socket` receives.
pub fn enable(socket: &impl AsRawFd) -> io::Result<()> {
    let on: libc::c_int = 1;
    // SAFETY: a plain setsockopt on an open descriptor with a correctly sized int option.
    let rc = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_TIMESTAMPNS,
            std::ptr::from_ref(&on).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// One datagram into `buf`, without blocking: its length and, when the socket has
/// [`enable`]d stamps, the kernel's receive time in nanoseconds since the Unix epoch.
pub fn recv(fd: RawFd, buf: &mut [u8]) -> io::Result<(usize, Option<u64>)> {
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    // Room for one SCM_TIMESTAMPNS control message, aligned for cmsghdr.
    let mut control = [0u64; 8];
    // SAFETY: msghdr is plain data; every pointer set below outlives the recvmsg call.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr().cast();
    msg.msg_controllen = std::mem::size_of_val(&control) as _;
    // SAFETY: fd is an open socket; msg points at live buffers of the stated sizes.
    let n = unsafe { libc::recvmsg(fd, &mut msg, libc::MSG_DONTWAIT) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    let mut stamp = None;
    // SAFETY: the CMSG_* macros walk the control buffer the kernel filled, bounded by
    // msg_controllen; the timestamp is read unaligned.
    unsafe {
        let mut c = libc::CMSG_FIRSTHDR(&msg);
        while !c.is_null() {
            if (*c).cmsg_level == libc::SOL_SOCKET && (*c).cmsg_type == libc::SCM_TIMESTAMPNS {
                let ts: libc::timespec = std::ptr::read_unaligned(libc::CMSG_DATA(c).cast());
                stamp = u64::try_from(ts.tv_sec)
                    .ok()
                    .zip(u64::try_from(ts.tv_nsec).ok())
                    .map(|(s, ns)| s * 1_000_000_000 + ns);
            }
            c = libc::CMSG_NXTHDR(&msg, c);
        }
    }
    Ok((n as usize, stamp))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::UdpSocket;
    use std::time::{SystemTime, UNIX_EPOCH};

    #[test]
    fn stamps_are_the_kernels_receive_time() {
        let rx = UdpSocket::bind("127.0.0.1:0").unwrap();
        enable(&rx).unwrap();
        // The kernel switches receive stamping on a moment after the first socket asks
        // (a deferred static key); until then datagrams are stamped when read.
        std::thread::sleep(std::time::Duration::from_millis(100));
        let tx = UdpSocket::bind("127.0.0.1:0").unwrap();
        let before = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
        tx.send_to(b"one", rx.local_addr().unwrap()).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(50));
        let after = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
        let mut buf = [0u8; 16];
        let (n, stamp) = recv(rx.as_raw_fd(), &mut buf).unwrap();
        assert_eq!(&buf[..n], b"one");
        let stamp = stamp.expect("a kernel timestamp");
        // Taken when it arrived, not when it was read 50 ms later.
        assert!(u128::from(stamp) >= before.as_nanos());
        assert!(u128::from(stamp) + 40_000_000 < after.as_nanos());
        // Nothing more to read: WouldBlock, not a wait.
        let err = recv(rx.as_raw_fd(), &mut buf).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::WouldBlock);
    }

    #[test]
    fn without_stamps_enabled_there_is_none() {
        let rx = UdpSocket::bind("127.0.0.1:0").unwrap();
        let tx = UdpSocket::bind("127.0.0.1:0").unwrap();
        tx.send_to(b"two", rx.local_addr().unwrap()).unwrap();
        rx.set_nonblocking(false).unwrap();
        let mut buf = [0u8; 16];
        // Blocking socket, but the datagram is queued already: MSG_DONTWAIT returns it.
        std::thread::sleep(std::time::Duration::from_millis(10));
        assert_eq!(recv(rx.as_raw_fd(), &mut buf).unwrap(), (3, None));
    }
}
