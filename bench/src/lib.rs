//! `holdline-bench`, the load tool: places N concurrent calls over SIP/UDP on loopback at a
//! given rate, receives their RTP, and reports call outcomes, set-up latency, RTP
//! inter-arrival p50/p99/max and deviation from ptime, RFC 3550 jitter and loss, and the CPU and
//! memory of the server (`--server-pid`) and of the tool itself.
//!
//! It speaks SIP with the `holdline` library's message types and parser, so it exercises the same code
//! paths a phone would hit, and it is also a second, independent check of them. One UDP socket
//! carries all signalling (calls are told apart by Call-ID); each call receives RTP on its own
//! socket, read by a tokio task; each packet carries the kernel's receive time
//! (`SO_TIMESTAMPNS`), so the tool's own scheduling does not show in the timings.
//!
//! # Layout
//! - [`histogram`], [`rtp_stats`]: pure statistics (0.1 ms histograms, RFC 3550 A.1/A.3/A.8).
//! - [`messages`], [`uac`]: the SIP requests and a sans-IO UAC per call, on virtual time.
//! - [`report`]: aggregation and the text / JSON output; [`procstat`]: `/proc` readings.
//! - `driver`: the IO edge (sockets, the clock, tasks); `spawn`: starting `holdline serve`.
//! - `rx_time`: kernel receive timestamps.
//! - [`rtp_send`]: `--send-rtp`, callers that send silence back (two-way streams).
//! - [`blast`]: a paced RTP sender standing in for the server's media plane, to calibrate the
//!   receivers.
//! - [`cli`]: the command line of the `holdline-bench` binary.
//!
//! Queue benchmarks with agents use SIPp as the agents' phones beside this tool
//! (`bench/agents.sh`). An agents mode of its own (`--agents N`, a UAS answering the server's
//! INVITEs) would fit the driver's Call-ID demultiplexer and timer heap; [`Mode`] is where it
//! would be chosen.

pub mod blast;
pub mod cli;
mod driver;
pub mod histogram;
pub mod messages;
pub mod procstat;
pub mod report;
pub mod rtp_send;
pub mod rtp_stats;
mod rx_time;
pub mod spawn;
pub mod uac;

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

pub use report::Report;

use holdline::sip::sdp::Codec;

/// What the tool plays. Only callers today; agents (a UAS for queue benchmarks) come later.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Mode {
    /// Place calls to `number` and stay on them.
    #[default]
    Callers,
}

/// Everything a run needs. [`Options::new`] gives the defaults of the command line.
#[derive(Clone, Debug)]
pub struct Options {
    pub mode: Mode,
    /// Where to send SIP; ignored when `spawn` is set.
    pub server: SocketAddr,
    /// The dialled numbers (Request-URI user part); call `i` dials `numbers[i % len]`, so a
    /// run can spread over several queues (each holds at most `max_calls`, 200).
    pub numbers: Vec<String>,
    /// Calls to place. With `duration ≥ calls / rate` they are all up at once.
    pub calls: u64,
    /// New calls per second.
    pub rate: f64,
    /// How long each call stays up after its 2xx.
    pub duration: Duration,
    pub codec: Codec,
    pub ptime_ms: u32,
    /// The server process to sample for CPU and memory.
    pub server_pid: Option<u32>,
    /// Start the server ourselves.
    pub spawn: Option<Spawn>,
    /// Our address for SIP and RTP; by default the server's IP.
    pub local_ip: Option<IpAddr>,
    /// Send RTP (G.711 silence) on every answered call, as a talking caller would.
    pub send_rtp: bool,
    /// RTP ports to bind, as even/odd (RTP/RTCP) pairs: `first..=last`.
    pub rtp_ports: (u16, u16),
    /// RFC 3261 T1.
    pub t1: Duration,
    /// Give up on an unanswered INVITE after this long.
    pub setup_timeout: Duration,
    /// How often the processes are sampled.
    pub sample_interval: Duration,
}

/// Starting `holdline serve --config CONFIG` for the run.
#[derive(Clone, Debug)]
pub struct Spawn {
    pub binary: PathBuf,
    pub config: PathBuf,
}

impl Options {
    pub fn new(server: SocketAddr) -> Options {
        Options {
            mode: Mode::Callers,
            server,
            numbers: vec!["+14255550100".to_owned()],
            calls: 100,
            rate: 10.0,
            duration: Duration::from_secs(30),
            codec: Codec::Pcmu,
            ptime_ms: 20,
            server_pid: None,
            spawn: None,
            local_ip: None,
            send_rtp: false,
            rtp_ports: (30000, 39999),
            t1: Duration::from_millis(500),
            setup_timeout: Duration::from_secs(32),
            sample_interval: Duration::from_secs(1),
        }
    }
}

/// Why a run could not take place (a call that fails is a result, not an error).
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    #[error("invalid option {option}: {reason}")]
    InvalidOption {
        option: &'static str,
        reason: String,
    },
    #[error("cannot bind {what} on {addr}: {source}")]
    Bind {
        what: &'static str,
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("no free RTP port pair in {first}-{last} on {ip}")]
    RtpPortsExhausted { ip: IpAddr, first: u16, last: u16 },
    #[error("cannot send to {to}: {source}")]
    Send {
        to: SocketAddr,
        source: std::io::Error,
    },
    #[error("cannot receive SIP: {source}")]
    Receive { source: std::io::Error },
    #[error("cannot start {binary}: {source}")]
    SpawnFailed {
        binary: PathBuf,
        source: std::io::Error,
    },
    #[error("the spawned server did not print `listening sip udp` and `ready`: {reason}")]
    SpawnNotReady { reason: String },
    #[error("cannot start the async runtime: {source}")]
    Runtime { source: std::io::Error },
    #[error(transparent)]
    BadNumber(#[from] messages::BadNumber),
}

/// Runs the benchmark on a new tokio runtime (two worker threads) and returns its report.
pub fn run(options: Options) -> Result<Report, BenchError> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|source| BenchError::Runtime { source })?;
    runtime.block_on(run_async(options))
}

/// Runs the benchmark on the current tokio runtime.
pub async fn run_async(options: Options) -> Result<Report, BenchError> {
    validate(&options)?;
    match &options.spawn {
        Some(spawn) => {
            let server = spawn::start(spawn)?;
            let mut options = options.clone();
            options.server = server.sip_udp;
            options.server_pid = Some(server.pid);
            driver::run(&options).await
        }
        None => driver::run(&options).await,
    }
}

fn validate(o: &Options) -> Result<(), BenchError> {
    let bad = |option, reason: &str| {
        Err(BenchError::InvalidOption {
            option,
            reason: reason.to_owned(),
        })
    };
    if o.numbers.is_empty() || o.numbers.iter().any(|n| n.is_empty()) {
        return bad("--number", "needs at least one non-empty number");
    }
    if o.calls == 0 {
        return bad("--calls", "must be at least 1");
    }
    if !(o.rate.is_finite() && o.rate > 0.0 && o.rate <= 100_000.0) {
        return bad(
            "--rate",
            "must be a number of calls per second in (0, 100000]",
        );
    }
    if !(10..=120).contains(&o.ptime_ms) || !o.ptime_ms.is_multiple_of(10) {
        return bad("--ptime", "must be 10, 20, … 120 ms");
    }
    if o.rtp_ports.0 > o.rtp_ports.1 || o.rtp_ports.1 < 2 {
        return bad("--rtp-ports", "must be FIRST-LAST with FIRST ≤ LAST");
    }
    if o.t1.is_zero() || o.sample_interval.is_zero() {
        return bad("--t1", "timers must be positive");
    }
    Ok(())
}
