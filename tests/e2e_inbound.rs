//! `[sip] inbound = "trunks"` on the real binary, with SIPp on loopback: a caller from
//! 127.0.0.2, which is no trunk's source, gets 403 and never waits in the queue (the API says
//! so, `/metrics` counts it), while the trunk's caller from 127.0.0.1 is queued.
#![allow(clippy::disallowed_methods)] // A real process in real time: waiting is the point.

use std::time::Duration;

use holdline::api::client::Client;
use holdline_testkit::{
    assert_sipp_ok, eventually, free_port, metric_value, run_sipp_from, run_sipp_port, ConfigToml,
    QueueToml, Server,
};

const NUMBER: &str = "+14255550100";
const TOKEN: &str = "e2e-inbound-token";

/// Callers waiting in the sales queue, as `GET /api/v1/queues/sales/status` says.
fn waiting(api: &Client) -> usize {
    let status = api
        .request("GET", "/api/v1/queues/sales/status", None)
        .expect("queue status");
    assert_eq!(status.status, 200, "{:?}", status.body);
    status.body["waiting"].as_array().map_or(0, Vec::len)
}

#[test]
fn only_the_trunks_source_reaches_the_queue() {
    // The carrier's SBC (nothing listens there: the test only sends calls in); 127.0.0.1 is
    // its source, 127.0.0.2 is not.
    let sbc = free_port();
    let config = ConfigToml::loopback("40000-49999")
        .api_token(TOKEN)
        .number(NUMBER, "service-toll")
        .queue(QueueToml::new("sales").name("UK Sales").numbers(&[NUMBER]))
        .raw(&format!(
            "[[trunk]]\nid = \"carrier\"\nproxy = \"sip:127.0.0.1:{sbc}\"\n\
             sources = [\"127.0.0.1\"]\nallow = [\"+1425*\"]\n"
        ))
        .to_string()
        .replacen("[sip]\n", "[sip]\ninbound = \"trunks\"\n", 1);
    let server = Server::start(&config);
    let api = Client::new(server.api.clone(), Some(TOKEN.to_owned()));

    let stranger = run_sipp_from(
        "127.0.0.2",
        &server,
        "uac_forbidden.xml",
        "u1",
        &["-s", NUMBER, "-m", "1"],
    );
    assert_sipp_ok(&stranger, &server, "a caller from 127.0.0.2 gets 403");
    assert_eq!(waiting(&api), 0, "the refused caller never waited");
    let metrics = server.metrics(Some(TOKEN));
    assert_eq!(
        metric_value(&metrics, "holdline_inbound_refused_total"),
        Some(1),
        "{metrics}"
    );

    // The trunk's caller holds for 4 s: the queue shows it waiting meanwhile.
    let port = server.port;
    let trunk_call = std::thread::spawn(move || {
        run_sipp_port(
            port,
            "uac_basic.xml",
            "u1",
            &["-s", NUMBER, "-m", "1", "-d", "4000"],
        )
    });
    let seen = eventually(Duration::from_secs(4), || {
        (waiting(&api) == 1).then_some(())
    });
    let run = trunk_call.join().expect("the trunk's SIPp thread");
    assert_sipp_ok(&run, &server, "the trunk's caller is answered");
    assert!(seen.is_some(), "the trunk's caller waited in the queue");
    let metrics = server.metrics(Some(TOKEN));
    assert_eq!(
        metric_value(&metrics, "holdline_inbound_refused_total"),
        Some(1)
    );
}
