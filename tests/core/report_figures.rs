//! Report figures checked against a scripted set of calls, on virtual time: a caller and one
//! agent's phone drive the real core; the engine's events are logged as the server logs them
//! (`runtime::log_record`), and the reports and wallboard routes must give exactly the waits,
//! answers, abandons and timeouts the script made.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request as HttpRequest, StatusCode};
use holdline::api::{router, ApiState, FileSource, MemoryLive, Provisioning};
use holdline::sip::message::Request;
use holdline::sip::Method;
use holdline::store::{QueueEvent, Store};
use holdline::time::Time;
use holdline_testkit::harness::*;
use serde_json::Value;
use tower::ServiceExt;

const AMOS: &str = "198.51.100.20:5070";

/// 2026-12-07T09:00:00Z, where the script's virtual time zero falls.
const NINE_AM: i64 = 1_796_601_600_000 + 9 * 3_600_000;

fn config() -> String {
    format!(
        r#"
[sip]
listen = ["udp:192.0.2.1:5060"]
[rtp]
ports = "20000-29999"
[[number]]
e164 = "+14255550100"
kind = "service-toll"
[[user]]
id = "amos"
contacts = ["sip:amos@{AMOS}"]
[[queue]]
id = "sales"
numbers = ["+14255550100"]
agents = ["amos"]
agent_alert_time = 60
max_wait = 30
service_level = 20
"#
    )
}

/// The INVITE the core sent amos for the waiting call.
fn ring_at_amos(h: &mut Harness) -> Request {
    let invites: Vec<Request> = requests_to(h, AMOS)
        .into_iter()
        .filter(|r| r.method == Method::Invite)
        .collect();
    assert_eq!(invites.len(), 1, "amos is rung once");
    invites.into_iter().next().unwrap()
}

/// amos answers any CANCEL or BYE the core sends: 200 (and 487 to a canceled INVITE).
fn amos_acknowledges(h: &mut Harness, invite: &Request) {
    for r in requests_to(h, AMOS) {
        h.send_from(AMOS, &reply(&r, 200, "amos-tag"));
        if r.method == Method::Cancel {
            h.send_from(AMOS, &reply(invite, 487, "amos-tag"));
        }
    }
}

/// A call amos answers after `wait`, then the caller hangs up after `talk`.
fn answered(h: &mut Harness, call_id: &str, wait: Duration, talk: Duration) {
    let tag = caller_arrives(h, call_id);
    let invite = ring_at_amos(h);
    h.send_from(AMOS, &reply(&invite, 180, "amos-tag"));
    h.advance(wait);
    h.send_from(AMOS, &reply(&invite, 200, "amos-tag"));
    h.advance(talk);
    h.send(&in_dialog(
        "BYE",
        call_id,
        &tag,
        2,
        &format!("z9hG4bK{call_id}b"),
        None,
    ));
    amos_acknowledges(h, &invite);
    h.advance(Duration::from_secs(1));
}

/// A caller who hangs up after `wait` while amos's phone rings.
fn abandoned(h: &mut Harness, call_id: &str, wait: Duration) {
    let tag = caller_arrives(h, call_id);
    let invite = ring_at_amos(h);
    h.send_from(AMOS, &reply(&invite, 180, "amos-tag"));
    h.advance(wait);
    h.send(&in_dialog(
        "BYE",
        call_id,
        &tag,
        2,
        &format!("z9hG4bK{call_id}b"),
        None,
    ));
    amos_acknowledges(h, &invite);
    h.advance(Duration::from_secs(1));
}

/// A call amos lets ring until the queue's `max_wait` (30 s) sends it away.
fn timed_out(h: &mut Harness, call_id: &str) {
    caller_arrives(h, call_id);
    let invite = ring_at_amos(h);
    h.send_from(AMOS, &reply(&invite, 180, "amos-tag"));
    h.advance(Duration::from_secs(31));
    amos_acknowledges(h, &invite);
    h.advance(Duration::from_secs(1));
}

async fn get(router: &axum::Router, path: &str) -> Value {
    let req = HttpRequest::get(path).body(Body::empty()).unwrap();
    let resp = router.clone().oneshot(req).await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK, "{path}");
    let bytes = axum::body::to_bytes(resp.into_body(), 1 << 22)
        .await
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

#[tokio::test]
async fn report_figures_match_a_scripted_set_of_calls() {
    let mut h = Harness::with_config(&config());
    let s = Duration::from_secs;
    answered(&mut h, "ans-5", s(5), s(40));
    answered(&mut h, "ans-25", s(25), s(10));
    abandoned(&mut h, "ab-8", s(8));
    answered(&mut h, "ans-12", s(12), s(70));
    abandoned(&mut h, "ab-3", s(3));
    timed_out(&mut h, "to-30");
    h.shutdown();

    // The log, as the server writes it, with virtual time zero at 09:00Z.
    let mut log: Vec<QueueEvent> = Vec::new();
    while let Some(e) = h.core.poll_queue_event() {
        let at = NINE_AM + e.event.at.saturating_since(Time::ZERO).as_millis() as i64;
        log.push(holdline::runtime::log_record(&e, at));
    }
    assert!(log.len() > 20, "{log:?}");
    let file = FileSource {
        text: config(),
        label: "test.toml".into(),
        base_dir: ".".into(),
    };
    let (prov, _) = Provisioning::open(Store::open_in_memory().unwrap(), file).unwrap();
    let state = ApiState::new(prov, Arc::new(MemoryLive::default()), None);
    state.record_events(&log).unwrap();
    let api = router(state.clone());

    let r = get(
        &api,
        "/api/v1/reports/queues?from=2026-12-07&to=2026-12-08&interval=hour",
    )
    .await;
    let q = &r["queues"][0];
    assert_eq!(q["queue"], "sales");
    let t = &q["totals"];
    let n = |v: &Value| {
        v.as_u64()
            .unwrap_or_else(|| panic!("not a count: {v} in {t}"))
    };
    assert_eq!(
        (
            n(&t["offered"]),
            n(&t["answered"]),
            n(&t["abandoned"]),
            n(&t["timed_out"]),
            n(&t["overflowed"])
        ),
        (6, 3, 2, 1, 0),
        "{t}"
    );
    // Waits 5 s, 25 s and 12 s: average 14 s, p90 (3rd of 3) 25 s, two within 20 s.
    assert_eq!(t["avg_wait_ms"], 14_000, "{t}");
    assert_eq!(t["p90_wait_ms"], 25_000, "{t}");
    assert_eq!(t["max_wait_ms"], 25_000, "{t}");
    assert_eq!(t["answered_within_service_level"], 2, "{t}");
    assert_eq!(t["service_level_pct"], 66.67, "{t}");
    // Abandons after 8 s and 3 s.
    assert_eq!(t["avg_abandon_ms"], 5_500, "{t}");
    assert_eq!(t["abandon_distribution"][0]["calls"], 2, "{t}");
    // Talk 40 s + 10 s + 70 s.
    assert_eq!((n(&t["completed"]), n(&t["talk_ms"])), (3, 120_000), "{t}");
    // The whole script ran within the 09:00 hour.
    assert_eq!(q["intervals"][9], {
        let mut whole = t.clone();
        whole["start"] = "2026-12-07T09:00:00Z".into();
        whole["end"] = "2026-12-07T10:00:00Z".into();
        whole["start_ms"] = NINE_AM.into();
        whole["end_ms"] = (NINE_AM + 3_600_000).into();
        whole
    });

    let a = get(&api, "/api/v1/reports/agents?from=2026-12-07&to=2026-12-08").await;
    let amos = &a["agents"][0];
    assert_eq!(amos["agent"], "amos");
    let t = &amos["totals"];
    // Six rings: three answered, two withdrawn by the caller hanging up (not misses), one
    // canceled by holdline at max_wait.
    assert_eq!(
        (
            n(&t["offers"]),
            n(&t["answered"]),
            n(&t["missed"]),
            n(&t["caller_abandoned"]),
            n(&t["canceled"])
        ),
        (6, 3, 0, 2, 1),
        "{t}"
    );
    assert_eq!(t["talk_ms"], 120_000, "{t}");

    // The wallboard's "today" at 12:00 gives the same figures.
    fn noon() -> i64 {
        NINE_AM + 3 * 3_600_000
    }
    state.prov().set_wall_clock(noon);
    let w = get(&api, "/api/v1/wallboard/sales").await;
    let today = &w["today"];
    assert_eq!(
        (
            n(&today["offered"]),
            n(&today["answered"]),
            n(&today["abandoned"])
        ),
        (6, 3, 2),
        "{w}"
    );
    assert_eq!(today["avg_wait_ms"], 14_000);
    assert_eq!(today["service_level_pct"], 66.67);
}
