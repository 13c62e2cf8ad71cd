//! End-to-end SBC conformance on the real binary, driven by SIPp on loopback: RFC 4028
//! session timers (422 with Min-SE for too short an interval, the timer in the 200, a refresh
//! by UPDATE) and what a forward toward a carrier trunk carries (Diversion, History-Info).
#![allow(clippy::disallowed_methods)] // A real process in real time: waiting is the point.

use std::net::UdpSocket;

use holdline_testkit::{
    assert_sipp_ok, free_port, run_sipp, AgentPhone, ConfigToml, QueueToml, Server,
};

const NUMBER: &str = "+14255550100";

#[test]
fn caller_gets_422_then_a_session_timer_and_refreshes_it_by_update() {
    let config = ConfigToml::loopback("40000-49999")
        .number(NUMBER, "service-toll")
        .queue(QueueToml::new("sales").name("UK Sales").numbers(&[NUMBER]))
        .to_string();
    let server = Server::start(&config);
    let run = run_sipp(
        &server,
        "uac_session_timer.xml",
        "u1",
        &["-s", NUMBER, "-m", "1"],
    );
    assert_sipp_ok(
        &run,
        &server,
        "session timer: 422, 200 with the timer, UPDATE refresh",
    );
}

/// amos answers the queue's call and transfers it (REFER) to a number the carrier trunk
/// allows; the carrier's INVITE must carry Diversion, History-Info and a session timer.
#[test]
fn a_transfer_to_a_number_reaches_the_carrier_with_diversion_and_history_info() {
    let (amos, carrier) = (free_port(), free_port());
    let sales = QueueToml::new("sales")
        .name("UK Sales")
        .numbers(&[NUMBER])
        .agents(&["amos"]);
    let config = ConfigToml::loopback("40000-49999")
        .number(NUMBER, "service-toll")
        .user("amos", &format!("127.0.0.1:{amos}"))
        .queue(sales)
        .raw(&format!(
            "[[trunk]]\nid = \"carrier\"\nproxy = \"sip:127.0.0.1:{carrier}\"\nallow = [\"+1425555*\"]\n"
        ))
        .to_string();
    let server = Server::start(&config);
    let (amos_phone, _amos_rtp) = AgentPhone::answering(
        "uas_agent_refer.xml",
        amos,
        "UK Sales",
        20,
        &["-key", "refer_to", "tel:+14255550999", "-d", "1500"],
    );
    let rtp = UdpSocket::bind("127.0.0.1:0").expect("carrier RTP socket");
    let rtp_port = rtp.local_addr().expect("address").port().to_string();
    let carrier_side = AgentPhone::start(
        "uas_carrier_diversion.xml",
        carrier,
        20,
        &["-key", "rtp_port", &rtp_port],
    );
    let caller = run_sipp(
        &server,
        "uac_basic.xml",
        "u1",
        &["-s", NUMBER, "-m", "1", "-d", "5000"],
    );
    let carrier_run = carrier_side.finish();
    let amos_run = amos_phone.finish();
    assert_sipp_ok(&caller, &server, "caller transferred to the carrier");
    assert_sipp_ok(&amos_run, &server, "amos (REFER, 202, NOTIFYs, BYE)");
    assert_sipp_ok(
        &carrier_run,
        &server,
        "carrier (INVITE with Diversion, History-Info, Session-Expires; 200; BYE)",
    );
}
