//! End-to-end with a real SIP phone: baresip (Debian's `baresip-core`) registers as the agent
//! `alice` with her password, a caller dials the queue, baresip answers by itself and audio flows
//! both ways. The caller (this test, on plain UDP sockets) sends a 1 kHz tone and records what it
//! gets; baresip plays a 400 Hz WAV (its `aufile` source) and dumps what it decodes (its
//! `sndfile` filter). Each side must hear the other's tone and not its own.
//!
//! baresip runs headless from a scratch config directory (`baresip -f DIR`): no audio device, no
//! UI but the `menu` module's auto-answer, SIP on loopback. The project's test command installs
//! it; under `CI=true` a missing baresip fails the test, elsewhere it is skipped with a message.
#![allow(clippy::disallowed_methods)] // A real process in real time: waiting is the point.

use std::net::{SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use holdline::api::client::Client;
use holdline::audio::Law;
use holdline::sip::header::HeaderName;
use holdline::sip::message::{Message, Response};
use holdline::sip::parse::{parse_datagram, Limits};
use holdline_testkit::audio::{rms, sox_reference_8k, tone_share};
use holdline_testkit::{eventually, scratch_dir, ConfigToml, QueueToml, Server};

const NUMBER: &str = "+14255550100";
const TOKEN: &str = "baresip-test-token";
const DOMAIN: &str = "holdline.test";
const PASSWORD: &str = "al1ce-s3cret";
/// What the caller sends and what baresip plays.
const CALLER_HZ: f64 = 1000.0;
const PHONE_HZ: f64 = 400.0;
/// How long the call's audio runs once answered.
const TALK: Duration = Duration::from_secs(4);

/// Whether baresip can be run: `Some(reason)` when it cannot.
fn baresip_missing() -> Option<String> {
    match Command::new("baresip")
        .arg("-h")
        .stdin(Stdio::null())
        .output()
    {
        Ok(_) => None,
        Err(e) => Some(format!("cannot run baresip ({e})")),
    }
}

/// Kills baresip when the test ends, however it ends.
struct Phone {
    child: Child,
    dir: PathBuf,
}

impl Phone {
    fn output(&self) -> String {
        std::fs::read_to_string(self.dir.join("baresip.out")).unwrap_or_default()
    }
}

impl Drop for Phone {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Writes baresip's `config` and `accounts` into `dir` and starts it, registering
/// `alice@DOMAIN` through the server at `server_port` over `transport` (`udp`, `tcp`).
fn start_baresip(
    dir: &Path,
    server_port: u16,
    transport: &str,
    source_wav: &Path,
    dumps: &Path,
) -> Phone {
    // aufile is a source only in baresip 1.0: the player writes nowhere (/dev/null is not
    // opened as a device); what baresip decodes is dumped by the sndfile filter instead.
    let config = format!(
        "poll_method epoll\n\
         sip_listen 127.0.0.1:0\n\
         net_interface 127.0.0.1\n\
         call_local_timeout 30\n\
         call_max_calls 2\n\
         audio_player aufile,/dev/null\n\
         audio_alert aufile,/dev/null\n\
         audio_source aufile,{}\n\
         ausrc_srate 8000\n\
         auplay_srate 8000\n\
         ausrc_channels 1\n\
         auplay_channels 1\n\
         rtp_ports {rtp_ports}\n\
         snd_path {}\n\
         module_path /usr/lib/baresip/modules\n\
         module g711.so\n\
         module aufile.so\n\
         module sndfile.so\n\
         module_app account.so\n\
         module_app menu.so\n",
        source_wav.display(),
        dumps.display(),
        rtp_ports = rtp_ports(transport).1,
    );
    std::fs::write(dir.join("config"), config).expect("write baresip config");
    // The domain is a name the resolver does not know: the outbound proxy takes every request
    // to the server.
    let account = format!(
        "<sip:alice@{DOMAIN}>;auth_pass={PASSWORD};answermode=auto;regint=60;\
         outbound=\"sip:127.0.0.1:{server_port};transport={transport}\"\n"
    );
    std::fs::write(dir.join("accounts"), account).expect("write baresip accounts");
    let out = std::fs::File::create(dir.join("baresip.out")).expect("baresip output file");
    let err = out.try_clone().expect("baresip output file");
    let child = Command::new("baresip")
        .arg("-f")
        .arg(dir)
        // Quits by itself after a minute, should this test be killed before its guard runs.
        .args(["-t", "60"])
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .spawn()
        .expect("start baresip");
    Phone {
        child,
        dir: dir.to_owned(),
    }
}

/// RTP ports for holdline and for baresip, apart for each transport's test so the two can run
/// side by side.
fn rtp_ports(transport: &str) -> (&'static str, &'static str) {
    if transport == "tcp" {
        ("15250-15299", "15350-15399")
    } else {
        ("15200-15249", "15300-15349")
    }
}

fn config(transport: &str) -> String {
    ConfigToml::loopback(rtp_ports(transport).0)
        .api_token(TOKEN)
        .number(NUMBER, "service-toll")
        .raw(&format!(
            "[[user]]\nid = \"alice\"\npassword = \"{PASSWORD}\"\n\
             [registrar]\n\
             # baresip 1.0's SIP stack gives up on a SHA-256 challenge instead of answering the MD5 one.\n\
             digest_algorithms = [\"MD5\"]\n"
        ))
        .queue(QueueToml::new("sales").numbers(&[NUMBER]).agents(&["alice"]))
        .to_string()
        .replace("[sip]\n", &format!("[sip]\ndomains = [\"{DOMAIN}\"]\n"))
}

/// The caller: SIP and RTP sockets on loopback.
struct Caller {
    sip: UdpSocket,
    rtp: UdpSocket,
    server: SocketAddr,
}

impl Caller {
    fn new(server_port: u16) -> Caller {
        let sip = UdpSocket::bind("127.0.0.1:0").unwrap();
        sip.set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        let rtp = UdpSocket::bind("127.0.0.1:0").unwrap();
        rtp.set_read_timeout(Some(Duration::from_millis(5)))
            .unwrap();
        Caller {
            sip,
            rtp,
            server: SocketAddr::from(([127, 0, 0, 1], server_port)),
        }
    }

    fn send(&self, text: &str) {
        self.sip.send_to(text.as_bytes(), self.server).unwrap();
    }

    fn me(&self) -> SocketAddr {
        self.sip.local_addr().unwrap()
    }

    fn invite(&self) {
        let me = self.me();
        let sdp = format!(
            "v=0\r\no=caller 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
             m=audio {} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=ptime:20\r\n",
            self.rtp.local_addr().unwrap().port()
        );
        self.send(&format!(
            "INVITE sip:{NUMBER}@127.0.0.1 SIP/2.0\r\n\
             Via: SIP/2.0/UDP {me};branch=z9hG4bKbs-inv;rport\r\n\
             From: <sip:caller@127.0.0.1>;tag=bs-c1\r\n\
             To: <sip:{NUMBER}@127.0.0.1>\r\n\
             Call-ID: baresip-call@test\r\n\
             CSeq: 1 INVITE\r\n\
             Contact: <sip:caller@{me}>\r\n\
             Max-Forwards: 70\r\n\
             Content-Type: application/sdp\r\n\
             Content-Length: {}\r\n\r\n{sdp}",
            sdp.len()
        ));
    }

    /// The final response to the request with `cseq`, within `limit`.
    fn final_response(&self, cseq: &str, limit: Duration) -> Option<Response> {
        let end = Instant::now() + limit;
        let mut buf = [0u8; 65536];
        while Instant::now() < end {
            let Ok(n) = self.sip.recv(&mut buf) else {
                continue;
            };
            if let Ok(Message::Response(r)) = parse_datagram(&buf[..n], &Limits::default()) {
                let this = r.headers.get(&HeaderName::CSeq).unwrap_or_default().trim() == cseq;
                if this && r.status >= 200 {
                    return Some(r);
                }
            }
        }
        None
    }

    /// ACK or BYE inside the dialog the 2xx `ok` set up (RFC 3261 §12.2.1.1: the remote target
    /// is the 2xx's Contact; no Record-Route from a B2BUA).
    fn in_dialog(&self, ok: &Response, method: &str, cseq: u32, branch: &str) {
        let me = self.me();
        let to = ok.headers.get(&HeaderName::To).expect("To in the 2xx");
        let contact = ok
            .headers
            .get(&HeaderName::Contact)
            .expect("Contact in the 2xx");
        let target = contact
            .trim()
            .trim_start_matches('<')
            .split('>')
            .next()
            .unwrap_or_default()
            .to_owned();
        self.send(&format!(
            "{method} {target} SIP/2.0\r\n\
             Via: SIP/2.0/UDP {me};branch=z9hG4bK{branch};rport\r\n\
             From: <sip:caller@127.0.0.1>;tag=bs-c1\r\n\
             To: {to}\r\n\
             Call-ID: baresip-call@test\r\n\
             CSeq: {cseq} {method}\r\n\
             Max-Forwards: 70\r\n\
             Content-Length: 0\r\n\r\n"
        ));
    }
}

/// Where the 2xx's SDP sends our RTP: its `c=` address and audio `m=` port.
fn sdp_target(body: &[u8]) -> SocketAddr {
    let text = String::from_utf8_lossy(body);
    let ip = text
        .lines()
        .find_map(|l| l.strip_prefix("c=IN IP4 "))
        .expect("c= in the answer")
        .trim()
        .to_owned();
    let port = text
        .lines()
        .find_map(|l| l.strip_prefix("m=audio "))
        .and_then(|l| l.split(' ').next())
        .and_then(|p| p.parse::<u16>().ok())
        .expect("m=audio in the answer");
    format!("{ip}:{port}").parse().expect("an IPv4 address")
}

/// Sends 20 ms PCMU packets of a `CALLER_HZ` tone to `to` for `TALK`, paced in real time, and
/// returns the samples of every RTP packet received meanwhile, in arrival order.
fn talk(caller: &Caller, to: SocketAddr) -> Vec<i16> {
    let start = Instant::now();
    let mut heard = Vec::new();
    let mut buf = [0u8; 2048];
    let mut sent = 0u32;
    while start.elapsed() < TALK {
        let due = start + Duration::from_millis(20 * u64::from(sent));
        if Instant::now() >= due {
            let mut packet = vec![0x80, 0];
            packet.extend_from_slice(&(sent as u16).to_be_bytes());
            packet.extend_from_slice(&(sent * 160).to_be_bytes());
            packet.extend_from_slice(&0x00c0_ffee_u32.to_be_bytes());
            for i in 0..160 {
                let t = f64::from(sent * 160 + i) / 8000.0;
                let s = 10000.0 * (2.0 * std::f64::consts::PI * CALLER_HZ * t).sin();
                packet.push(Law::Ulaw.encode(s as i16));
            }
            caller.rtp.send_to(&packet, to).unwrap();
            sent += 1;
        }
        if let Ok(n) = caller.rtp.recv(&mut buf) {
            if n > 12 && buf[0] >> 6 == 2 && buf[1] & 0x7f == 0 {
                heard.extend(buf[12..n].iter().map(|&b| Law::Ulaw.decode(b)));
            }
        }
    }
    heard
}

/// 100 ms blocks of `samples` (8 kHz) that are not silence.
fn loud_blocks(samples: &[i16]) -> Vec<&[i16]> {
    samples
        .chunks_exact(800)
        .filter(|b| rms(b) > 500.0)
        .collect()
}

/// How many of `blocks` are mostly the tone `hz` (over 80 % of their energy).
fn blocks_of(blocks: &[&[i16]], hz: f64) -> usize {
    blocks
        .iter()
        .filter(|b| tone_share(b, 8000, hz) > 0.8)
        .count()
}

#[test]
fn over_udp_baresip_registers_answers_a_queue_call_and_audio_flows_both_ways() {
    registers_answers_and_talks("udp");
}

#[test]
fn over_tcp_baresip_registers_answers_a_queue_call_and_audio_flows_both_ways() {
    registers_answers_and_talks("tcp");
}

/// baresip registers over `transport`, answers a queue call (rung over the REGISTER's flow),
/// both sides hear each other, and it unregisters when told to quit.
fn registers_answers_and_talks(transport: &str) {
    if let Some(why) = baresip_missing() {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "{why}: tests/run.sh installs it (apt-get install baresip-core)"
        );
        eprintln!("e2e_baresip: {why}; skipped (tests/run.sh installs it)");
        return;
    }
    let server = Server::start(&config(transport));
    let dir = scratch_dir("baresip");
    let dumps = dir.join("dumps");
    std::fs::create_dir_all(&dumps).unwrap();
    // baresip's aufile source wants 8 kHz mono 16-bit WAV at the configured rate.
    let source = dir.join("phone-tone.wav");
    holdline_testkit::audio::sox(&[
        "-n",
        "-r",
        "8000",
        "-b",
        "16",
        "-c",
        "1",
        "-e",
        "signed",
        holdline_testkit::audio::p(&source),
        "synth",
        "30",
        "sine",
        "400",
        "vol",
        "0.5",
    ]);
    let phone = start_baresip(&dir, server.port, transport, &source, &dumps);

    // Registered: the API lists alice's binding, made by baresip.
    let api = Client::new(server.api.clone(), Some(TOKEN.to_owned()));
    let binding = eventually(Duration::from_secs(10), || {
        let list = api
            .request("GET", "/api/v1/users/alice/registrations", None)
            .ok()?;
        (list.body.as_array().map(Vec::len) == Some(1)).then_some(list.body[0].clone())
    })
    .unwrap_or_else(|| {
        panic!(
            "baresip did not register; its output:\n{}\nholdline's log:\n{}",
            phone.output(),
            server.log_text()
        )
    });
    assert_eq!(binding["transport"], transport, "{binding}");
    assert!(
        binding["user_agent"]
            .as_str()
            .is_some_and(|ua| ua.starts_with("baresip")),
        "{binding}"
    );

    // The call: baresip answers by itself.
    let caller = Caller::new(server.port);
    caller.invite();
    let ok = caller
        .final_response("1 INVITE", Duration::from_secs(10))
        .unwrap_or_else(|| {
            panic!(
                "no final answer to the INVITE; baresip:\n{}\nholdline:\n{}",
                phone.output(),
                server.log_text()
            )
        });
    assert_eq!(ok.status, 200, "{ok:?}\n{}", phone.output());
    caller.in_dialog(&ok, "ACK", 1, "bs-ack");
    let heard = talk(&caller, sdp_target(&ok.body));
    caller.in_dialog(&ok, "BYE", 2, "bs-bye");
    let bye = caller.final_response("2 BYE", Duration::from_secs(5));
    assert_eq!(bye.map(|r| r.status), Some(200), "BYE answered 200");

    // The caller heard baresip's 400 Hz (for at least 2 of the 4 s) and never its own tone.
    let blocks = loud_blocks(&heard);
    let phone_blocks = blocks_of(&blocks, PHONE_HZ);
    let echo_blocks = blocks_of(&blocks, CALLER_HZ);
    eprintln!(
        "caller: {} samples, {} loud blocks, {phone_blocks} of {PHONE_HZ} Hz, {echo_blocks} of {CALLER_HZ} Hz",
        heard.len(),
        blocks.len()
    );
    assert!(
        phone_blocks >= 20,
        "the caller heard {phone_blocks} blocks of baresip's tone ({} loud, {} samples)",
        blocks.len(),
        heard.len()
    );
    assert_eq!(echo_blocks, 0, "the caller heard its own tone");

    // baresip saw the call end (and so closed its dumps: the WAV headers are written then).
    let ended = eventually(Duration::from_secs(5), || {
        let out = phone.output();
        (out.contains("terminated") || out.contains("Call closed")).then_some(())
    });
    assert!(
        ended.is_some(),
        "baresip did not end the call:\n{}",
        phone.output()
    );
    // baresip decoded the caller's 1 kHz: its dump of the received audio (…-dec.wav).
    let decoded = eventually(Duration::from_secs(5), || {
        std::fs::read_dir(&dumps)
            .ok()?
            .filter_map(Result::ok)
            .map(|e| e.path())
            .find(|p| p.to_string_lossy().ends_with("-dec.wav"))
    })
    .unwrap_or_else(|| {
        panic!(
            "baresip dumped no decoded audio; its output:\n{}",
            phone.output()
        )
    });
    let tmp = holdline_testkit::audio::tmp();
    let received = sox_reference_8k(&tmp, &decoded);
    let blocks = loud_blocks(&received);
    let caller_blocks = blocks_of(&blocks, CALLER_HZ);
    let own_blocks = blocks_of(&blocks, PHONE_HZ);
    eprintln!(
        "baresip: {} samples, {} loud blocks, {caller_blocks} of {CALLER_HZ} Hz, {own_blocks} of {PHONE_HZ} Hz",
        received.len(),
        blocks.len()
    );
    assert!(
        caller_blocks >= 20,
        "baresip heard {caller_blocks} blocks of the caller's tone ({} loud)",
        blocks.len()
    );
    assert_eq!(own_blocks, 0, "baresip heard its own tone");

    // Told to quit (SIGTERM), baresip unregisters (Expires: 0) and the binding is gone.
    let killed = Command::new("kill")
        .args(["-TERM", &phone.child.id().to_string()])
        .status()
        .expect("run kill");
    assert!(killed.success());
    let gone = eventually(Duration::from_secs(5), || {
        let list = api
            .request("GET", "/api/v1/users/alice/registrations", None)
            .ok()?;
        (list.body == serde_json::json!([])).then_some(())
    });
    assert!(
        gone.is_some(),
        "alice is still registered after baresip quit; its output:\n{}",
        phone.output()
    );
    drop(phone);
}
