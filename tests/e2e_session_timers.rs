//! End-to-end: RFC 4028 session timers on the real binary, driven by SIPp on loopback: 422
//! with Min-SE for too short an interval, the timer in the 200, a refresh by UPDATE.
#![allow(clippy::disallowed_methods)] // A real process in real time: waiting is the point.

use holdline_testkit::{assert_sipp_ok, run_sipp, ConfigToml, QueueToml, Server};

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
