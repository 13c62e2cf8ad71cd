//! End-to-end media: a SIPp caller dials a queue with an MP3 (or WMA) greeting and a WAV music
//! file; its SDP points RTP at a socket this test records from. The recording is checked packet by
//! packet: the negotiated payload type, 20 ms packets, continuous sequence numbers and
//! timestamps, and the audio itself — the greeting first, then the music looping — compared
//! byte for byte with holdline's own decoding of the same files.

#![allow(clippy::disallowed_methods)] // A real process in real time: waiting is the point.

use std::net::UdpSocket;
use std::process::Command;
use std::time::{Duration, Instant};

use holdline::audio::{decode_prompt, DecodeOptions, Prompt};
use holdline_testkit::{run_sipp_port, scratch_dir, ConfigToml, QueueToml, Server};

/// One received RTP packet.
struct Packet {
    at: Instant,
    pt: u8,
    marker: bool,
    seq: u16,
    ts: u32,
    payload: Vec<u8>,
}

fn make_audio(
    dir: &std::path::Path,
    greeting_ext: &str,
) -> (std::path::PathBuf, std::path::PathBuf) {
    let greeting = dir.join(format!("greeting.{greeting_ext}"));
    let music = dir.join("music.wav");
    let ok = Command::new("ffmpeg")
        .args(["-loglevel", "error", "-y", "-f", "lavfi", "-i"])
        .arg("sine=frequency=660:duration=1.2:sample_rate=44100")
        .args(["-ac", "2", "-b:a", "128k"])
        .args(if greeting_ext == "wma" {
            &["-c:a", "wmav2"][..]
        } else {
            &[][..]
        })
        .arg(&greeting)
        .status()
        .expect("ffmpeg is not installed: run the README's test command (it installs it)");
    assert!(ok.success(), "ffmpeg could not make the greeting");
    let ok = Command::new("sox")
        .args(["-n", "-r", "16000", "-b", "16", "-c", "1"])
        .arg(&music)
        .args(["synth", "0.7", "sine", "440-880"])
        .status()
        .expect("sox is not installed: run the README's test command (it installs it)");
    assert!(ok.success(), "sox could not make the music");
    (greeting, music)
}

fn decoded(path: &std::path::Path) -> Prompt {
    let bytes = std::fs::read(path).expect("read prompt");
    decode_prompt(
        &path.display().to_string(),
        &bytes,
        &DecodeOptions::default(),
    )
    .expect("holdline decodes the prompt")
}

fn record(socket: &UdpSocket, for_how_long: Duration) -> Vec<Packet> {
    socket
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let end = Instant::now() + for_how_long;
    let mut packets = Vec::new();
    let mut buf = [0u8; 2048];
    while Instant::now() < end {
        let Ok(n) = socket.recv(&mut buf) else {
            continue;
        };
        let at = Instant::now();
        if n < 12 || buf[0] >> 6 != 2 {
            continue;
        }
        packets.push(Packet {
            at,
            pt: buf[1] & 0x7f,
            marker: buf[1] & 0x80 != 0,
            seq: u16::from_be_bytes([buf[2], buf[3]]),
            ts: u32::from_be_bytes([buf[4], buf[5], buf[6], buf[7]]),
            payload: buf[12..n].to_vec(),
        });
    }
    packets
}

/// A SIPp caller on +14255550100 for `hold_ms`, offering only `codec`, its RTP recorded for
/// half a second less (the call's own end is not recorded).
fn call_and_record(server: &Server, codec: u8, hold_ms: u64) -> Vec<Packet> {
    let recorder = UdpSocket::bind("127.0.0.1:0").expect("bind recorder");
    let rtp_port = recorder.local_addr().unwrap().port().to_string();
    let port = server.port;
    let (codec_text, hold) = (codec.to_string(), hold_ms.to_string());
    let caller = std::thread::spawn(move || {
        run_sipp_port(
            port,
            "uac_rtp_recorder.xml",
            "u1",
            &[
                "-s",
                "+14255550100",
                "-m",
                "1",
                "-d",
                &hold,
                "-key",
                "rtp_port",
                &rtp_port,
                "-key",
                "codec",
                &codec_text,
            ],
        )
    });
    let packets = record(&recorder, Duration::from_millis(hold_ms - 500));
    let run = caller.join().expect("sipp thread");
    assert_eq!(
        run.code,
        Some(0),
        "sipp: {}\n{}",
        run.output,
        server.log_text()
    );
    packets
}

/// A server with one queue on +14255550100 whose table also has `prompts` (greeting, music).
fn queue_server(prompts: &str) -> Server {
    let sales = QueueToml::new("sales")
        .numbers(&["+14255550100"])
        .raw(prompts);
    Server::start(
        &ConfigToml::loopback("30000-39999")
            .number("+14255550100", "service-toll")
            .queue(sales)
            .to_string(),
    )
}

fn check_call(codec: u8, greeting_ext: &str) {
    let dir = scratch_dir("moh");
    let (greeting_file, music_file) = make_audio(&dir, greeting_ext);
    let server = queue_server(&format!(
        "greeting = {:?}\nmusic_on_hold = {:?}",
        greeting_file.display().to_string(),
        music_file.display().to_string()
    ));
    let packets = call_and_record(&server, codec, 5000);

    assert!(
        packets.len() > 150,
        "only {} RTP packets in 4.5 s; holdline log:\n{}",
        packets.len(),
        server.log_text()
    );
    let law = if codec == 0 {
        holdline::audio::Law::Ulaw
    } else {
        holdline::audio::Law::Alaw
    };
    assert!(
        packets.iter().all(|p| p.pt == codec),
        "payload type is the negotiated {codec}"
    );
    assert!(packets[0].marker, "marker bit on the first packet");
    assert!(
        packets.iter().all(|p| p.payload.len() == 160),
        "20 ms of G.711 per packet"
    );
    for w in packets.windows(2) {
        assert_eq!(
            w[1].seq,
            w[0].seq.wrapping_add(1),
            "sequence numbers continue"
        );
        assert_eq!(w[1].ts, w[0].ts.wrapping_add(160), "timestamps continue");
    }
    let mut gaps: Vec<f64> = packets
        .windows(2)
        .map(|w| (w[1].at - w[0].at).as_secs_f64() * 1000.0)
        .collect();
    gaps.sort_by(|a, b| a.total_cmp(b));
    let median = gaps[gaps.len() / 2];
    assert!(
        (18.0..=22.0).contains(&median),
        "median spacing {median:.2} ms"
    );

    // The audio: greeting first, then the music, looping.
    let greeting = decoded(&greeting_file);
    let music = decoded(&music_file);
    let heard: Vec<u8> = packets
        .iter()
        .flat_map(|p| p.payload.iter().copied())
        .collect();
    let mut expected: Vec<u8> = greeting.samples(law).to_vec();
    while expected.len() < heard.len() {
        expected.extend_from_slice(music.samples(law));
    }
    let g = greeting.samples(law).len();
    assert_eq!(
        &heard[..g],
        &expected[..g],
        "the greeting comes first, as decoded"
    );
    assert!(
        heard.len() > g + 2 * music.samples(law).len(),
        "the music looped"
    );
    assert_eq!(
        heard,
        expected[..heard.len()],
        "then the music, looping, as decoded"
    );
}

#[test]
fn caller_hears_greeting_then_looping_music_in_pcmu() {
    check_call(0, "mp3");
}

#[test]
fn caller_hears_greeting_then_looping_music_in_pcma() {
    check_call(8, "mp3");
}

#[test]
fn caller_hears_a_wma_greeting() {
    check_call(0, "wma");
}

/// A tone of `hz` for 0.6 s as 8 kHz WAV, made by sox.
fn tone(path: &std::path::Path, hz: u32) {
    let ok = Command::new("sox")
        .args(["-n", "-r", "8000", "-b", "16", "-c", "1"])
        .arg(path)
        .args(["synth", "0.6", "sine", &hz.to_string()])
        .status()
        .expect("sox is not installed: run the README's test command (it installs it)");
    assert!(ok.success(), "sox could not make the tone");
}

/// Sends SIGHUP and waits for the reload to be logged (the `n`th time).
fn reload(server: &Server, n: usize) {
    server.signal(libc::SIGHUP);
    let deadline = Instant::now() + Duration::from_secs(10);
    while server.log_text().matches("prompt files reloaded").count() < n {
        assert!(
            Instant::now() < deadline,
            "no reload logged after SIGHUP:\n{}",
            server.log_text()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn sighup_reloads_a_replaced_greeting_and_keeps_it_when_the_new_file_is_bad() {
    let dir = scratch_dir("reload");
    let greeting = dir.join("greeting.wav");
    tone(&greeting, 660);
    let first = decoded(&greeting);
    let server = queue_server(&format!("greeting = {:?}", greeting.display().to_string()));
    let law = holdline::audio::Law::Ulaw;
    let greeting_heard = |packets: &[Packet], prompt: &Prompt| {
        let heard: Vec<u8> = packets
            .iter()
            .flat_map(|p| p.payload.iter().copied())
            .collect();
        let want = prompt.samples(law);
        assert!(
            heard.len() > want.len(),
            "only {} samples heard",
            heard.len()
        );
        heard[..want.len()] == want[..]
    };

    // A corrupt file in its place: refused with the reason, the 660 Hz greeting stays.
    std::fs::write(&greeting, b"RIFF").unwrap();
    reload(&server, 1);
    let log = server.log_text();
    assert!(
        log.contains("refused=1") && log.contains("the prompt that was playing stays"),
        "{log}"
    );
    assert!(
        greeting_heard(&call_and_record(&server, 0, 2000), &first),
        "the old greeting still plays"
    );

    // A good new file: the next caller hears it.
    tone(&greeting, 1000);
    let second = decoded(&greeting);
    assert_ne!(first.samples(law), second.samples(law));
    reload(&server, 2);
    assert!(
        greeting_heard(&call_and_record(&server, 0, 2000), &second),
        "the new greeting plays:\n{}",
        server.log_text()
    );
}

#[test]
fn caller_hears_a_greeting_uploaded_through_the_api() {
    const TOKEN: &str = "e2e-prompt-upload-token";
    let dir = scratch_dir("upload");
    let (greeting_file, _) = make_audio(&dir, "mp3");
    let server = Server::start(
        &ConfigToml::loopback("30000-39999")
            .api_token(TOKEN)
            .number("+14255550100", "service-toll")
            .to_string(),
    );
    let client = holdline::api::client::Client::new(server.api.clone(), Some(TOKEN.to_owned()));
    let bytes = std::fs::read(&greeting_file).unwrap();
    let uploaded = client
        .call_bytes(
            "POST",
            "/api/v1/prompts?name=welcome.mp3",
            "audio/mpeg",
            &bytes,
        )
        .unwrap_or_else(|e| panic!("upload refused: {e}\n{}", server.log_text()));
    let id = uploaded["id"].as_str().expect("an id").to_owned();
    assert_eq!(uploaded["format"], "mp3");
    // Stored beside the store file, byte for byte.
    assert_eq!(
        std::fs::read(server.dir.join("prompts").join(&id)).unwrap(),
        bytes
    );
    let queue = serde_json::json!({
        "id": "sales",
        "numbers": ["+14255550100"],
        "greeting": format!("prompt:{id}"),
    });
    client
        .call("POST", "/api/v1/queues", Some(&queue))
        .unwrap_or_else(|e| panic!("queue refused: {e}\n{}", server.log_text()));

    let packets = call_and_record(&server, 0, 3000);
    let greeting = decoded(&greeting_file);
    let want = greeting.samples(holdline::audio::Law::Ulaw);
    let heard: Vec<u8> = packets
        .iter()
        .flat_map(|p| p.payload.iter().copied())
        .collect();
    assert!(
        heard.len() > want.len(),
        "only {} samples heard:\n{}",
        heard.len(),
        server.log_text()
    );
    assert_eq!(
        &heard[..want.len()],
        &want[..],
        "the uploaded greeting comes first, as decoded"
    );
}
