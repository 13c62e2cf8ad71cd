//! End-to-end trunk SBCs given by host name (RFC 3263 §4): the real `holdline` binary on
//! loopback, a DNS server the test plays (`holdline_testkit::dns`) named in `[sip]
//! dns_servers`, and SIPp as the carrier.
//!
//! - A forward (amos's REFER to a number) through `sbcs = [{ uri = "sip:carrier.test" }]`:
//!   holdline asks for `_sip._udp.carrier.test` SRV, whose two targets expand in place as
//!   failover candidates: priority 10, a UDP socket the test holds that never answers, then
//!   after `first_response_timeout` priority 20, the SIPp carrier, which answers.
//! - A TLS trunk by host name is reached at the resolved address and verified for the name.
//! - `check-config` accepts the example configuration, whose trunk is a host name.
#![allow(clippy::disallowed_methods)] // A real process in real time: waiting is the point.

use std::net::{Ipv4Addr, UdpSocket};
use std::time::Duration;

use holdline_testkit::tls::{Pki, TlsServer};
use holdline_testkit::{
    assert_sipp_ok, free_port, holdline_bin, repo_root, run_sipp_port, AgentPhone, ConfigToml,
    DnsZone, QueueToml, Server, Srv,
};

const NUMBER: &str = "+14255550100";
const SRV_TYPE: u16 = 33;
const A_TYPE: u16 = 1;

#[test]
fn a_forward_through_a_host_name_trunk_follows_its_srv_records() {
    let silent = UdpSocket::bind("127.0.0.1:0").expect("silent SBC socket");
    silent
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let silent_port = silent.local_addr().unwrap().port();
    let carrier = free_port();
    let amos = free_port();
    let dns = DnsZone::new(300)
        .srv(
            "_sip._udp.carrier.test",
            &[
                Srv {
                    priority: 20,
                    weight: 1,
                    port: carrier,
                    target: "sbc2.carrier.test".into(),
                },
                Srv {
                    priority: 10,
                    weight: 1,
                    port: silent_port,
                    target: "sbc1.carrier.test".into(),
                },
            ],
        )
        .a("sbc1.carrier.test", &[Ipv4Addr::LOCALHOST])
        .a("sbc2.carrier.test", &[Ipv4Addr::LOCALHOST])
        .start();
    let config = ConfigToml::loopback("20000-29999")
        .number(NUMBER, "service-toll")
        .user("amos", &format!("127.0.0.1:{amos}"))
        .queue(
            QueueToml::new("sales")
                .name("UK Sales")
                .numbers(&[NUMBER])
                .agents(&["amos"]),
        )
        .raw(
            r#"
[[trunk]]
id = "carrier"
sbcs = [{ uri = "sip:carrier.test" }]
first_response_timeout = 1
allow = ["+1425555*"]
"#,
        );
    // `[sip] dns_servers` goes into the [sip] table the loopback config starts with.
    let text = config.to_string().replacen(
        "[sip]\n",
        &format!("[sip]\ndns_servers = [\"{}\"]\n", dns.addr()),
        1,
    );
    assert!(text.contains("dns_servers"), "{text}");
    let server = Server::start(&text);
    // The look-up happens at start-up; the forward must not race it.
    let resolved = holdline_testkit::eventually(Duration::from_secs(10), || {
        (dns.asked("sbc2.carrier.test", A_TYPE) > 0).then_some(())
    });
    assert!(
        resolved.is_some(),
        "holdline never looked the SRV targets up"
    );
    assert_eq!(dns.asked("_sip._udp.carrier.test", SRV_TYPE), 1);

    let (amos_phone, _amos_rtp) = AgentPhone::answering(
        "uas_agent_refer.xml",
        amos,
        "UK Sales",
        30,
        &["-key", "refer_to", "tel:+14255550999", "-d", "1500"],
    );
    let carrier_rtp = UdpSocket::bind("127.0.0.1:0").expect("carrier RTP socket");
    let carrier_rtp_port = carrier_rtp.local_addr().unwrap().port().to_string();
    let carrier_phone = AgentPhone::start(
        "uas_transfer_target.xml",
        carrier,
        30,
        &["-key", "rtp_port", &carrier_rtp_port],
    );
    let caller = run_sipp_port(
        server.port,
        "uac_basic.xml",
        "u1",
        &["-s", NUMBER, "-m", "1", "-d", "6000"],
    );
    let amos_run = amos_phone.finish();
    let carrier_run = carrier_phone.finish();
    // The priority-10 target got the INVITE first, addressed to the name, not the address.
    let mut buf = [0u8; 4096];
    let (n, _) = silent
        .recv_from(&mut buf)
        .expect("the priority-10 SRV target got the INVITE");
    let first = String::from_utf8_lossy(&buf[..n]).into_owned();
    assert!(
        first.starts_with("INVITE sip:+14255550999@carrier.test"),
        "{}",
        first.lines().next().unwrap_or_default()
    );
    assert_sipp_ok(
        &carrier_run,
        &server,
        "priority-20 SRV target (INVITE after the first target's silence, 200, BYE)",
    );
    assert_sipp_ok(&caller, &server, "caller");
    assert_sipp_ok(&amos_run, &server, "amos (REFER, NOTIFYs, BYE)");
}

#[test]
fn check_config_accepts_the_example_with_a_host_name_trunk() {
    let example = repo_root().join("deploy/holdline.example.toml");
    let text = std::fs::read_to_string(&example).expect("example config");
    // The example's trunk as it is written there (its queues name media files that are not
    // in the repository, so the whole file is checked by the config tests instead).
    let start = text.find("\n[[trunk]]\n").expect("the example has a trunk");
    let end = text[start..]
        .find("\n# ----")
        .map_or(text.len(), |e| start + e);
    let trunk = &text[start..end];
    assert!(
        trunk.contains("\"sip:sbc.carrier.example"),
        "the example's trunk is given by host name:{trunk}"
    );
    let dir = holdline_testkit::scratch_dir("dns-check-config");
    let file = dir.join("holdline.toml");
    std::fs::write(&file, format!("[store]\npath = \":memory:\"\n{trunk}")).unwrap();
    let out = std::process::Command::new(holdline_bin())
        .arg("check-config")
        .arg(&file)
        .output()
        .expect("run check-config");
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A TLS trunk given by host name (`sips:sbc.carrier.test:PORT`, so A records only, RFC 3263
/// §4.2): holdline connects to the address DNS gave and verifies the SBC's certificate for the
/// name, which is all the certificate holds (no `tls_name` is set, and 127.0.0.1 is not in
/// it: verifying the address would fail the handshake and no SIP would arrive).
#[test]
fn a_tls_trunk_by_host_name_is_verified_for_the_name() {
    let dir = holdline_testkit::scratch_dir("dns-tls-trunk");
    let ours = Pki::new(&dir, "pbx");
    let leaf = ours.issue("holdline", &["pbx.test", "127.0.0.1"]);
    let carrier = Pki::new(&dir, "carrier");
    let sbc_rtp = UdpSocket::bind("127.0.0.1:0").unwrap();
    let sbc = TlsServer::start(
        Pki::server_config(&carrier.issue("sbc", &["sbc.carrier.test"]), None),
        sbc_rtp.local_addr().unwrap().port(),
    );
    let dns = DnsZone::new(300)
        .a("sbc.carrier.test", &[Ipv4Addr::LOCALHOST])
        .start();
    let p = |path: &std::path::Path| path.display().to_string();
    // A greeting, so the caller is answered before the queue forwards it (unanswered, the
    // forward would be a 302 to the caller instead of a call through the trunk).
    let greeting = dir.join("greeting.wav");
    holdline_testkit::audio::sox(&[
        "-n",
        "-r",
        "8000",
        "-c",
        "1",
        &p(&greeting),
        "synth",
        "0.3",
        "sine",
        "500",
    ]);
    let text = ConfigToml::loopback("20000-29999")
        .tls(&p(&leaf.cert_pem), &p(&leaf.key_pem), None)
        .number(NUMBER, "service-toll")
        .raw(&format!(
            "[[trunk]]\nid = \"carrier\"\nproxy = \"sips:sbc.carrier.test:{}\"\n\
             allow = [\"+1425*\"]\ntls_ca = {:?}\n",
            sbc.addr.port(),
            p(&carrier.ca_pem()),
        ))
        .queue(
            QueueToml::new("sales")
                .numbers(&[NUMBER])
                .set("greeting", &format!("{:?}", p(&greeting)))
                .set("max_wait", "0")
                .set("no_agents", r#"{ action = "queue" }"#)
                .set(
                    "on_timeout",
                    r#"{ action = "forward", to = "tel:+14255550123" }"#,
                ),
        )
        .to_string()
        .replacen(
            "[sip]\n",
            &format!("[sip]\ndns_servers = [\"{}\"]\n", dns.addr()),
            1,
        );
    let server = Server::start(&text);
    let resolved = holdline_testkit::eventually(Duration::from_secs(10), || {
        (dns.asked("sbc.carrier.test", A_TYPE) > 0).then_some(())
    });
    assert!(resolved.is_some(), "holdline never looked the SBC up");
    // No SRV question: the URI has a port.
    assert_eq!(dns.asked("_sips._tcp.sbc.carrier.test", SRV_TYPE), 0);
    let _caller = run_sipp_port(
        server.port,
        "uac_basic.xml",
        "u1",
        &["-s", NUMBER, "-m", "1", "-d", "3000"],
    );
    let invite = holdline_testkit::eventually(Duration::from_secs(10), || {
        sbc.seen()
            .messages
            .iter()
            .find(|m| m.starts_with("INVITE"))
            .cloned()
    })
    .unwrap_or_else(|| {
        let log = server.log_text();
        let tail: Vec<&str> = log.lines().rev().take(60).collect();
        panic!(
            "the SBC got no INVITE: {:?}\n{}",
            *sbc.seen(),
            tail.into_iter().rev().collect::<Vec<_>>().join("\n")
        )
    });
    let seen = sbc.seen();
    assert!(seen.handshakes >= 1, "{seen:?}");
    assert_eq!(seen.plaintext, 0, "nothing in plaintext");
    assert!(
        invite.starts_with("INVITE sip:+14255550123@sbc.carrier.test"),
        "{}",
        invite.lines().next().unwrap_or_default()
    );
}
