//! End-to-end reports: the real `holdline serve` on loopback, SIPp callers who wait in a queue
//! with no agent and hang up, and the figures of `/api/v1/reports/queues` (JSON and CSV) and
//! `/api/v1/wallboard` read back over HTTP: the event writer, the store and the report routes
//! together, on the server's own clock.
#![allow(clippy::disallowed_methods)] // A real process in real time: waiting is the point.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use holdline::api::client::Client;
use holdline_testkit::{assert_sipp_ok, eventually, run_sipp, ConfigToml, QueueToml, Server};
use serde_json::Value;

const TOKEN: &str = "e2e-reports-token";
const NUMBER: &str = "+14255550100";

fn config() -> String {
    ConfigToml::loopback("15400-15499")
        .api_token(TOKEN)
        .number(NUMBER, "service-toll")
        .queue(
            QueueToml::new("sales")
                .numbers(&[NUMBER])
                .set("no_agents", r#"{ action = "queue" }"#)
                .set("service_level", "15"),
        )
        .to_string()
}

fn get(client: &Client, path: &str) -> Value {
    let reply = client
        .request("GET", path, None)
        .unwrap_or_else(|e| panic!("GET {path}: {e}"));
    assert_eq!(reply.status, 200, "GET {path}: {}", reply.body);
    reply.body
}

#[test]
fn callers_who_hang_up_while_waiting_are_reported_as_abandoned_with_their_wait() {
    let server = Server::start(&config());
    let client = Client::new(server.api.clone(), Some(TOKEN.to_owned()));
    // Two callers, one after the other, each holding 1.5 s and hanging up: nobody answers.
    let run = run_sipp(
        &server,
        "uac_basic.xml",
        "u1",
        &["-s", NUMBER, "-m", "2", "-l", "1", "-d", "1500"],
    );
    assert_sipp_ok(&run, &server, "two callers hang up while waiting");

    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let day = 86_400_000;
    let path = format!(
        "/api/v1/reports/queues?from={}&to={}&queue=sales",
        now - day,
        now + day
    );
    // The event writer commits in batches: wait for both abandons.
    let report = eventually(Duration::from_secs(10), || {
        let r = get(&client, &path);
        (r["queues"][0]["totals"]["abandoned"] == 2).then_some(r)
    })
    .unwrap_or_else(|| panic!("no two abandons in {}", get(&client, &path)));
    let q = &report["queues"][0];
    assert_eq!(q["service_level_secs"], 15);
    let t = &q["totals"];
    assert_eq!(t["offered"], 2, "{t}");
    assert_eq!(t["answered"], 0, "{t}");
    assert_eq!(t["service_level_pct"], Value::Null, "no call answered: {t}");
    // Each caller waited its 1.5 s pause (plus SIPp's and the server's own time).
    let avg = t["avg_abandon_ms"]
        .as_u64()
        .expect("an average abandon time");
    assert!(
        (1_400..6_000).contains(&avg),
        "average abandon {avg} ms: {t}"
    );
    assert_eq!(
        t["abandon_distribution"][0]["calls"], 2,
        "both within 10 s: {t}"
    );

    let reply = client
        .request("GET", &format!("{path}&format=csv"), None)
        .expect("CSV");
    let csv = reply.body.as_str().expect("a text body").to_owned();
    let lines: Vec<&str> = csv.trim_end().split("\r\n").collect();
    assert!(
        lines[0].starts_with("queue,start,end,offered,answered,abandoned,"),
        "{csv}"
    );
    let abandoned: u64 = lines[1..]
        .iter()
        .map(|l| l.split(',').nth(5).unwrap().parse::<u64>().unwrap())
        .sum();
    assert_eq!(abandoned, 2, "{csv}");

    let board = get(&client, "/api/v1/wallboard/sales");
    assert_eq!(board["calls_waiting"], 0, "{board}");
    assert_eq!(board["today"]["abandoned"], 2, "{board}");
    assert_eq!(board["today"]["offered"], 2, "{board}");
}
