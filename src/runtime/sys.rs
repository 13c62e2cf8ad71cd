//! The server's only `unsafe` code: the few OS calls that std and tokio offer no safe form of,
//! each wrapped in a safe function with the invariant it relies on written at the block.
//!
//! - [`register_readable`]: a media socket registered with tokio's reactor for readability
//!   only (`AsyncFd::register_with_interest` is `unsafe`: tokio cannot check that the
//!   descriptor stays open while registered).
//! - [`raise_thread_priority`]: `SCHED_FIFO` for a pacer thread (`sched_setscheduler(2)`).
//! - [`try_lock_exclusive`]: `flock(2)` on the store's lock file (std's `File::try_lock` is
//!   newer than the crate's minimum Rust version).
//! - [`raise_nofile_limit`]: `RLIMIT_NOFILE` raised to its hard limit (`getrlimit(2)`,
//!   `setrlimit(2)`), so the descriptor budget the connection caps are derived from is the
//!   largest the process may have.
//! - [`release_free_memory`]: glibc's `malloc_trim(3)`, so the heap a connection flood grew is
//!   given back to the OS once the flood's connections have closed.
//!
//! Everything else in the server is safe code: `unsafe_code` is denied crate-wide and allowed
//! here (in the server) alone, so a new `unsafe` block elsewhere fails the build.
#![allow(unsafe_code)] // The audited home of the runtime's OS calls (see above).

use std::io;
use std::net::UdpSocket;

use tokio::io::unix::AsyncFd;
use tokio::io::Interest;

/// Registers `socket` with the current tokio reactor for readability only.
pub(crate) fn register_readable(socket: UdpSocket) -> io::Result<AsyncFd<UdpSocket>> {
    // SAFETY: the AsyncFd takes ownership of the socket, so its descriptor stays open and
    // names the same socket for as long as it is registered, and `as_raw_fd` on a
    // `UdpSocket` always returns that one descriptor.
    unsafe { AsyncFd::register_with_interest(socket, Interest::READABLE) }
        .map_err(|err| err.into_parts().1)
}

/// Puts the calling thread in `SCHED_FIFO` at `priority`. Fails without CAP_SYS_NICE.
#[cfg(target_os = "linux")]
pub(crate) fn raise_thread_priority(priority: libc::c_int) -> io::Result<()> {
    let param = libc::sched_param {
        sched_priority: priority,
    };
    // SAFETY: sched_setscheduler reads `param`, a live local, only during the call; pid 0
    // names the calling thread, so no other thread's state is touched.
    let rc = unsafe { libc::sched_setscheduler(0, libc::SCHED_FIFO, &param) };
    match rc {
        0 => Ok(()),
        _ => Err(io::Error::last_os_error()),
    }
}

#[cfg(not(target_os = "linux"))]
pub(crate) fn raise_thread_priority(_priority: libc::c_int) -> io::Result<()> {
    Err(io::Error::from(io::ErrorKind::Unsupported))
}

/// Takes an exclusive, non-blocking `flock` on `file`; `false` when another process holds it.
/// The lock lasts as long as the file stays open.
#[cfg(unix)]
pub(crate) fn try_lock_exclusive(file: &std::fs::File) -> bool {
    use std::os::fd::AsRawFd;
    // SAFETY: flock takes the descriptor of a file `file` keeps open for the whole call, and
    // plain flags; no memory is passed.
    unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) == 0 }
}

#[cfg(not(unix))]
pub(crate) fn try_lock_exclusive(_file: &std::fs::File) -> bool {
    true
}

/// Raises the soft `RLIMIT_NOFILE` to the hard limit and returns the soft limit in force
/// afterwards (the old one when raising is refused, with the error logged by the caller).
#[cfg(target_os = "linux")]
pub(crate) fn raise_nofile_limit() -> io::Result<NofileLimit> {
    let mut now = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into `now`, a live local, only during the call.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut now) } != 0 {
        return Err(io::Error::last_os_error());
    }
    if now.rlim_cur >= now.rlim_max {
        return Ok(NofileLimit {
            soft: now.rlim_cur,
            hard: now.rlim_max,
            raised: false,
        });
    }
    let raised = libc::rlimit {
        rlim_cur: now.rlim_max,
        rlim_max: now.rlim_max,
    };
    // SAFETY: setrlimit reads `raised`, a live local, only during the call.
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(NofileLimit {
        soft: raised.rlim_cur,
        hard: raised.rlim_max,
        raised: true,
    })
}

#[cfg(not(target_os = "linux"))]
pub(crate) fn raise_nofile_limit() -> io::Result<NofileLimit> {
    Err(io::Error::from(io::ErrorKind::Unsupported))
}

/// The descriptor limit after [`raise_nofile_limit`].
#[derive(Clone, Copy, Debug)]
pub(crate) struct NofileLimit {
    pub soft: u64,
    pub hard: u64,
    /// The soft limit was lower and is now the hard one.
    pub raised: bool,
}

/// Gives free heap memory back to the OS (glibc keeps freed memory in its arenas, so the RSS
/// of thousands of closed connections would otherwise stay). A no-op without glibc.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
pub(crate) fn release_free_memory() {
    // SAFETY: malloc_trim takes a plain integer and only walks glibc's own arenas under their
    // locks; it is safe to call from any thread at any time.
    unsafe {
        libc::malloc_trim(0);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub(crate) fn release_free_memory() {}
