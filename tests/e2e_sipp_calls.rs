//! End-to-end: the real `holdline` binary on loopback, driven by the SIPp scenarios in
//! `sip-fixtures/sipp/` over UDP and TCP. Each test starts its own server on ephemeral ports,
//! so the tests run in parallel.
#![allow(clippy::disallowed_methods)] // A real process in real time: waiting is the point.

use holdline_testkit::{assert_sipp_ok, run_sipp, run_sipp_port, ConfigToml, QueueToml, Server};

const NUMBER: &str = "+14255550100";
const RINGING_NUMBER: &str = "+14255550111";

/// Two queues: one answers at once, one rings for two seconds first (a window for CANCEL).
fn config() -> String {
    ConfigToml::loopback("40000-49999")
        .number(NUMBER, "service-toll")
        .number(RINGING_NUMBER, "service-toll-free")
        .queue(
            QueueToml::new("sales")
                .name("UK Sales")
                .numbers(&[NUMBER])
                .set("max_calls", "200"),
        )
        .queue(
            QueueToml::new("ringing")
                .name("Rings First")
                .numbers(&[RINGING_NUMBER])
                .set("answer_delay_ms", "2000"),
        )
        .to_string()
}

#[test]
fn embedded_default_answers_its_service_number_over_udp_and_tcp() {
    let server = Server::start_default();
    for transport in ["u1", "t1"] {
        let run = run_sipp(
            &server,
            "uac_basic.xml",
            transport,
            &["-s", NUMBER, "-m", "1", "-d", "5000"],
        );
        assert_sipp_ok(&run, &server, &format!("default config over {transport}"));
    }
}

#[test]
fn caller_is_answered_held_and_hangs_up_over_udp() {
    let server = Server::start(&config());
    let run = run_sipp(
        &server,
        "uac_basic.xml",
        "u1",
        &["-s", NUMBER, "-m", "1", "-d", "5000"],
    );
    assert_sipp_ok(&run, &server, "basic call over UDP");
}

#[test]
fn caller_is_answered_held_and_hangs_up_over_tcp() {
    let server = Server::start(&config());
    let run = run_sipp(
        &server,
        "uac_basic.xml",
        "t1",
        &["-s", NUMBER, "-m", "1", "-d", "5000"],
    );
    assert_sipp_ok(&run, &server, "basic call over TCP");
}

#[test]
fn number_with_visual_separators_and_no_plus_reaches_the_queue() {
    let server = Server::start(&config());
    let run = run_sipp(
        &server,
        "uac_basic.xml",
        "u1",
        &["-s", "1-425-555-0100", "-m", "1", "-d", "200"],
    );
    assert_sipp_ok(&run, &server, "call to 1-425-555-0100");
}

#[test]
fn caller_cancels_before_answer_gets_487() {
    let server = Server::start(&config());
    for transport in ["u1", "t1"] {
        let run = run_sipp(
            &server,
            "uac_cancel.xml",
            transport,
            &["-s", RINGING_NUMBER, "-m", "1"],
        );
        assert_sipp_ok(&run, &server, &format!("CANCEL over {transport}"));
    }
}

#[test]
fn late_offer_gets_offer_in_200_and_answer_in_ack() {
    let server = Server::start(&config());
    let run = run_sipp(
        &server,
        "uac_late_offer.xml",
        "u1",
        &["-s", NUMBER, "-m", "1"],
    );
    assert_sipp_ok(&run, &server, "late offer");
}

#[test]
fn reinvite_holds_and_resumes() {
    let server = Server::start(&config());
    let run = run_sipp(
        &server,
        "uac_reinvite_hold.xml",
        "u1",
        &["-s", NUMBER, "-m", "1"],
    );
    assert_sipp_ok(&run, &server, "re-INVITE hold/resume");
}

#[test]
fn options_keepalive_lists_capabilities() {
    let server = Server::start(&config());
    for transport in ["u1", "t1"] {
        let run = run_sipp(&server, "uac_options.xml", transport, &["-m", "1"]);
        assert_sipp_ok(&run, &server, &format!("OPTIONS over {transport}"));
    }
}

#[test]
fn unknown_number_gets_404() {
    let server = Server::start(&config());
    for number in ["+14255550199", "911", "sales"] {
        let run = run_sipp(
            &server,
            "uac_unknown_number.xml",
            "u1",
            &["-s", number, "-m", "1"],
        );
        assert_sipp_ok(&run, &server, &format!("unknown number {number}"));
    }
}

#[test]
fn codec_mismatch_gets_488() {
    let server = Server::start(&config());
    let run = run_sipp(
        &server,
        "uac_codec_mismatch.xml",
        "u1",
        &["-s", NUMBER, "-m", "1"],
    );
    assert_sipp_ok(&run, &server, "codec mismatch");
}

#[test]
fn many_calls_at_a_rate_all_succeed() {
    let server = Server::start(&config());
    let run = run_sipp(
        &server,
        "uac_basic.xml",
        "u1",
        &[
            "-s", NUMBER, "-m", "200", "-r", "100", "-l", "200", "-d", "500",
        ],
    );
    assert_sipp_ok(&run, &server, "200 calls at 100 cps");
}

#[test]
fn sigterm_hangs_up_active_calls_with_bye_and_exits() {
    let server = Server::start(&config());
    let port = server.port;
    let caller = std::thread::spawn(move || {
        // The SIPp run needs the server only for its port; pass a lightweight handle.
        run_sipp_port(
            port,
            "uac_server_hangs_up.xml",
            "u1",
            &["-s", NUMBER, "-m", "1"],
        )
    });
    std::thread::sleep(std::time::Duration::from_millis(1500));
    let log = server.log.clone();
    let code = server.terminate();
    let run = caller.join().expect("sipp thread");
    let log = std::fs::read_to_string(log).unwrap_or_default();
    assert_eq!(
        run.code,
        Some(0),
        "sipp: {}\nholdline log:\n{log}",
        run.output
    );
    assert_eq!(
        code,
        Some(0),
        "holdline exit code after SIGTERM; log:\n{log}"
    );
}
