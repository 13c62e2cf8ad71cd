//! The IO edge of the load tool: the SIP socket, the RTP sockets and their receiver tasks, the
//! clock, and process sampling. It feeds datagrams and timeouts into the sans-IO [`Call`]s and
//! sends what they queue.
//!
//! One task runs every call's signalling: it owns the single SIP socket, demultiplexes by
//! Call-ID, and keeps one timer heap for all calls (lazy deletion: a popped entry that is no
//! longer the call's deadline is skipped). Each call binds an even/odd RTP/RTCP port pair; a
//! tokio task per call reads the RTP port, and every packet is timed by the kernel's receive
//! timestamp (`SO_TIMESTAMPNS`, [`super::rx_time`]), so a task that reads late does not skew the
//! inter-arrival figures; where the kernel gives none, by the time it was read. The RTCP port is
//! bound only so nothing sent there bounces as ICMP.
//!
//! All SIP goes to the server's address (it is the only hop on loopback); requests for unknown
//! Call-IDs get 481 (RFC 3261 §12.2.2).
#![allow(clippy::disallowed_methods)] // The IO edge of holdline-bench: it reads the clock.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::net::{IpAddr, SocketAddr, UdpSocket as StdUdpSocket};
use std::sync::Arc;
use std::time::Duration;

use socket2::{Domain, Protocol, Socket, Type};
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::messages::{self, CallIds, Offer};
use crate::procstat;
use crate::report::{setup_summary, CallSummary, ProcessSummary, Report, RunSettings, Sample};
use crate::rtp_send::{self, SendCommand, SendTotals};
use crate::rtp_stats::{RtpStats, RtpTotals};
use crate::uac::{Call, CallEvent, CallSettings, SipCounters};
use crate::{BenchError, Options};
use holdline::sip::message::Message;
use holdline::sip::method::Method;
use holdline::sip::parse::{parse_datagram, Limits};
use holdline::sip::sdp::Codec;
use holdline::time::Time;

/// Extra time after the last call should have ended before the run gives up on stragglers.
const GRACE: Duration = Duration::from_secs(5);
/// Socket buffers for the SIP socket: bursts of thousands of responses must not be dropped.
const SIP_BUFFER_BYTES: usize = 8 * 1024 * 1024;

struct Leg {
    call: Call,
    /// The deadline currently in the heap for this call.
    scheduled: Option<Time>,
    answered: bool,
    rtp: Option<RtpTask>,
    /// The call's RTP socket, shared with its receiver; `--send-rtp` sends from it.
    rtp_socket: Option<Arc<UdpSocket>>,
}

struct RtpTask {
    stop: Option<oneshot::Sender<()>>,
    handle: JoinHandle<RtpStats>,
}

struct Driver<'a> {
    options: &'a Options,
    epoch: Instant,
    sip: UdpSocket,
    legs: Vec<Leg>,
    by_call_id: HashMap<String, usize>,
    timers: BinaryHeap<Reverse<(Time, usize)>>,
    ports: PortAllocator,
    settings: CallSettings,
    local: SocketAddr,
    nonce: u64,
    active: u64,
    peak: u64,
    finished: u64,
    setups: Vec<Duration>,
    unmatched: u64,
    sender: Option<(mpsc::UnboundedSender<SendCommand>, JoinHandle<SendTotals>)>,
}

pub async fn run(o: &Options) -> Result<Report, BenchError> {
    let local_ip = o.local_ip.unwrap_or(o.server.ip());
    let sip = bind_sip(SocketAddr::new(local_ip, 0))?;
    let local = sip.local_addr().map_err(|source| BenchError::Bind {
        what: "the SIP socket",
        addr: SocketAddr::new(local_ip, 0),
        source,
    })?;
    let nonce: u64 = rand::random();
    let mut d = Driver {
        options: o,
        epoch: Instant::now(),
        sip,
        legs: Vec::with_capacity(usize::try_from(o.calls).unwrap_or(0).min(1 << 20)),
        by_call_id: HashMap::new(),
        timers: BinaryHeap::new(),
        ports: PortAllocator::new(local_ip, o.rtp_ports),
        settings: CallSettings {
            t1: o.t1,
            t2: Duration::from_secs(4).max(o.t1),
            setup_timeout: o.setup_timeout,
            hold: o.duration,
            nonce,
        },
        local,
        nonce,
        active: 0,
        peak: 0,
        finished: 0,
        setups: Vec::new(),
        unmatched: 0,
        sender: o.send_rtp.then(|| {
            let (tx, rx) = mpsc::unbounded_channel();
            let ptime = Duration::from_millis(u64::from(o.ptime_ms));
            (tx, tokio::spawn(rtp_send::pace(rx, ptime)))
        }),
    };
    let result = d.run_loop().await;
    // Whatever happened, stop every receiver so no task outlives the run.
    let (server_samples, tool_samples, wall) = match result {
        Ok(v) => v,
        Err(e) => {
            if let Some((_, handle)) = d.sender.take() {
                handle.abort();
            }
            for leg in &mut d.legs {
                if let Some(rtp) = leg.rtp.take() {
                    rtp.handle.abort();
                }
            }
            return Err(e);
        }
    };
    d.report(server_samples, tool_samples, wall).await
}

impl Driver<'_> {
    fn now(&self) -> Time {
        Time::from_epoch(self.epoch.elapsed())
    }

    fn start_time(&self, index: u64) -> Time {
        Time::from_epoch(Duration::from_secs_f64(index as f64 / self.options.rate))
    }

    fn sample(&self, at: Time, server: &mut Vec<Sample>, tool: &mut Vec<Sample>) {
        let push = |samples: &mut Vec<Sample>, pid: &str| {
            if let Some(process) = procstat::sample(pid) {
                samples.push(Sample {
                    at: at.since_epoch(),
                    active_calls: self.active,
                    process,
                });
            }
        };
        if let Some(pid) = self.options.server_pid {
            push(server, &pid.to_string());
        }
        push(tool, "self");
    }

    #[allow(clippy::type_complexity)] // (server, tool samples, elapsed) for its one caller
    async fn run_loop(&mut self) -> Result<(Vec<Sample>, Vec<Sample>, Duration), BenchError> {
        let o = self.options;
        let (mut server_samples, mut tool_samples) = (Vec::new(), Vec::new());
        self.sample(Time::ZERO, &mut server_samples, &mut tool_samples);
        let mut next_sample = Time::ZERO + o.sample_interval;
        let last_start = self.start_time(o.calls.saturating_sub(1));
        let hard_stop = last_start + o.setup_timeout + o.duration + o.t1 * 64 + GRACE;
        let mut started = 0u64;
        let mut buf = vec![0u8; 65_536];
        while self.finished < o.calls {
            let next_start = (started < o.calls).then(|| self.start_time(started));
            let next_timer = self.timers.peek().map(|r| r.0 .0);
            let wake = [next_start, next_timer, Some(next_sample), Some(hard_stop)]
                .into_iter()
                .flatten()
                .min()
                .unwrap_or(hard_stop);
            tokio::select! {
                r = self.sip.recv_from(&mut buf) => {
                    let (n, _) = r.map_err(|source| BenchError::Receive { source })?;
                    self.on_datagram(&buf[..n]).await?;
                    // Drain what else is queued before looking at timers again.
                    while let Ok((n, _)) = self.sip.try_recv_from(&mut buf) {
                        self.on_datagram(&buf[..n]).await?;
                    }
                }
                _ = tokio::time::sleep_until(self.epoch + wake.since_epoch()) => {}
            }
            let now = self.now();
            while started < o.calls && self.start_time(started) <= now {
                self.start_call(started, now).await?;
                started += 1;
            }
            while let Some(&Reverse((t, i))) = self.timers.peek() {
                if t > now {
                    break;
                }
                self.timers.pop();
                if self.legs[i].scheduled == Some(t) {
                    self.legs[i].scheduled = None;
                    self.legs[i].call.handle_timeout(now);
                    self.service(i).await?;
                }
            }
            if now >= next_sample {
                self.sample(now, &mut server_samples, &mut tool_samples);
                next_sample += o.sample_interval;
            }
            if now >= hard_stop {
                break;
            }
        }
        for i in 0..self.legs.len() {
            self.legs[i].call.abort();
            self.service(i).await?;
        }
        let end = self.now();
        self.sample(end, &mut server_samples, &mut tool_samples);
        Ok((server_samples, tool_samples, end.since_epoch()))
    }

    async fn start_call(&mut self, index: u64, now: Time) -> Result<(), BenchError> {
        let o = self.options;
        let (rtp, rtcp) = self.ports.bind_pair()?;
        let rtp_addr = rtp.local_addr().map_err(|source| BenchError::Bind {
            what: "an RTP socket",
            addr: SocketAddr::new(self.ports.ip, 0),
            source,
        })?;
        let ids = CallIds {
            call_id: format!("{:x}-{index}@holdline-bench", self.nonce),
            from_tag: format!("hb{index:x}"),
            local: self.local,
            number: usize::try_from(index)
                .ok()
                .and_then(|i| o.numbers.get(i % o.numbers.len().max(1)))
                .cloned()
                .unwrap_or_default(),
            server: o.server,
        };
        let offer = Offer {
            rtp: rtp_addr,
            codec: o.codec,
            ptime_ms: o.ptime_ms,
            session_version: 1,
        };
        let call = Call::start(index, ids, offer, self.settings, now)?;
        let socket = Arc::new(UdpSocket::from_std(rtp).map_err(|source| BenchError::Bind {
            what: "an RTP socket",
            addr: rtp_addr,
            source,
        })?);
        let (stop, stopped) = oneshot::channel();
        let handle = tokio::spawn(receive_rtp(
            socket.clone(),
            rtcp,
            self.epoch,
            u64::from(o.ptime_ms) * 1000,
            stopped,
        ));
        let i = self.legs.len();
        self.by_call_id.insert(call.call_id().to_owned(), i);
        self.legs.push(Leg {
            call,
            scheduled: None,
            answered: false,
            rtp: Some(RtpTask {
                stop: Some(stop),
                handle,
            }),
            rtp_socket: Some(socket),
        });
        self.service(i).await
    }

    async fn on_datagram(&mut self, bytes: &[u8]) -> Result<(), BenchError> {
        // Keep-alives (RFC 5626 §4.4.1 CRLF) and garbage are not ours to answer.
        let Ok(msg) = parse_datagram(bytes, &Limits::default()) else {
            self.unmatched += 1;
            return Ok(());
        };
        let leg = msg
            .headers()
            .call_id()
            .and_then(|id| self.by_call_id.get(id))
            .copied();
        match (leg, msg) {
            (Some(i), msg) => {
                let now = self.now();
                self.legs[i].call.handle_message(msg, now);
                self.service(i).await
            }
            (None, Message::Request(r)) if r.method != Method::Ack => {
                self.unmatched += 1;
                let resp = messages::response_to(&r, 481, "unknown");
                self.send(&resp.to_bytes()).await
            }
            (None, _) => {
                self.unmatched += 1;
                Ok(())
            }
        }
    }

    /// Sends what call `i` queued, acts on its events and re-arms its timer.
    async fn service(&mut self, i: usize) -> Result<(), BenchError> {
        while let Some(bytes) = self.legs[i].call.poll_transmit() {
            self.send(&bytes).await?;
        }
        while let Some(event) = self.legs[i].call.poll_event() {
            match event {
                CallEvent::Answered { setup, answer } => {
                    self.legs[i].answered = true;
                    let target = answer.and_then(|a| Some((a.rtp?, a.payload_type.unwrap_or(0))));
                    if let (Some((tx, _)), Some((to, payload_type)), Some(socket)) =
                        (&self.sender, target, &self.legs[i].rtp_socket)
                    {
                        let _ = tx.send(SendCommand::Start {
                            call: i,
                            socket: socket.clone(),
                            to,
                            payload_type,
                        });
                    }
                    self.setups.push(setup);
                    self.active += 1;
                    self.peak = self.peak.max(self.active);
                }
                CallEvent::Finished(_) => {
                    if self.legs[i].answered {
                        self.active -= 1;
                    }
                    self.finished += 1;
                    self.legs[i].rtp_socket = None;
                    if let Some((tx, _)) = &self.sender {
                        let _ = tx.send(SendCommand::Stop { call: i });
                    }
                    if let Some(stop) = self.legs[i].rtp.as_mut().and_then(|r| r.stop.take()) {
                        let _ = stop.send(());
                    }
                }
            }
        }
        let leg = &mut self.legs[i];
        let next = leg.call.poll_timeout();
        if next != leg.scheduled {
            leg.scheduled = next;
            if let Some(t) = next {
                self.timers.push(Reverse((t, i)));
            }
        }
        Ok(())
    }

    async fn send(&self, bytes: &[u8]) -> Result<(), BenchError> {
        let to = self.options.server;
        self.sip
            .send_to(bytes, to)
            .await
            .map(|_| ())
            .map_err(|source| BenchError::Send { to, source })
    }

    async fn report(
        &mut self,
        server_samples: Vec<Sample>,
        tool_samples: Vec<Sample>,
        wall: Duration,
    ) -> Result<Report, BenchError> {
        let o = self.options;
        let mut calls = CallSummary::default();
        let mut sip = SipCounters::default();
        let mut rtp = RtpTotals::default();
        for leg in &mut self.legs {
            if let Some(outcome) = leg.call.outcome() {
                calls.count(outcome);
            }
            sip.add(&leg.call.counters);
            if let Some(mut task) = leg.rtp.take() {
                if let Some(stop) = task.stop.take() {
                    let _ = stop.send(());
                }
                if let Ok(stats) = task.handle.await {
                    rtp.add(&stats);
                }
            }
        }
        calls.peak_concurrent = self.peak;
        let rtp_sent = match self.sender.take() {
            Some((tx, handle)) => {
                drop(tx);
                handle.await.ok()
            }
            None => None,
        };
        let peak = self.peak;
        Ok(Report {
            settings: RunSettings {
                server: o.server.to_string(),
                number: o.numbers.join(","),
                calls: o.calls,
                rate: o.rate,
                duration_s: o.duration.as_secs_f64(),
                codec: match o.codec {
                    Codec::Pcmu => "PCMU".into(),
                    Codec::Pcma => "PCMA".into(),
                },
                ptime_ms: o.ptime_ms,
            },
            wall_seconds: wall.as_secs_f64(),
            calls,
            setup_latency: setup_summary(self.setups.iter().copied()),
            sip,
            sip_unmatched: self.unmatched,
            rtp: rtp.summary(),
            rtp_sent,
            server: ProcessSummary::from_samples(&server_samples, peak),
            tool: ProcessSummary::from_samples(&tool_samples, peak),
        })
    }
}

/// Reads one call's RTP until told to stop; every packet is timed by the kernel's receive
/// stamp (µs since the run's epoch), or by when it was read when there is none.
async fn receive_rtp(
    socket: Arc<UdpSocket>,
    _rtcp: StdUdpSocket,
    epoch: Instant,
    ptime_us: u64,
    mut stop: oneshot::Receiver<()>,
) -> RtpStats {
    use std::os::fd::AsRawFd;
    let mut stats = RtpStats::new(ptime_us);
    let mut buf = [0u8; 2048];
    let fd = socket.as_raw_fd();
    loop {
        tokio::select! {
            biased;
            _ = &mut stop => break,
            ready = socket.readable() => {
                if ready.is_err() {
                    break;
                }
                // Everything queued, then wait again (try_io clears readiness on WouldBlock).
                while let Ok((n, stamp)) =
                    socket.try_io(tokio::io::Interest::READABLE, || super::rx_time::recv(fd, &mut buf))
                {
                    // The stamp is wall-clock time; how long ago it was, taken off the
                    // monotonic read time, puts it on the run's time line (a clock step
                    // between two packets cannot skew their interval).
                    let read_us = u64::try_from(epoch.elapsed().as_micros()).unwrap_or(u64::MAX);
                    let at = match stamp {
                        Some(ns) => read_us.saturating_sub(wall_ns().saturating_sub(ns) / 1000),
                        None => read_us,
                    };
                    stats.on_datagram(at, &buf[..n]);
                }
            }
        }
    }
    stats
}

/// The wall clock now, in ns since the Unix epoch.
fn wall_ns() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

fn bind_sip(addr: SocketAddr) -> Result<UdpSocket, BenchError> {
    let err = |source| BenchError::Bind {
        what: "the SIP socket",
        addr,
        source,
    };
    let socket =
        Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP)).map_err(err)?;
    // Best effort: the kernel caps these at net.core.[rw]mem_max.
    let _ = socket.set_recv_buffer_size(SIP_BUFFER_BYTES);
    let _ = socket.set_send_buffer_size(SIP_BUFFER_BYTES);
    socket.set_nonblocking(true).map_err(err)?;
    socket.bind(&addr.into()).map_err(err)?;
    UdpSocket::from_std(socket.into()).map_err(err)
}

/// Hands out even/odd RTP/RTCP port pairs from a range, round-robin, skipping ports in use.
struct PortAllocator {
    ip: IpAddr,
    first: u16,
    last: u16,
    next: u16,
}

impl PortAllocator {
    fn new(ip: IpAddr, (first, last): (u16, u16)) -> PortAllocator {
        let first = first.saturating_add(first % 2).max(2);
        PortAllocator {
            ip,
            first,
            last,
            next: first,
        }
    }

    fn bind_pair(&mut self) -> Result<(StdUdpSocket, StdUdpSocket), BenchError> {
        let pairs = (u32::from(self.last) + 1).saturating_sub(u32::from(self.first)) / 2;
        for _ in 0..pairs.max(1) {
            let port = self.next;
            self.next = if u32::from(port) + 3 > u32::from(self.last) {
                self.first
            } else {
                port + 2
            };
            if u32::from(port) + 1 > u32::from(self.last) {
                continue;
            }
            let Ok(rtp) = StdUdpSocket::bind((self.ip, port)) else {
                continue;
            };
            let Ok(rtcp) = StdUdpSocket::bind((self.ip, port + 1)) else {
                continue;
            };
            if rtp.set_nonblocking(true).is_ok() {
                // Without stamps the packets are timed when read (less exact, still counted).
                let _ = super::rx_time::enable(&rtp);
                return Ok((rtp, rtcp));
            }
        }
        Err(BenchError::RtpPortsExhausted {
            ip: self.ip,
            first: self.first,
            last: self.last,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_pairs_are_even_and_skip_ports_in_use() {
        let ip: IpAddr = [127, 0, 0, 1].into();
        // Find a free even port pair to start from, then occupy its RTP port.
        let probe = StdUdpSocket::bind((ip, 0)).unwrap();
        let base = probe.local_addr().unwrap().port() & !1;
        drop(probe);
        let blocker = StdUdpSocket::bind((ip, base));
        let mut ports = PortAllocator::new(ip, (base, base.saturating_add(9)));
        let (rtp, rtcp) = ports.bind_pair().unwrap();
        let p = rtp.local_addr().unwrap().port();
        assert_eq!(p % 2, 0);
        assert_eq!(rtcp.local_addr().unwrap().port(), p + 1);
        if blocker.is_ok() {
            assert_ne!(p, base);
        }
    }

    #[tokio::test]
    async fn receiver_counts_every_packet_until_stopped() {
        let ip: IpAddr = [127, 0, 0, 1].into();
        let rtp = StdUdpSocket::bind((ip, 0)).unwrap();
        rtp.set_nonblocking(true).unwrap();
        let to = rtp.local_addr().unwrap();
        let rtcp = StdUdpSocket::bind((ip, 0)).unwrap();
        let (stop, stopped) = oneshot::channel();
        let task = tokio::spawn(receive_rtp(
            Arc::new(UdpSocket::from_std(rtp).unwrap()),
            rtcp,
            Instant::now(),
            20_000,
            stopped,
        ));
        let sender = StdUdpSocket::bind((ip, 0)).unwrap();
        for n in 0..50u16 {
            let mut p = vec![0x80, 8];
            p.extend_from_slice(&n.to_be_bytes());
            p.extend_from_slice(&(u32::from(n) * 160).to_be_bytes());
            p.extend_from_slice(&[0, 0, 0, 9]);
            p.extend_from_slice(&[0xd5; 160]);
            sender.send_to(&p, to).unwrap();
        }
        sender.send_to(b"not rtp", to).unwrap();
        tokio::time::sleep(Duration::from_millis(300)).await;
        let _ = stop.send(());
        let stats = task.await.unwrap();
        let c = stats.counters();
        assert_eq!(
            (c.received, c.expected, c.lost(), c.malformed),
            (50, 50, 0, 1)
        );
        assert_eq!(stats.payload_types.get(&8), Some(&50));
        assert_eq!(stats.inter_arrival.count(), 49);
    }

    #[test]
    fn exhausted_range_is_an_error_not_a_loop() {
        let ip: IpAddr = [127, 0, 0, 1].into();
        let probe = StdUdpSocket::bind((ip, 0)).unwrap();
        let base = probe.local_addr().unwrap().port() & !1;
        drop(probe);
        let mut ports = PortAllocator::new(ip, (base, base + 1));
        let held = ports.bind_pair();
        if held.is_ok() {
            assert!(matches!(
                ports.bind_pair(),
                Err(BenchError::RtpPortsExhausted { .. })
            ));
        }
    }
}
