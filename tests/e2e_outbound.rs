//! End-to-end outbound calls with SIPp against the real `holdline` binary on loopback:
//! - an agent's SIPp phone authenticates (407, digest MD5) and dials a national number; a
//!   SIPp "carrier" trunk gets the call as E.164 with the queue's service number in From and
//!   P-Asserted-Identity (the agent's caller-ID policy), answers, and is hung up when the
//!   phone hangs up;
//! - the same phone with a wrong password gets 407 then 403, and the trunk's port (a plain
//!   UDP socket in the carrier's place) receives not one message.
//!
//! SIPp answers only the first challenge and knows MD5 alone, so the server offers MD5 only
//! (`[registrar] digest_algorithms`, see `e2e_registrar_sipp.rs`).
#![allow(clippy::disallowed_methods)] // Real processes in real time: waiting is the point.

use std::net::UdpSocket;
use std::time::{Duration, Instant};

use holdline_testkit::{
    assert_sipp_ok, free_port, run_sipp, AgentPhone, ConfigToml, QueueToml, Server,
};

const SERVICE: &str = "+442079460000";

fn config(carrier_port: u16) -> String {
    ConfigToml::loopback("15500-15599")
        .number(SERVICE, "service-toll")
        .number("+442079460011", "user")
        .raw(&format!(
            r#"
[registrar]
digest_algorithms = ["MD5"]
[outbound]
country_code = "44"
national_prefix = "0"
international_prefix = "00"
blocked_prefixes = ["+449"]
[[clid_policy]]
id = "sales-cid"
mode = "service-number"
service_number = "{SERVICE}"
[[user]]
id = "amos"
name = "Amos Marble"
password = "s3cret"
outbound = "national"
clid_policy = "sales-cid"
numbers = ["+442079460011"]
[[trunk]]
id = "carrier"
proxy = "sip:127.0.0.1:{carrier_port}"
allow = ["+44*"]
"#
        ))
        .queue(
            QueueToml::new("sales")
                .name("UK Sales")
                .numbers(&[SERVICE])
                .agents(&["amos"]),
        )
        .to_string()
}

#[test]
fn an_agents_outbound_call_shows_the_service_number_and_nothing_unauthenticated_leaves() {
    let carrier_port = free_port();
    let rtp = UdpSocket::bind("127.0.0.1:0").expect("bind the carrier's RTP");
    let rtp_port = rtp.local_addr().unwrap().port().to_string();
    let server = Server::start(&config(carrier_port));

    // The authenticated call: out through the carrier with the service number.
    let carrier = AgentPhone::start(
        "uas_carrier_outbound.xml",
        carrier_port,
        20,
        &["-key", "rtp_port", &rtp_port],
    );
    let run = run_sipp(
        &server,
        "uac_user_call.xml",
        "u1",
        &[
            "-s",
            "02079460999",
            "-au",
            "amos",
            "-ap",
            "s3cret",
            "-key",
            "from_user",
            "amos",
            "-m",
            "1",
            "-d",
            "1000",
        ],
    );
    assert_sipp_ok(&run, &server, "Amos calls out");
    assert_sipp_ok(
        &carrier.finish(),
        &server,
        "the carrier gets the call with the service number",
    );

    // The wrong password: 407, then 403; the carrier's port hears nothing.
    let trunk = UdpSocket::bind(("127.0.0.1", carrier_port)).expect("bind the carrier's port");
    let run = run_sipp(
        &server,
        "uac_outbound_refused.xml",
        "u1",
        &[
            "-s",
            "02079460999",
            "-au",
            "amos",
            "-ap",
            "wrong",
            "-key",
            "from_user",
            "amos",
            "-m",
            "1",
        ],
    );
    assert_sipp_ok(&run, &server, "a wrong password is refused");
    let mut received = 0;
    let mut buf = [0u8; 4096];
    let deadline = Instant::now() + Duration::from_secs(1);
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        trunk
            .set_read_timeout(Some(left.max(Duration::from_millis(1))))
            .unwrap();
        if trunk.recv_from(&mut buf).is_ok() {
            received += 1;
        }
    }
    assert_eq!(received, 0, "the carrier saw no message at all");
    server.kill();
}
