//! The CLI client against a running API server on loopback: queue, number and agent commands,
//! tables and --json, and errors as the user sees them.

use std::sync::Arc;

use holdline::api::cli::{run_agent, run_object, AgentCmd, ApiArgs, ObjectCmd, OnOff};
use holdline::api::client::ClientError;
use holdline::api::{serve, ApiState, MemoryLive, Provisioning};
use holdline::store::{Kind, Store};
use serde_json::Value;

/// Starts the API on 127.0.0.1:0 in a background runtime; returns its address.
fn server() -> String {
    let (mut prov, _) = Provisioning::open(
        Store::open_in_memory().unwrap(),
        crate::api_support::file_source(),
    )
    .unwrap();
    prov.set_check_files(false);
    let state = ApiState::new(
        prov,
        Arc::new(MemoryLive::default()),
        Some(crate::api_support::TOKEN.to_owned()),
    );
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    listener.set_nonblocking(true).unwrap();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            serve(listener, state, std::future::pending())
                .await
                .unwrap();
        });
    });
    addr
}

fn args(addr: &str, json: bool) -> ApiArgs {
    ApiArgs {
        api: Some(addr.to_owned()),
        token: Some(crate::api_support::TOKEN.to_owned()),
        json,
    }
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

#[test]
fn queue_new_set_get_remove_round_trip() {
    let addr = server();
    let a = args(&addr, false);
    let out = run_object(
        Kind::Queue,
        &ObjectCmd::New {
            id: "sales".into(),
            fields: strings(&[
                "name=UK Sales",
                "numbers=+14255550101",
                "agents=amos,bea",
                "max_wait=600",
                "on_timeout=forward:queue:demo",
            ]),
        },
        &a,
    )
    .unwrap();
    assert!(
        out.lines()
            .any(|l| l.split_whitespace().collect::<Vec<_>>() == ["max_wait", "600"]),
        "{out}"
    );
    assert!(
        out.lines()
            .any(|l| l.starts_with("on_timeout") && l.ends_with("forward:queue:demo")),
        "{out}"
    );
    let out = run_object(
        Kind::Queue,
        &ObjectCmd::Set {
            id: "sales".into(),
            fields: strings(&["max_calls=20", "max_wait="]),
        },
        &a,
    )
    .unwrap();
    assert!(
        out.lines()
            .any(|l| l.split_whitespace().collect::<Vec<_>>() == ["max_calls", "20"]),
        "{out}"
    );
    assert!(
        out.lines()
            .any(|l| l.split_whitespace().collect::<Vec<_>>() == ["max_wait", "1200"]),
        "{out}"
    );
    let list = run_object(Kind::Queue, &ObjectCmd::Get { id: None }, &a).unwrap();
    let mut lines = list.lines();
    assert_eq!(
        lines.next().unwrap().split_whitespace().collect::<Vec<_>>(),
        [
            "ID",
            "NAME",
            "NUMBERS",
            "ROUTING",
            "MEMBERS",
            "MAX_CALLS",
            "MAX_WAIT",
            "ORIGIN"
        ]
    );
    assert!(
        lines.any(|l| l.starts_with("sales") && l.contains("UK Sales") && l.ends_with("api")),
        "{list}"
    );
    let json = run_object(
        Kind::Queue,
        &ObjectCmd::Get {
            id: Some("sales".into()),
        },
        &args(&addr, true),
    )
    .unwrap();
    let v: Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["members"], serde_json::json!(["amos", "bea"]));
    let out = run_object(Kind::Queue, &ObjectCmd::Remove { id: "sales".into() }, &a).unwrap();
    assert_eq!(out, "removed queue sales");
    match run_object(
        Kind::Queue,
        &ObjectCmd::Get {
            id: Some("sales".into()),
        },
        &a,
    ) {
        Err(ClientError::Api {
            status: 404,
            message,
            ..
        }) => assert_eq!(message, "queue \"sales\" does not exist"),
        other => panic!("expected 404, got {other:?}"),
    }
}

#[test]
fn validation_problems_are_shown_one_per_line() {
    let addr = server();
    let err = run_object(
        Kind::Queue,
        &ObjectCmd::New {
            id: "q".into(),
            fields: strings(&["max_wait=50", "max_calls=300"]),
        },
        &args(&addr, false),
    )
    .unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, ClientError::Api { status: 422, .. }));
    assert!(
        text.contains("\n  queue \"q\": max_wait 50 is not a multiple of 15"),
        "{text}"
    );
    assert!(
        text.contains("\n  queue \"q\": max_calls 300 is out of range; it must be 0–200"),
        "{text}"
    );
    let err = run_object(
        Kind::Queue,
        &ObjectCmd::Set {
            id: "demo".into(),
            fields: strings(&["max_calls=3"]),
        },
        &args(&addr, false),
    )
    .unwrap_err();
    assert!(matches!(err, ClientError::Api { status: 409, .. }), "{err}");
}

#[test]
fn numbers_and_agent_commands_work_end_to_end() {
    let addr = server();
    let a = args(&addr, false);
    run_object(
        Kind::Number,
        &ObjectCmd::New {
            id: "+1 425 555 0102".into(),
            fields: strings(&["kind=service-toll"]),
        },
        &a,
    )
    .unwrap();
    let list = run_object(Kind::Number, &ObjectCmd::Get { id: None }, &a).unwrap();
    let row: Vec<&str> = list
        .lines()
        .find(|l| l.starts_with("+14255550102"))
        .unwrap()
        .split_whitespace()
        .collect();
    assert_eq!(row, ["+14255550102", "service-toll", "-", "api"]);
    let out = run_agent(
        &AgentCmd::Dnd {
            id: "amos".into(),
            state: OnOff::On,
        },
        &a,
    )
    .unwrap();
    assert!(out.starts_with("agent amos  dnd: on\n"), "{out}");
    let out = run_agent(
        &AgentCmd::OptOut {
            id: "amos".into(),
            queue: "demo".into(),
        },
        &a,
    )
    .unwrap();
    let row: Vec<&str> = out
        .lines()
        .find(|l| l.starts_with("demo"))
        .unwrap()
        .split_whitespace()
        .collect();
    assert_eq!(row, ["demo", "false", "true"]);
    let out = run_object(Kind::Queue, &ObjectCmd::Status { id: "demo".into() }, &a).unwrap();
    assert!(
        out.lines()
            .any(|l| l.split_whitespace().collect::<Vec<_>>() == ["amos", "dnd"]),
        "{out}"
    );
}

#[test]
fn wrong_token_and_no_server_are_clear_errors() {
    let addr = server();
    let bad = ApiArgs {
        api: Some(addr),
        token: Some("nope".into()),
        json: false,
    };
    match run_object(Kind::Queue, &ObjectCmd::Get { id: None }, &bad) {
        Err(ClientError::Api {
            status: 401,
            message,
            ..
        }) => assert!(message.contains("bearer token")),
        other => panic!("expected 401, got {other:?}"),
    }
    // A port nothing listens on: bind, note it, close.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let gone = ApiArgs {
        api: Some(format!("127.0.0.1:{port}")),
        token: None,
        json: false,
    };
    let err = run_object(Kind::Queue, &ObjectCmd::Get { id: None }, &gone).unwrap_err();
    assert!(matches!(err, ClientError::Connect { .. }));
    assert!(err.to_string().contains("is `holdline serve` running?"));
}

#[test]
fn clid_new_grant_get_remove_round_trip() {
    use holdline::api::cli::{run, ApiCommand, ClidCmd};
    let addr = server();
    let a = args(&addr, false);
    let clid = |cmd: ClidCmd| run(&ApiCommand::Clid(cmd), &a);
    let out = clid(ClidCmd::Object(ObjectCmd::New {
        id: "demo-cid".into(),
        fields: strings(&[
            "mode=service-number",
            "service_number=+14255550100",
            "allow_override=true",
        ]),
    }))
    .unwrap();
    assert!(
        out.lines().any(|l| l.split_whitespace().collect::<Vec<_>>()
            == ["service_number", "+14255550100"]),
        "{out}"
    );
    // A user of the API's own with outbound calls, granted the policy.
    run_object(
        Kind::User,
        &ObjectCmd::New {
            id: "cy".into(),
            fields: strings(&["password=c", "outbound=national"]),
        },
        &a,
    )
    .expect_err("national needs [outbound] country_code");
    run_object(
        Kind::User,
        &ObjectCmd::New {
            id: "cy".into(),
            fields: strings(&["password=c", "outbound=international"]),
        },
        &a,
    )
    .unwrap();
    let out = clid(ClidCmd::Grant {
        id: "demo-cid".into(),
        user: "cy".into(),
    })
    .unwrap();
    assert!(
        out.lines()
            .any(|l| l.split_whitespace().collect::<Vec<_>>() == ["clid_policy", "demo-cid"]),
        "{out}"
    );
    let list = clid(ClidCmd::Object(ObjectCmd::Get { id: None })).unwrap();
    let row = list
        .lines()
        .find(|l| l.starts_with("demo-cid"))
        .unwrap_or_else(|| panic!("{list}"));
    assert!(
        row.contains("service-number") && row.contains("cy"),
        "{row}"
    );
    // Granted: it cannot be removed (the API names the reason); ungranted, it can.
    let err = clid(ClidCmd::Object(ObjectCmd::Remove {
        id: "demo-cid".into(),
    }))
    .unwrap_err();
    assert!(err.to_string().contains("clid_policy"), "{err}");
    run_object(
        Kind::User,
        &ObjectCmd::Set {
            id: "cy".into(),
            fields: strings(&["clid_policy="]),
        },
        &a,
    )
    .unwrap();
    let out = clid(ClidCmd::Object(ObjectCmd::Remove {
        id: "demo-cid".into(),
    }))
    .unwrap();
    assert_eq!(out, "removed clid_policy demo-cid");
}

#[test]
fn a_queue_s_authorized_users_are_set_as_a_list_and_reset_when_emptied() {
    let addr = server();
    let a = args(&addr, false);
    let get = || -> Value {
        let json = run_object(
            Kind::Queue,
            &ObjectCmd::Get {
                id: Some("deleg".into()),
            },
            &args(&addr, true),
        )
        .unwrap();
        serde_json::from_str(&json).unwrap()
    };
    run_object(
        Kind::Queue,
        &ObjectCmd::New {
            id: "deleg".into(),
            fields: strings(&["authorized_users=amos"]),
        },
        &a,
    )
    .unwrap();
    assert_eq!(get()["authorized_users"], serde_json::json!(["amos"]));
    run_object(
        Kind::Queue,
        &ObjectCmd::Set {
            id: "deleg".into(),
            fields: strings(&["authorized_users=bea, amos"]),
        },
        &a,
    )
    .unwrap();
    assert_eq!(
        get()["authorized_users"],
        serde_json::json!(["bea", "amos"])
    );
    let err = run_object(
        Kind::Queue,
        &ObjectCmd::Set {
            id: "deleg".into(),
            fields: strings(&["authorized_users=zed"]),
        },
        &a,
    )
    .unwrap_err();
    assert!(
        err.to_string()
            .contains("authorized_users names \"zed\", which is not a [[user]]"),
        "{err}"
    );
    run_object(
        Kind::Queue,
        &ObjectCmd::Set {
            id: "deleg".into(),
            fields: strings(&["authorized_users="]),
        },
        &a,
    )
    .unwrap();
    assert_eq!(get()["authorized_users"], serde_json::json!([]));
}
