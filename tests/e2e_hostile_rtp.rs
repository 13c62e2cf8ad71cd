//! End-to-end attacks on the media plane, played against the real `holdline` binary on
//! loopback with raw UDP sockets (and SIPp for the real caller and agent):
//!
//! - **RTP bleed**: an attacker sprays RTP (and RTCP) at every port of the (small) RTP range, before
//!   the call and all through it. Strict RTP must give it no packet of anyone's audio, and the
//!   real caller must hear its music and then the agent, and be heard by the agent, as if the
//!   spray were not there; `/metrics` counts what was dropped.
//! - **Reflection**: one INVITE whose `c=` names someone else's address (a socket here that
//!   only counts), sent from another socket and never ACKed, draws at most `[rtp]
//!   unproven_media` seconds of media; and the RTP timeout stops the media the moment it
//!   fires, not when the BYE transaction that follows gives up.
//!
//! Each test has its own server and its own RTP range outside the kernel's ephemeral ports, so
//! they run in parallel with each other and the other end-to-end tests.
#![allow(clippy::disallowed_methods)] // A real process in real time: waiting is the point.

use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use holdline_testkit::{
    assert_sipp_ok, free_port, metric_value, run_sipp_port, AgentPhone, ConfigToml, QueueToml,
    Server,
};

const NUMBER: &str = "+14255550100";
/// What the attacker's packets carry, so they can be recognised wherever they end up.
const ATTACK: u8 = 0x77;

/// A server with the queue "sales" on the service number, RTP in `ports` and `rtp_keys` (more
/// `[rtp]` lines), its one agent `amos` at `amos` (a port), if any.
fn server(ports: &str, rtp_keys: &str, amos: Option<u16>) -> Server {
    let mut config = ConfigToml::loopback(ports).number(NUMBER, "service-toll");
    let mut sales = QueueToml::new("sales")
        .name("UK Sales")
        .numbers(&[NUMBER])
        .set("no_agents", r#"{ action = "queue" }"#);
    if let Some(port) = amos {
        config = config.user("amos", &format!("127.0.0.1:{port}"));
        sales = sales.agents(&["amos"]);
    }
    // The builder writes `[rtp]` with the ports; the keys under test join that table.
    let text = config.queue(sales).to_string().replacen(
        &format!("ports = \"{ports}\"\n"),
        &format!("ports = \"{ports}\"\n{rtp_keys}"),
        1,
    );
    Server::start(&text)
}

/// One RTP packet: PCMU, `seq`, `ssrc`, 160 bytes of `byte`.
fn rtp(seq: u16, ssrc: u32, byte: u8) -> Vec<u8> {
    let mut pkt = vec![0x80, 0];
    pkt.extend(seq.to_be_bytes());
    pkt.extend((u32::from(seq) * 160).to_be_bytes());
    pkt.extend(ssrc.to_be_bytes());
    pkt.extend([byte; 160]);
    pkt
}

/// Sends 20 ms PCMU packets of one byte value from `socket` to `to`, `count` of them; counts
/// itself in `spoke` once its first packet is out.
fn speak(socket: UdpSocket, to: SocketAddr, byte: u8, count: u16, spoke: Arc<AtomicUsize>) {
    for seq in 0..count {
        let _ = socket.send_to(&rtp(seq, 0x1234, byte), to);
        if seq == 0 {
            spoke.fetch_add(1, Ordering::Relaxed);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// RTP payloads received on `socket` for `how_long`.
fn listen(socket: &UdpSocket, how_long: Duration) -> Vec<Vec<u8>> {
    socket
        .set_read_timeout(Some(Duration::from_millis(50)))
        .expect("read timeout");
    let mut payloads = Vec::new();
    let end = Instant::now() + how_long;
    let mut buf = [0u8; 2048];
    while Instant::now() < end {
        if let Ok((n, _)) = socket.recv_from(&mut buf) {
            if n > 12 && buf[0] >> 6 == 2 {
                payloads.push(buf[12..n].to_vec());
            }
        }
    }
    payloads
}

/// Waits for the first RTP packet on `socket` and returns where it came from.
fn first_sender(socket: &UdpSocket, within: Duration) -> SocketAddr {
    socket.set_read_timeout(Some(within)).expect("read timeout");
    let mut buf = [0u8; 2048];
    let (_, from) = socket
        .recv_from(&mut buf)
        .expect("RTP from holdline within the time");
    from
}

/// Packets of 160 bytes all equal to `byte`.
fn voice(payloads: &[Vec<u8>], byte: u8) -> usize {
    payloads
        .iter()
        .filter(|p| p.len() == 160 && p.iter().all(|&b| b == byte))
        .count()
}

/// The attacker: every 20 ms, one packet to every even port in `first..=last` (and an RTCP
/// report to the odd port above it). Until `aimed`
/// is set its packets are scattered (a fresh SSRC and sequence number each, as a sweep sends);
/// from then on each port gets its own well-formed, in-sequence stream. Counts what comes back.
struct Sprayer {
    stop: Arc<AtomicBool>,
    aimed: Arc<AtomicBool>,
    sent: Arc<AtomicUsize>,
    received: Arc<AtomicUsize>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl Sprayer {
    fn start(first: u16, last: u16) -> Sprayer {
        let socket = UdpSocket::bind("127.0.0.1:0").expect("attacker socket");
        let listener = socket.try_clone().expect("clone");
        listener
            .set_read_timeout(Some(Duration::from_millis(50)))
            .expect("read timeout");
        let stop = Arc::new(AtomicBool::new(false));
        let aimed = Arc::new(AtomicBool::new(false));
        let sent = Arc::new(AtomicUsize::new(0));
        let received = Arc::new(AtomicUsize::new(0));
        let spray = {
            let (stop, aimed, sent) = (stop.clone(), aimed.clone(), sent.clone());
            std::thread::spawn(move || {
                let mut state = 0x9e37_79b9u32;
                let mut round = 0u16;
                while !stop.load(Ordering::Relaxed) {
                    for port in (first..=last).step_by(2) {
                        let pkt = if aimed.load(Ordering::Relaxed) {
                            rtp(round, 0xa770_0000 | u32::from(port), ATTACK)
                        } else {
                            // xorshift32: scattered sequence numbers and SSRCs.
                            state ^= state << 13;
                            state ^= state >> 17;
                            state ^= state << 5;
                            rtp(state as u16, state, ATTACK)
                        };
                        if socket.send_to(&pkt, ("127.0.0.1", port)).is_ok() {
                            sent.fetch_add(1, Ordering::Relaxed);
                        }
                        // And an RTCP receiver report at the RTCP port above it.
                        let rr = [0x80, 201, 0, 1, 0xa7, 0x70, (port >> 8) as u8, port as u8];
                        let _ = socket.send_to(&rr, ("127.0.0.1", port + 1));
                    }
                    round = round.wrapping_add(1);
                    std::thread::sleep(Duration::from_millis(20));
                }
            })
        };
        let listen = {
            let (stop, received) = (stop.clone(), received.clone());
            std::thread::spawn(move || {
                let mut buf = [0u8; 2048];
                while !stop.load(Ordering::Relaxed) {
                    if listener.recv_from(&mut buf).is_ok() {
                        received.fetch_add(1, Ordering::Relaxed);
                    }
                }
            })
        };
        Sprayer {
            stop,
            aimed,
            sent,
            received,
            threads: vec![spray, listen],
        }
    }

    /// (packets sent, packets received).
    fn finish(self) -> (usize, usize) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads {
            t.join().expect("sprayer thread");
        }
        (
            self.sent.load(Ordering::Relaxed),
            self.received.load(Ordering::Relaxed),
        )
    }
}

/// The `/metrics` line `name value`, as a number.
fn metric(server: &Server, name: &str) -> u64 {
    let text = server.metrics(None);
    metric_value(&text, name).unwrap_or_else(|| {
        panic!(
            "no {name} in /metrics:
{text}"
        )
    })
}

#[test]
fn an_rtp_spray_gets_no_audio_and_does_not_disturb_the_call() {
    let (first, last) = (61000u16, 61039u16);
    let amos = free_port();
    let server = server(&format!("{first}-{last}"), "", Some(amos));
    // Spraying from before the call: the ports open while it runs.
    let sprayer = Sprayer::start(first, last);
    std::thread::sleep(Duration::from_millis(100));
    let (agent, agent_rtp) =
        AgentPhone::answering("uas_agent_answer.xml", amos, "UK Sales", 30, &[]);
    let caller_rtp = UdpSocket::bind("127.0.0.1:0").expect("caller RTP socket");
    let caller_port = caller_rtp.local_addr().expect("address").port().to_string();
    let server_port = server.port;
    let caller = std::thread::spawn(move || {
        run_sipp_port(
            server_port,
            "uac_rtp_recorder.xml",
            "u1",
            &["-s", NUMBER, "-m", "1", "-key", "rtp_port", &caller_port]
                .into_iter()
                .chain(["-key", "codec", "0", "-d", "5000"])
                .collect::<Vec<_>>(),
        )
    });

    // The caller hears holdline (its music, then the bridge) under the spray, and so does the
    // agent: both streams are theirs.
    let to_caller_leg = first_sender(&caller_rtp, Duration::from_secs(10));
    let to_agent_leg = first_sender(&agent_rtp, Duration::from_secs(10));
    assert!((first..=last).contains(&to_caller_leg.port()));
    let (a, c) = (
        agent_rtp.try_clone().expect("clone"),
        caller_rtp.try_clone().expect("clone"),
    );
    // Half a second of music and ringing before anyone speaks: the spray's window before the
    // parties' first packets (the old latch took the first valid packet from anyone).
    std::thread::sleep(Duration::from_millis(500));
    let spoke = Arc::new(AtomicUsize::new(0));
    let (sa, sc) = (spoke.clone(), spoke.clone());
    let agent_talks = std::thread::spawn(move || speak(a, to_agent_leg, 0x2a, 75, sa));
    let caller_talks = std::thread::spawn(move || speak(c, to_caller_leg, 0x3b, 75, sc));
    // Once both parties' first packets are out (ahead of anything aimed in their ports'
    // queues), the attacker sends every port a tidy in-sequence stream. Before a party's first
    // packet such a stream is the NAT case and would latch: strict RTP cannot tell them apart.
    let deadline = Instant::now() + Duration::from_secs(2);
    while spoke.load(Ordering::Relaxed) < 2 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(1));
    }
    sprayer.aimed.store(true, Ordering::Relaxed);
    let agent_listens = std::thread::spawn(move || listen(&agent_rtp, Duration::from_millis(1500)));
    let heard_by_caller = listen(&caller_rtp, Duration::from_millis(1500));
    let heard_by_agent = agent_listens.join().expect("agent listener");
    agent_talks.join().expect("agent speaker");
    caller_talks.join().expect("caller speaker");
    let dropped = metric(&server, "holdline_rtp_dropped_foreign_total");
    let (sprayed, stolen) = sprayer.finish();
    eprintln!("sprayed {sprayed}, received by the attacker {stolen}, dropped {dropped}");

    assert_eq!(stolen, 0, "the attacker received {stolen} packets");
    assert!(sprayed > 500, "the spray ran: {sprayed} packets");
    assert_eq!(
        voice(&heard_by_agent, ATTACK),
        0,
        "the agent heard the attacker"
    );
    assert_eq!(
        voice(&heard_by_caller, ATTACK),
        0,
        "the caller heard the attacker"
    );
    let agent_voice = voice(&heard_by_caller, 0x2a);
    let caller_voice = voice(&heard_by_agent, 0x3b);
    assert!(
        agent_voice >= 40,
        "the caller hears the agent: {agent_voice} of 75 packets in {} received",
        heard_by_caller.len()
    );
    assert!(
        caller_voice >= 40,
        "the agent hears the caller: {caller_voice} of 75 packets in {} received",
        heard_by_agent.len()
    );
    assert!(dropped > 100, "dropped packets are counted: {dropped}");
    let caller = caller.join().expect("caller sipp");
    let agent = agent.finish();
    assert_sipp_ok(&caller, &server, "caller");
    assert_sipp_ok(&agent, &server, "agent");
}

/// One INVITE to the queue from `sip` (never ACKed) whose SDP sends media to `victim`.
fn reflecting_invite(server: &Server, sip: &UdpSocket, victim: SocketAddr) {
    let local = sip.local_addr().expect("address");
    let sdp = format!(
        "v=0\r\no=x 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 {}\r\nt=0 0\r\n\
         m=audio {} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n",
        victim.ip(),
        victim.port()
    );
    let invite = format!(
        "INVITE sip:{NUMBER}@127.0.0.1:{port} SIP/2.0\r\n\
         Via: SIP/2.0/UDP {local};branch=z9hG4bK-reflect-{p};rport\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:x@127.0.0.1>;tag=r{p}\r\n\
         To: <sip:{NUMBER}@127.0.0.1>\r\n\
         Call-ID: reflect-{p}@127.0.0.1\r\n\
         CSeq: 1 INVITE\r\n\
         Contact: <sip:x@{local}>\r\n\
         Content-Type: application/sdp\r\n\
         Content-Length: {}\r\n\r\n{sdp}",
        sdp.len(),
        port = server.port,
        p = local.port(),
    );
    sip.send_to(invite.as_bytes(), ("127.0.0.1", server.port))
        .expect("send INVITE");
}

/// Arrival times (since `start`) of the RTP packets `victim` receives within `how_long`.
fn arrivals(victim: &UdpSocket, start: Instant, how_long: Duration) -> Vec<Duration> {
    victim
        .set_read_timeout(Some(Duration::from_millis(50)))
        .expect("read timeout");
    let mut at = Vec::new();
    let mut buf = [0u8; 2048];
    while start.elapsed() < how_long {
        if let Ok((n, _)) = victim.recv_from(&mut buf) {
            if n > 12 && buf[0] >> 6 == 2 {
                at.push(start.elapsed());
            }
        }
    }
    at
}

#[test]
fn a_foreign_c_draws_at_most_the_unproven_media_bound() {
    let server = server("61100-61139", "unproven_media = 2\n", None);
    let victim = UdpSocket::bind("127.0.0.1:0").expect("victim socket");
    let sip = UdpSocket::bind("127.0.0.1:0").expect("INVITE socket");
    let start = Instant::now();
    reflecting_invite(&server, &sip, victim.local_addr().expect("address"));
    let got = arrivals(&victim, start, Duration::from_secs(5));
    // 2 s of 20 ms packets is 100 (100 or 101 measured); slack for the pacer's grid above, and
    // below for a loaded machine: what matters is that the media went and then stopped.
    assert!(
        (50..=110).contains(&got.len()),
        "{} packets to an address that never proved itself",
        got.len()
    );
    let last = got.last().copied().unwrap_or_default();
    assert!(last < Duration::from_millis(2600), "media until {last:?}");
}

#[test]
fn media_stops_when_the_rtp_timeout_fires() {
    // The bound is longer than the timeout: what stops the media here is the timeout.
    let server = server("61200-61239", "unproven_media = 30\ntimeout = 2\n", None);
    let victim = UdpSocket::bind("127.0.0.1:0").expect("victim socket");
    let sip = UdpSocket::bind("127.0.0.1:0").expect("INVITE socket");
    let start = Instant::now();
    reflecting_invite(&server, &sip, victim.local_addr().expect("address"));
    let got = arrivals(&victim, start, Duration::from_secs(5));
    assert!(
        (50..=110).contains(&got.len()),
        "{} packets for a 2 s RTP timeout",
        got.len()
    );
    let last = got.last().copied().unwrap_or_default();
    assert!(last < Duration::from_millis(2600), "media until {last:?}");
    assert!(
        server.log_text().contains("no RTP received: timing out"),
        "the timeout fired"
    );
}
