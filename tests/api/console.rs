//! The web console through the router, without a browser: sign-in (admin token, agent SIP
//! password), the session cookie's attributes, CSRF and origin checks on every change, the
//! sign-in rate limit per source, roles, sign-out, and that a console cookie opens no API route.

use std::net::SocketAddr;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{header, Request, StatusCode};
use axum::Router;
use serde_json::json;
use tower::ServiceExt;

use crate::api_support::{app, call, TOKEN};

const HOST: &str = "console.test:8080";
const ORIGIN: &str = "http://console.test:8080";

struct Answer {
    status: StatusCode,
    headers: axum::http::HeaderMap,
    body: String,
}

/// One request as a browser on `from` sends it: Host, and for a POST the form body and Origin.
async fn send(
    router: &Router,
    method: &str,
    path: &str,
    cookie: Option<&str>,
    form: Option<&str>,
    origin: Option<&str>,
    from: &str,
) -> Answer {
    let mut req = Request::builder()
        .method(method)
        .uri(path)
        .header(header::HOST, HOST);
    if let Some(c) = cookie {
        req = req.header(header::COOKIE, format!("hl_session={c}"));
    }
    if let Some(o) = origin {
        req = req.header(header::ORIGIN, o);
    }
    let mut req = match form {
        Some(f) => req
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from(f.to_owned()))
            .unwrap(),
        None => req.body(Body::empty()).unwrap(),
    };
    let addr: SocketAddr = format!("{from}:40000").parse().unwrap();
    req.extensions_mut().insert(ConnectInfo(addr));
    let resp = router.clone().oneshot(req).await.unwrap();
    let status = resp.status();
    let headers = resp.headers().clone();
    let bytes = axum::body::to_bytes(resp.into_body(), 1 << 22)
        .await
        .unwrap();
    Answer {
        status,
        headers,
        body: String::from_utf8_lossy(&bytes).into_owned(),
    }
}

/// Signs in; the session id from `Set-Cookie`, and the whole header.
async fn sign_in(
    router: &Router,
    user: &str,
    secret: &str,
    from: &str,
) -> (Answer, Option<String>) {
    let form = format!("user={user}&secret={secret}");
    let a = send(
        router,
        "POST",
        "/sign-in",
        None,
        Some(&form),
        Some(ORIGIN),
        from,
    )
    .await;
    let id = a
        .headers
        .get(header::SET_COOKIE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("hl_session="))
        .map(|v| v.split(';').next().unwrap_or("").to_owned());
    (a, id)
}

/// The CSRF token the page's forms carry.
fn csrf(page: &str) -> String {
    let at = page.find("name=\"csrf\" value=\"").expect("a csrf field") + 19;
    page[at..at + 64].to_owned()
}

#[tokio::test]
async fn admin_signs_in_with_the_token_and_gets_a_strict_httponly_cookie() {
    let a = app();
    let (answer, id) = sign_in(&a.router, "", TOKEN, "192.0.2.10").await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER);
    assert_eq!(answer.headers[header::LOCATION], "/admin");
    let cookie = answer.headers[header::SET_COOKIE]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(cookie.contains("HttpOnly"), "{cookie}");
    assert!(cookie.contains("SameSite=Strict"), "{cookie}");
    assert!(!cookie.contains("Secure"), "plain HTTP: {cookie}");
    let id = id.expect("a session id");
    assert_eq!(id.len(), 64);
    let page = send(
        &a.router,
        "GET",
        "/admin",
        Some(&id),
        None,
        None,
        "192.0.2.10",
    )
    .await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("Demo Queue"), "{}", page.body);
    assert_eq!(
        page.headers[header::X_FRAME_OPTIONS],
        "DENY",
        "pages cannot be framed"
    );
    // The cookie is no bearer token: the API still wants its token.
    let api = send(
        &a.router,
        "GET",
        "/api/v1/queues",
        Some(&id),
        None,
        None,
        "192.0.2.10",
    )
    .await;
    assert_eq!(api.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn behind_https_the_cookie_is_secure() {
    let a = app();
    let mut req = Request::builder()
        .method("POST")
        .uri("/sign-in")
        .header(header::HOST, HOST)
        .header(header::ORIGIN, "https://console.test:8080")
        .header("x-forwarded-proto", "https")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(format!("user=&secret={TOKEN}")))
        .unwrap();
    req.extensions_mut()
        .insert(ConnectInfo("192.0.2.11:1".parse::<SocketAddr>().unwrap()));
    let resp = a.router.clone().oneshot(req).await.unwrap();
    let cookie = resp.headers()[header::SET_COOKIE].to_str().unwrap();
    assert!(cookie.contains("; Secure"), "{cookie}");
}

#[tokio::test]
async fn a_change_needs_the_session_s_csrf_token_and_this_origin() {
    let a = app();
    let (_, id) = sign_in(&a.router, "", TOKEN, "192.0.2.20").await;
    let id = id.unwrap();
    let page = send(
        &a.router,
        "GET",
        "/admin/queues/new",
        Some(&id),
        None,
        None,
        "192.0.2.20",
    )
    .await;
    let token = csrf(&page.body);
    let create = |t: &str| format!("csrf={t}&id=made&name=Made");
    for (why, form, origin, cookie) in [
        (
            "no token",
            "id=made".to_owned(),
            Some(ORIGIN),
            Some(id.as_str()),
        ),
        (
            "a wrong token",
            create(&"0".repeat(64)),
            Some(ORIGIN),
            Some(id.as_str()),
        ),
        (
            "a foreign origin",
            create(&token),
            Some("http://evil.example"),
            Some(id.as_str()),
        ),
        ("no session", create(&token), Some(ORIGIN), None),
    ] {
        let r = send(
            &a.router,
            "POST",
            "/admin/queues",
            cookie,
            Some(&form),
            origin,
            "192.0.2.20",
        )
        .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{why}: {}", r.body);
        let (status, _) = call(&a.router, "GET", "/api/v1/queues/made", None).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{why}: nothing created");
    }
    // The right token from this origin: created through the API's own route.
    let r = send(
        &a.router,
        "POST",
        "/admin/queues",
        Some(&id),
        Some(&create(&token)),
        Some(ORIGIN),
        "192.0.2.20",
    )
    .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let (status, made) = call(&a.router, "GET", "/api/v1/queues/made", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(made["name"], "Made");
    assert_eq!(made["origin"], "api");
}

#[tokio::test]
async fn the_validator_s_problems_come_back_on_the_form() {
    let a = app();
    let (_, id) = sign_in(&a.router, "", TOKEN, "192.0.2.21").await;
    let id = id.unwrap();
    let page = send(
        &a.router,
        "GET",
        "/admin/queues/new",
        Some(&id),
        None,
        None,
        "192.0.2.21",
    )
    .await;
    let form = format!(
        "csrf={}&id=q&max_wait=7&numbers=%2B14255550199",
        csrf(&page.body)
    );
    let r = send(
        &a.router,
        "POST",
        "/admin/queues",
        Some(&id),
        Some(&form),
        Some(ORIGIN),
        "192.0.2.21",
    )
    .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.body.contains("id=\"error-max_wait\""), "{}", r.body);
    assert!(r.body.contains("id=\"error-numbers\""), "{}", r.body);
    assert!(r.body.contains("cannot be assigned to queue"), "{}", r.body);
    assert!(r.body.contains("not a multiple of 15"), "{}", r.body);
}

#[tokio::test]
async fn a_file_queue_is_shown_read_only() {
    let a = app();
    let (_, id) = sign_in(&a.router, "", TOKEN, "192.0.2.22").await;
    let page = send(
        &a.router,
        "GET",
        "/admin/queues/demo",
        id.as_deref(),
        None,
        None,
        "192.0.2.22",
    )
    .await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("id=\"read-only\""), "{}", page.body);
    assert!(page.body.contains("<fieldset disabled>"), "{}", page.body);
}

#[tokio::test]
async fn an_agent_signs_in_with_the_sip_password_and_sees_only_their_page() {
    let a = app();
    let (status, _) = call(
        &a.router,
        "POST",
        "/api/v1/users",
        Some(json!({ "id": "cy", "password": "cy-sip-pw" })),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    let (wrong, none) = sign_in(&a.router, "cy", "nope", "192.0.2.30").await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert!(none.is_none());
    // A user without a SIP password cannot sign in at all.
    let (nopw, _) = sign_in(&a.router, "bea", "", "192.0.2.30").await;
    assert_eq!(nopw.status, StatusCode::UNAUTHORIZED);
    let (ok, id) = sign_in(&a.router, "cy", "cy-sip-pw", "192.0.2.30").await;
    assert_eq!(ok.headers[header::LOCATION], "/agent");
    let id = id.unwrap();
    let page = send(
        &a.router,
        "GET",
        "/agent",
        Some(&id),
        None,
        None,
        "192.0.2.30",
    )
    .await;
    assert_eq!(page.status, StatusCode::OK);
    for admin_page in [
        "/admin",
        "/admin/users",
        "/wallboard",
        "/wallboard-data/status",
    ] {
        let r = send(
            &a.router,
            "GET",
            admin_page,
            Some(&id),
            None,
            None,
            "192.0.2.30",
        )
        .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{admin_page}");
    }
    // DND for themselves, through the API's route.
    let form = format!("csrf={}&dnd=on", csrf(&page.body));
    let r = send(
        &a.router,
        "POST",
        "/agent/dnd",
        Some(&id),
        Some(&form),
        Some(ORIGIN),
        "192.0.2.30",
    )
    .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let (_, cy) = call(&a.router, "GET", "/api/v1/agents/cy", None).await;
    assert_eq!(cy["dnd"], true);
    // An agent cannot make admin changes.
    let form = format!("csrf={}&id=x", csrf(&page.body));
    let r = send(
        &a.router,
        "POST",
        "/admin/queues",
        Some(&id),
        Some(&form),
        Some(ORIGIN),
        "192.0.2.30",
    )
    .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn an_agent_opts_out_of_their_queue() {
    let a = app();
    // File users have no password here; an API agent on an API queue that allows opting out.
    call(
        &a.router,
        "POST",
        "/api/v1/users",
        Some(json!({ "id": "dee", "password": "dee-pw" })),
    )
    .await;
    let (status, body) = call(
        &a.router,
        "POST",
        "/api/v1/queues",
        Some(json!({ "id": "help", "agents": ["dee"], "allow_opt_out": true })),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (_, id) = sign_in(&a.router, "dee", "dee-pw", "192.0.2.31").await;
    let id = id.unwrap();
    let page = send(
        &a.router,
        "GET",
        "/agent",
        Some(&id),
        None,
        None,
        "192.0.2.31",
    )
    .await;
    assert!(page.body.contains("id=\"opt-out-help\""), "{}", page.body);
    let form = format!("csrf={}&action=opt-out", csrf(&page.body));
    let r = send(
        &a.router,
        "POST",
        "/agent/queues/help",
        Some(&id),
        Some(&form),
        Some(ORIGIN),
        "192.0.2.31",
    )
    .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let (_, dee) = call(&a.router, "GET", "/api/v1/agents/dee", None).await;
    assert_eq!(dee["queues"][0]["opted_in"], false, "{dee}");
}

#[tokio::test]
async fn failed_sign_ins_are_limited_per_source() {
    let a = app();
    for i in 0..5 {
        let (r, _) = sign_in(&a.router, "", "wrong", "192.0.2.40").await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "failure {i}");
    }
    // Refused now, even with the right token: a guesser learns nothing while refused.
    let (r, id) = sign_in(&a.router, "", TOKEN, "192.0.2.40").await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(id.is_none());
    // Another source is not.
    let (r, id) = sign_in(&a.router, "", TOKEN, "192.0.2.41").await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert!(id.is_some());
}

#[tokio::test]
async fn sign_out_ends_the_session_on_the_server() {
    let a = app();
    let (_, id) = sign_in(&a.router, "", TOKEN, "192.0.2.50").await;
    let id = id.unwrap();
    let page = send(
        &a.router,
        "GET",
        "/admin",
        Some(&id),
        None,
        None,
        "192.0.2.50",
    )
    .await;
    let form = format!("csrf={}", csrf(&page.body));
    let r = send(
        &a.router,
        "POST",
        "/sign-out",
        Some(&id),
        Some(&form),
        Some(ORIGIN),
        "192.0.2.50",
    )
    .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert!(r.headers[header::SET_COOKIE]
        .to_str()
        .unwrap()
        .contains("Max-Age=0"));
    let again = send(
        &a.router,
        "GET",
        "/admin",
        Some(&id),
        None,
        None,
        "192.0.2.50",
    )
    .await;
    assert_eq!(
        again.status,
        StatusCode::SEE_OTHER,
        "the old cookie opens nothing"
    );
    assert_eq!(again.headers[header::LOCATION], "/sign-in");
}

#[tokio::test]
async fn sign_in_from_another_origin_is_refused() {
    let a = app();
    let r = send(
        &a.router,
        "POST",
        "/sign-in",
        None,
        Some(&format!("user=&secret={TOKEN}")),
        Some("http://evil.example"),
        "192.0.2.60",
    )
    .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert!(r.headers.get(header::SET_COOKIE).is_none());
}

#[tokio::test]
async fn assets_are_served_from_the_binary() {
    let a = app();
    let css = send(
        &a.router,
        "GET",
        "/assets/console.css",
        None,
        None,
        None,
        "192.0.2.70",
    )
    .await;
    assert_eq!(css.status, StatusCode::OK);
    assert_eq!(css.headers[header::CONTENT_TYPE], "text/css");
    assert!(css.body.contains(".wallboard"));
    let js = send(
        &a.router,
        "GET",
        "/assets/wallboard.js",
        None,
        None,
        None,
        "192.0.2.70",
    )
    .await;
    assert!(js.body.contains("EventSource"));
    let sign_in = send(&a.router, "GET", "/sign-in", None, None, None, "192.0.2.70").await;
    assert!(
        sign_in.body.contains("name=\"viewport\""),
        "usable on a phone"
    );
    assert!(
        !sign_in.body.contains("http://") && !sign_in.body.contains("https://"),
        "nothing from elsewhere"
    );
}

#[tokio::test]
async fn admin_signs_in_with_the_admin_password() {
    use std::sync::Arc;

    use holdline::api::{ApiState, FileSource, MemoryLive, Provisioning};
    use holdline::store::Store;

    let phc = holdline::api::console::hash_password("pa55-w0rd").unwrap();
    let file = FileSource {
        text: format!("[api]\nlisten = \"127.0.0.1:0\"\nadmin_password_hash = \"{phc}\"\n"),
        label: "/etc/holdline/holdline.toml".to_owned(),
        base_dir: "/etc/holdline".into(),
    };
    let (prov, _) = Provisioning::open(Store::open_in_memory().unwrap(), file).unwrap();
    let state = ApiState::new(
        prov,
        Arc::new(MemoryLive::default()),
        Some(TOKEN.to_owned()),
    );
    let router = holdline::api::router(state);
    let (wrong, _) = sign_in(&router, "", "pa55-w0rD", "192.0.2.80").await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    let (ok, id) = sign_in(&router, "", "pa55-w0rd", "192.0.2.80").await;
    assert_eq!(ok.status, StatusCode::SEE_OTHER);
    assert_eq!(ok.headers[header::LOCATION], "/admin");
    assert!(id.is_some());
    // The token still works beside the password.
    let (ok, _) = sign_in(&router, "", TOKEN, "192.0.2.81").await;
    assert_eq!(ok.headers[header::LOCATION], "/admin");
}

#[tokio::test]
async fn numbers_users_and_groups_are_added_and_removed_through_the_api_routes() {
    let a = app();
    let (_, id) = sign_in(&a.router, "", TOKEN, "192.0.2.90").await;
    let id = id.unwrap();
    let page = send(
        &a.router,
        "GET",
        "/admin/numbers",
        Some(&id),
        None,
        None,
        "192.0.2.90",
    )
    .await;
    let t = csrf(&page.body);
    let post = |path: &'static str, form: String| {
        let router = a.router.clone();
        let id = id.clone();
        async move {
            send(
                &router,
                "POST",
                path,
                Some(&id),
                Some(&form),
                Some(ORIGIN),
                "192.0.2.90",
            )
            .await
        }
    };
    let r = post(
        "/admin/objects/numbers",
        format!("csrf={t}&e164=%2B14255550177&kind=service-toll"),
    )
    .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let (status, n) = call(&a.router, "GET", "/api/v1/numbers/+14255550177", None).await;
    assert_eq!(status, StatusCode::OK, "{n}");
    // The API's refusal comes back on the page.
    let r = post(
        "/admin/objects/numbers",
        format!("csrf={t}&e164=123&kind=service-toll"),
    )
    .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.body.contains("id=\"object-error\""), "{}", r.body);
    let r = post(
        "/admin/objects/users",
        format!("csrf={t}&id=eve&password=pw&contacts=sip%3Aeve%40192.0.2.9"),
    )
    .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let (_, eve) = call(&a.router, "GET", "/api/v1/users/eve", None).await;
    assert_eq!(eve["has_password"], true, "{eve}");
    assert_eq!(eve["contacts"], json!(["sip:eve@192.0.2.9"]));
    let r = post(
        "/admin/objects/groups",
        format!("csrf={t}&id=night&members=eve%2C+bea"),
    )
    .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let (_, night) = call(&a.router, "GET", "/api/v1/groups/night", None).await;
    assert_eq!(night["members"], json!(["eve", "bea"]));
    for (kind, id) in [
        ("groups", "night"),
        ("users", "eve"),
        ("numbers", "%2B14255550177"),
    ] {
        let r = post(
            match kind {
                "groups" => "/admin/objects/groups",
                "users" => "/admin/objects/users",
                _ => "/admin/objects/numbers",
            },
            format!("csrf={t}&op=remove&id={id}"),
        )
        .await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{kind}: {}", r.body);
    }
    let (status, _) = call(&a.router, "GET", "/api/v1/users/eve", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // A file object cannot be removed: the API's 409 is shown.
    let r = post(
        "/admin/objects/users",
        format!("csrf={t}&op=remove&id=amos"),
    )
    .await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert!(r.body.contains("read-only"), "{}", r.body);
}

#[tokio::test]
async fn the_event_log_page_filters_by_queue_kind_agent_and_day() {
    let a = app();
    let event = |at_ms: i64, kind: &str, agent: Option<&str>, call: &str| {
        let e: holdline::store::QueueEvent = serde_json::from_value(json!({
            "at_ms": at_ms, "queue": "demo", "call_id": call, "kind": kind, "agent": agent,
        }))
        .unwrap();
        a.state.record_event(&e).unwrap();
    };
    // 2026-12-06 12:00 and 2026-12-07 12:00 UTC.
    event(1_796_558_400_000, "offered", None, "call-old");
    event(1_796_644_800_000, "answered", Some("amos"), "call-new");
    let (_, id) = sign_in(&a.router, "", TOKEN, "192.0.2.95").await;
    let id = id.unwrap();
    let get = |q: &'static str| {
        let router = a.router.clone();
        let id = id.clone();
        async move {
            send(&router, "GET", q, Some(&id), None, None, "192.0.2.95")
                .await
                .body
        }
    };
    let all = get("/admin/events").await;
    assert!(
        all.contains("call-old") && all.contains("call-new"),
        "{all}"
    );
    assert!(all.contains("2026-12-07 12:00:00"), "{all}");
    let day = get("/admin/events?since=2026-12-07&until=2026-12-07").await;
    assert!(
        !day.contains("call-old") && day.contains("call-new"),
        "{day}"
    );
    let before = get("/admin/events?until=2026-12-06").await;
    assert!(
        before.contains("call-old") && !before.contains("call-new"),
        "{before}"
    );
    let kind = get("/admin/events?kind=offered").await;
    assert!(
        kind.contains("call-old") && !kind.contains("call-new"),
        "{kind}"
    );
    let agent = get("/admin/events?agent=amos").await;
    assert!(
        !agent.contains("call-old") && agent.contains("call-new"),
        "{agent}"
    );
    let bad = get("/admin/events?since=soon").await;
    assert!(bad.contains("is not a date"), "{bad}");
}

#[tokio::test]
async fn editing_a_queue_changes_only_what_was_changed() {
    let a = app();
    let (status, body) = call(
        &a.router,
        "POST",
        "/api/v1/queues",
        Some(json!({
            "id": "ed", "name": "Edit Me", "agents": ["amos"], "max_calls": 7, "max_wait": 60,
            "on_timeout": { "action": "forward", "to": "queue:demo" },
        })),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (_, id) = sign_in(&a.router, "", TOKEN, "192.0.2.96").await;
    let id = id.unwrap();
    let page = send(
        &a.router,
        "GET",
        "/admin/queues/ed",
        Some(&id),
        None,
        None,
        "192.0.2.96",
    )
    .await;
    assert!(
        page.body
            .contains("id=\"max_calls\" name=\"max_calls\" value=\"7\""),
        "{}",
        page.body
    );
    assert!(page.body.contains("value=\"queue:demo\""), "{}", page.body);
    // The form as the page shows it, with max_calls changed.
    let form = format!(
        "csrf={}&name=Edit+Me&numbers=&addresses=&greeting=&music_on_hold=default&routing=attendant\
         &offer=head&agents=amos&groups=&allow_opt_out=on&agent_alert_time=30&wrap_up=0\
         &answer_delay_ms=0&max_calls=9&on_overflow=busy&on_overflow_to=&max_wait=60\
         &on_timeout=forward&on_timeout_to=queue%3Ademo&no_agents=queue&no_agents_to=",
        csrf(&page.body)
    );
    let r = send(
        &a.router,
        "POST",
        "/admin/queues/ed",
        Some(&id),
        Some(&form),
        Some(ORIGIN),
        "192.0.2.96",
    )
    .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let (_, q) = call(&a.router, "GET", "/api/v1/queues/ed", None).await;
    assert_eq!(q["max_calls"], 9);
    assert_eq!(q["name"], "Edit Me");
    assert_eq!(q["max_wait"], 60);
    assert_eq!(
        q["on_timeout"],
        json!({ "action": "forward", "to": "queue:demo" })
    );
    // Emptied: back to the default.
    let form = form.replace("max_wait=60", "max_wait=");
    let r = send(
        &a.router,
        "POST",
        "/admin/queues/ed",
        Some(&id),
        Some(&form),
        Some(ORIGIN),
        "192.0.2.96",
    )
    .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let (_, q) = call(&a.router, "GET", "/api/v1/queues/ed", None).await;
    assert_eq!(q["max_wait"], 1200, "{q}");
}

#[tokio::test]
async fn the_wallboard_reads_queue_status_and_the_live_feed_behind_the_session() {
    let a = app();
    a.live.set_queue(
        "demo",
        holdline::api::live::QueueLive {
            waiting: vec![holdline::api::live::WaitingCall {
                call_id: "c1".into(),
                caller: "sip:caller@example.com".into(),
                position: 1,
                waiting_secs: 42,
            }],
            ..Default::default()
        },
    );
    let (_, id) = sign_in(&a.router, "", TOKEN, "192.0.2.97").await;
    let id = id.unwrap();
    let all = send(
        &a.router,
        "GET",
        "/wallboard-data/status",
        Some(&id),
        None,
        None,
        "192.0.2.97",
    )
    .await;
    assert_eq!(all.status, StatusCode::OK);
    let boards: serde_json::Value = serde_json::from_str(&all.body).unwrap();
    assert_eq!(boards[0]["queue"], "demo", "{boards}");
    assert_eq!(boards[0]["calls_waiting"], 1);
    assert_eq!(boards[0]["longest_wait_secs"], 42);
    let page = send(
        &a.router,
        "GET",
        "/wallboard/demo",
        Some(&id),
        None,
        None,
        "192.0.2.97",
    )
    .await;
    assert!(page.body.contains("data-queue=\"demo\""), "{}", page.body);
    assert!(page.body.contains("/assets/wallboard.js"), "{}", page.body);
    // The feed: headers only (the stream stays open).
    let mut req = Request::builder()
        .uri("/wallboard-data/feed?queue=demo")
        .header(header::HOST, HOST)
        .header(header::COOKIE, format!("hl_session={id}"))
        .body(Body::empty())
        .unwrap();
    req.extensions_mut()
        .insert(ConnectInfo("192.0.2.97:1".parse::<SocketAddr>().unwrap()));
    let resp = a.router.clone().oneshot(req).await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()[header::CONTENT_TYPE], "text/event-stream");
    let none = send(
        &a.router,
        "GET",
        "/wallboard-data/feed",
        None,
        None,
        None,
        "192.0.2.97",
    )
    .await;
    assert_eq!(none.status, StatusCode::SEE_OTHER, "signed out: to sign in");
}

/// 2026-12-07T00:00:00Z in Unix ms.
const DAY0: i64 = 1_796_601_600_000;
const HOUR: i64 = 3_600_000;

fn report_event(
    at_ms: i64,
    call: &str,
    kind: &str,
    agent: Option<&str>,
    waited_ms: i64,
) -> holdline::store::QueueEvent {
    holdline::store::QueueEvent {
        seq: 0,
        at_ms,
        queue: "demo".into(),
        call_id: call.into(),
        agent: agent.map(str::to_owned),
        kind: kind.into(),
        detail: None,
        waited_ms: Some(waited_ms),
    }
}

/// On 2026-12-07: in the 09:00 hour c1 answered by amos after 12 s (talked 50 s) and c2
/// abandoned after 40 s; at 14:00 c3 answered by bea after 30 s. The day before: one offer.
fn seed_calls(a: &crate::api_support::App) {
    let t9 = DAY0 + 9 * HOUR;
    let t14 = DAY0 + 14 * HOUR;
    let mut completed = report_event(t9 + 62_000, "c1", "completed", Some("amos"), 62_000);
    completed.detail = Some("talked 50000 ms".into());
    a.state
        .record_events(&[
            report_event(DAY0 - HOUR, "old", "offered", None, 0),
            report_event(t9, "c1", "offered", None, 0),
            report_event(t9, "c1", "agent-ringing", Some("amos"), 0),
            report_event(t9 + 12_000, "c1", "answered", Some("amos"), 12_000),
            completed,
            report_event(t9 + 600_000, "c2", "offered", None, 0),
            report_event(t9 + 640_000, "c2", "abandoned", None, 40_000),
            report_event(t14, "c3", "offered", None, 0),
            report_event(t14 + 30_000, "c3", "answered", Some("bea"), 30_000),
        ])
        .unwrap();
}

#[tokio::test]
async fn the_wallboard_s_today_row_is_the_wallboard_api_s_figures() {
    let a = app();
    fn evening() -> i64 {
        DAY0 + 20 * HOUR
    }
    a.state.prov().set_wall_clock(evening);
    seed_calls(&a);
    let (_, id) = sign_in(&a.router, "", TOKEN, "192.0.2.98").await;
    let id = id.unwrap();
    let get = |path: &'static str| {
        let router = a.router.clone();
        let id = id.clone();
        async move {
            let got = send(&router, "GET", path, Some(&id), None, None, "192.0.2.98").await;
            assert_eq!(got.status, StatusCode::OK, "{path}: {}", got.body);
            serde_json::from_str::<serde_json::Value>(&got.body).unwrap()
        }
    };
    let (status, api) = call(&a.router, "GET", "/api/v1/wallboard/demo", None).await;
    assert_eq!(status, StatusCode::OK, "{api}");
    for path in [
        "/wallboard-data/status",
        "/wallboard-data/status?queue=demo",
    ] {
        let boards = get(path).await;
        let board = &boards[0];
        assert_eq!(board["queue"], "demo", "{boards}");
        assert_eq!(
            board["today"], api["today"],
            "{path}: the API's figures, unchanged"
        );
        let shown: Vec<(String, String)> = board["today_shown"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| (p[0].as_str().unwrap().into(), p[1].as_str().unwrap().into()))
            .collect();
        let t = &api["today"];
        let avg = t["avg_wait_ms"].as_u64().unwrap() / 1000;
        let expected = vec![
            ("offered".into(), t["offered"].to_string()),
            ("answered".into(), t["answered"].to_string()),
            ("abandoned".into(), t["abandoned"].to_string()),
            (
                "average wait".into(),
                format!("{}:{:02}", avg / 60, avg % 60),
            ),
            (
                "service level".into(),
                format!("{}%", t["service_level_pct"].as_f64().unwrap().round()),
            ),
        ];
        assert_eq!(shown, expected, "{path}");
        // And the known day: 3 offered (yesterday's not), 2 answered, 1 abandoned, waits
        // 12 s and 30 s, one of two within the 20 s service level.
        assert_eq!(
            shown.iter().map(|(_, v)| v.as_str()).collect::<Vec<_>>(),
            ["3", "2", "1", "0:21", "50%"],
            "{path}"
        );
    }
}

/// The value of the report page's cell `data-k="{key}"`.
fn cell<'p>(page: &'p str, key: &str) -> &'p str {
    let marker = format!("data-k=\"{key}\">");
    let at = page
        .find(&marker)
        .unwrap_or_else(|| panic!("no cell {key}: {page}"))
        + marker.len();
    &page[at..at + page[at..].find('<').unwrap()]
}

#[tokio::test]
async fn the_reports_page_shows_a_known_day_s_figures_tables_and_charts() {
    let a = app();
    seed_calls(&a);
    let (_, id) = sign_in(&a.router, "", TOKEN, "192.0.2.99").await;
    let id = id.unwrap();
    let page = send(
        &a.router,
        "GET",
        "/admin/reports?queue=demo&from=2026-12-07&to=2026-12-08&interval=hour&utc_offset=",
        Some(&id),
        None,
        None,
        "192.0.2.99",
    )
    .await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    let p = page.body.as_str();
    assert!(
        p.contains("href=\"/admin/reports\""),
        "in the admin navigation"
    );
    // The day: 3 offered (not yesterday's), 2 answered after 12 s and 30 s, 1 abandoned after
    // 40 s, one answer within the 20 s service level, 50 s talked.
    let totals: Vec<&str> = [
        "offered",
        "answered",
        "abandoned",
        "overflowed",
        "timed_out",
        "avg_wait",
        "p90_wait",
        "avg_abandon",
        "service_level",
        "talk",
    ]
    .iter()
    .map(|k| cell(p, &format!("demo-total-{k}")))
    .collect();
    assert_eq!(
        totals,
        ["3", "2", "1", "0", "0", "0:21", "0:30", "0:40", "50%", "0:50"]
    );
    // Per hour: 09:00 had c1 and c2, 14:00 had c3 (30 s: outside the service level).
    assert_eq!(cell(p, "demo-12-07 09:00-offered"), "2");
    assert_eq!(cell(p, "demo-12-07 09:00-abandoned"), "1");
    assert_eq!(cell(p, "demo-12-07 09:00-service_level"), "100%");
    assert_eq!(cell(p, "demo-12-07 14:00-answered"), "1");
    assert_eq!(cell(p, "demo-12-07 14:00-service_level"), "0%");
    assert_eq!(cell(p, "demo-12-07 10:00-offered"), "0");
    assert_eq!(cell(p, "demo-12-07 10:00-avg_wait"), "–");
    // Agents: amos answered c1 and talked 50 s; bea answered c3.
    assert_eq!(cell(p, "agent-amos-answered"), "1");
    assert_eq!(cell(p, "agent-amos-talk"), "0:50");
    assert_eq!(cell(p, "agent-bea-answered"), "1");
    assert_eq!(cell(p, "agent-amos-offers"), "1", "rung once");
    // The charts: server-rendered SVG, one bar per figure, no script.
    assert_eq!(p.matches("<svg class=\"chart\"").count(), 2, "{p}");
    assert!(!p.contains("<script"), "no JavaScript on the page");
    for bar in [
        "class=\"bar answered\" data-label=\"12-07 09:00\" data-value=\"1\"",
        "class=\"bar abandoned\" data-label=\"12-07 09:00\" data-value=\"1\"",
        "class=\"bar answered\" data-label=\"12-07 14:00\" data-value=\"1\"",
        "class=\"bar answered\" data-label=\"≤20 s\" data-value=\"1\"",
        "class=\"bar answered\" data-label=\"≤30 s\" data-value=\"1\"",
    ] {
        assert!(p.contains(bar), "{bar}: {p}");
    }
    assert_eq!(p.matches("<rect class=\"bar").count(), 5, "{p}");
    // The CSV links carry the form's query.
    assert!(
        p.contains("href=\"/admin/reports/queues.csv?from=2026-12-07&#38;to=2026-12-08&#38;interval=hour&#38;queue=demo\""),
        "{p}"
    );

    // A bad parameter: the API's problem, naming it, and no tables.
    let bad = send(
        &a.router,
        "GET",
        "/admin/reports?from=soon&to=2026-12-08",
        Some(&id),
        None,
        None,
        "192.0.2.99",
    )
    .await;
    assert_eq!(bad.status, StatusCode::OK);
    assert!(
        bad.body.contains("from: &#34;soon&#34; is not a time"),
        "{}",
        bad.body
    );
    assert!(!bad.body.contains("data-k="), "{}", bad.body);
}

#[tokio::test]
async fn the_reports_csv_download_is_the_api_s_csv_behind_the_session() {
    let a = app();
    seed_calls(&a);
    let (_, id) = sign_in(&a.router, "", TOKEN, "192.0.2.100").await;
    let id = id.unwrap();
    for which in ["queues", "agents"] {
        let query = "from=2026-12-07&to=2026-12-08&interval=hour&queue=demo";
        let got = send(
            &a.router,
            "GET",
            &format!("/admin/reports/{which}.csv?{query}"),
            Some(&id),
            None,
            None,
            "192.0.2.100",
        )
        .await;
        assert_eq!(got.status, StatusCode::OK, "{}", got.body);
        assert_eq!(got.headers[header::CONTENT_TYPE], "text/csv; charset=utf-8");
        assert_eq!(
            got.headers[header::CONTENT_DISPOSITION],
            format!("attachment; filename=\"{which}.csv\"").as_str()
        );
        let req = Request::builder()
            .uri(format!("/api/v1/reports/{which}?{query}&format=csv"))
            .header(header::AUTHORIZATION, format!("Bearer {TOKEN}"))
            .body(Body::empty())
            .unwrap();
        let api = a.router.clone().oneshot(req).await.unwrap();
        let api = axum::body::to_bytes(api.into_body(), 1 << 22)
            .await
            .unwrap();
        assert_eq!(got.body.as_bytes(), &api[..], "{which}: the API's CSV");
        // 24 hours of one queue (or two agents), a header row.
        let rows = got.body.lines().count();
        assert_eq!(
            rows,
            if which == "queues" { 25 } else { 49 },
            "{}",
            got.body
        );
    }
    let missing = send(
        &a.router,
        "GET",
        "/admin/reports/other.csv",
        Some(&id),
        None,
        None,
        "192.0.2.100",
    )
    .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn reports_are_refused_to_agents_and_signed_out_browsers() {
    let a = app();
    seed_calls(&a);
    let (status, _) = call(
        &a.router,
        "POST",
        "/api/v1/users",
        Some(json!({ "id": "cy", "password": "cy-sip-pw" })),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    let (_, agent) = sign_in(&a.router, "cy", "cy-sip-pw", "192.0.2.101").await;
    let agent = agent.unwrap();
    for path in [
        "/admin/reports?from=2026-12-07&to=2026-12-08",
        "/admin/reports/queues.csv?from=2026-12-07&to=2026-12-08",
        "/admin/reports/agents.csv?from=2026-12-07&to=2026-12-08",
    ] {
        let r = send(
            &a.router,
            "GET",
            path,
            Some(&agent),
            None,
            None,
            "192.0.2.101",
        )
        .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{path}: {}", r.body);
        assert!(!r.body.contains("demo"), "{path}: nothing of the report");
        let out = send(&a.router, "GET", path, None, None, None, "192.0.2.101").await;
        assert_eq!(out.status, StatusCode::SEE_OTHER, "{path}");
        assert_eq!(out.headers[header::LOCATION], "/sign-in");
        assert!(out.body.is_empty(), "{path}: {}", out.body);
    }
}

/// An app whose file declares two trunks (one health-checked), with their SBCs' health in the
/// live state and one SBC's fall logged.
fn trunks_app() -> crate::api_support::App {
    use holdline::api::live::SbcHealthInfo;
    use holdline::api::{router, ApiState, FileSource, MemoryLive, Provisioning};
    use holdline::store::Store;
    let source = FileSource {
        text: format!(
            "{}{}",
            crate::api_support::FILE,
            r#"
[[trunk]]
id = "carrier"
sbcs = [{ uri = "sip:192.0.2.10:5060", priority = 1, weight = 50 },
        { uri = "sip:192.0.2.11:5060", priority = 2 }]
health_interval = 30
down_after = 4
allow = ["+1*"]
auth = { username = "acct", password = "trunk-secret-pw" }

[[trunk]]
id = "backup"
proxy = "sip:198.51.100.10"
allow = ["+1*"]
"#
        ),
        base_dir: std::path::PathBuf::from("/etc/holdline"),
        ..crate::api_support::file_source()
    };
    let (mut prov, _) = Provisioning::open(Store::open_in_memory().unwrap(), source).unwrap();
    prov.set_check_files(false);
    let live = std::sync::Arc::new(MemoryLive::default());
    let state = ApiState::new(prov, live.clone(), Some(TOKEN.to_owned()));
    live.set_sbcs(vec![
        SbcHealthInfo {
            trunk: "carrier".into(),
            uri: "sip:192.0.2.10:5060".into(),
            state: "up".into(),
            rtt_ms: Some(42),
            retry_after_secs: None,
            failures_in_a_row: 0,
        },
        SbcHealthInfo {
            trunk: "carrier".into(),
            uri: "sip:192.0.2.11:5060".into(),
            state: "down".into(),
            rtt_ms: None,
            retry_after_secs: Some(20),
            failures_in_a_row: 4,
        },
    ]);
    state
        .record_events(&[holdline::store::QueueEvent {
            seq: 0,
            at_ms: DAY0 + 9 * HOUR,
            queue: String::new(),
            call_id: String::new(),
            agent: None,
            kind: "trunk-sbc-down".into(),
            detail: Some("trunk carrier sbc sip:192.0.2.11:5060".into()),
            waited_ms: None,
        }])
        .unwrap();
    crate::api_support::App {
        router: router(state.clone()),
        state,
        live,
    }
}

/// The table row of the SBC `uri` on the trunks page.
fn sbc_row<'p>(page: &'p str, uri: &str) -> &'p str {
    let at = page
        .find(&format!("data-uri=\"{uri}\""))
        .unwrap_or_else(|| panic!("no row for {uri}: {page}"));
    let end = page[at..].find("</tr>").map_or(page.len(), |e| at + e);
    &page[at..end]
}

#[tokio::test]
async fn the_trunks_page_shows_each_sbc_s_health_and_the_trunk_s_settings() {
    let a = trunks_app();
    let (_, id) = sign_in(&a.router, "", TOKEN, "192.0.2.60").await;
    let id = id.unwrap();
    let page = send(
        &a.router,
        "GET",
        "/admin/trunks",
        Some(&id),
        None,
        None,
        "192.0.2.60",
    )
    .await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    let body = &page.body;
    assert!(body.contains("href=\"/admin/trunks\""), "in the nav");
    assert!(body.contains("id=\"trunk-carrier\""), "{body}");
    assert!(body.contains("id=\"trunk-backup\""), "{body}");
    let up = sbc_row(body, "sip:192.0.2.10:5060");
    assert!(up.contains(">up</span>"), "{up}");
    assert!(up.contains("42 ms"), "{up}");
    assert!(up.contains("<td class=\"last-change\">–</td>"), "{up}");
    let down = sbc_row(body, "sip:192.0.2.11:5060");
    assert!(down.contains(">down</span>"), "{down}");
    assert!(down.contains("20 s left"), "the Retry-After hold: {down}");
    assert!(
        down.contains("2026-12-07 09:00:00 UTC (down)"),
        "the logged change: {down}"
    );
    // The backup trunk has no health checks: its state is not known.
    let unchecked = sbc_row(body, "sip:198.51.100.10");
    assert!(unchecked.contains(">unknown</span>"), "{unchecked}");
    // Settings from the file, read-only, without the password.
    assert!(
        body.contains("<code>down_after</code></th><td>4</td>"),
        "{body}"
    );
    assert!(body.contains("username acct"), "{body}");
    assert!(
        !body.contains("trunk-secret-pw"),
        "the password is never shown"
    );
    assert!(body.contains("read-only"), "{body}");

    // Agents and signed-out browsers do not see it.
    let signed_out = send(
        &a.router,
        "GET",
        "/admin/trunks",
        None,
        None,
        None,
        "192.0.2.60",
    )
    .await;
    assert_eq!(signed_out.status, StatusCode::SEE_OTHER);
    assert_eq!(signed_out.headers[header::LOCATION], "/sign-in");
}

/// The queue form as a page shows it, with `max_calls` set and an extra field.
fn queue_form(csrf: &str, max_calls: u32, extra: &str) -> String {
    format!(
        "csrf={csrf}&name=Mine&numbers=&addresses=&greeting=&music_on_hold=default\
         &routing=attendant&offer=head&agents=&groups=&allow_opt_out=on&agent_alert_time=30\
         &wrap_up=0&answer_delay_ms=0&max_calls={max_calls}&on_overflow=busy&on_overflow_to=\
         &max_wait=60&on_timeout=disconnect&on_timeout_to=&no_agents=queue&no_agents_to={extra}"
    )
}

#[tokio::test]
async fn a_delegated_admin_edits_only_their_queue_and_nothing_else() {
    let a = app();
    for user in [json!({ "id": "del", "password": "del-pw" })] {
        let (status, body) = call(&a.router, "POST", "/api/v1/users", Some(user)).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    for q in [
        json!({ "id": "mine", "name": "Mine", "authorized_users": ["del"], "max_calls": 5 }),
        json!({ "id": "theirs", "name": "Theirs", "max_calls": 6 }),
    ] {
        let (status, body) = call(&a.router, "POST", "/api/v1/queues", Some(q)).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    let (_, mine) = call(&a.router, "GET", "/api/v1/queues/mine", None).await;
    assert_eq!(mine["authorized_users"], json!(["del"]), "stored: {mine}");
    let from = "192.0.2.70";
    let (ok, id) = sign_in(&a.router, "del", "del-pw", from).await;
    assert_eq!(ok.headers[header::LOCATION], "/agent");
    let id = id.unwrap();
    let get = |path: &'static str| {
        let router = a.router.clone();
        let id = id.clone();
        async move { send(&router, "GET", path, Some(&id), None, None, from).await }
    };
    // Their page links the queue they manage, and its form opens.
    let agent = get("/agent").await;
    assert!(
        agent.body.contains("href=\"/admin/queues/mine\""),
        "{}",
        agent.body
    );
    assert!(!agent.body.contains("/admin/queues/theirs"));
    let form_page = get("/admin/queues/mine").await;
    assert_eq!(form_page.status, StatusCode::OK, "{}", form_page.body);
    assert!(
        !form_page.body.contains("name=\"delete\""),
        "no remove button for a delegated admin"
    );
    assert!(
        !form_page.body.contains("name=\"authorized_users\""),
        "no authorized users field for a delegated admin"
    );
    // Every other admin page is refused, on the server.
    for path in [
        "/admin",
        "/admin/queues/theirs",
        "/admin/queues/nosuch",
        "/admin/queues/new",
        "/admin/users",
        "/admin/numbers",
        "/admin/trunks",
        "/admin/prompts",
        "/admin/events",
        "/admin/reports",
        "/wallboard",
    ] {
        let r = get(path).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{path}: {}", r.body);
    }
    let token = csrf(&agent.body);
    let post = |path: &'static str, form: String| {
        let router = a.router.clone();
        let id = id.clone();
        async move {
            send(
                &router,
                "POST",
                path,
                Some(&id),
                Some(&form),
                Some(ORIGIN),
                from,
            )
            .await
        }
    };
    // Their queue: the edit goes through, and nothing else of it changes.
    let r = post("/admin/queues/mine", queue_form(&token, 9, "")).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    assert_eq!(r.headers[header::LOCATION], "/agent");
    let (_, mine) = call(&a.router, "GET", "/api/v1/queues/mine", None).await;
    assert_eq!(mine["max_calls"], 9, "{mine}");
    assert_eq!(mine["authorized_users"], json!(["del"]));
    // They cannot widen the list: the field is not read from their form.
    let r = post(
        "/admin/queues/mine",
        queue_form(&token, 9, "&authorized_users=del%2Cmallory"),
    )
    .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let (_, mine) = call(&a.router, "GET", "/api/v1/queues/mine", None).await;
    assert_eq!(mine["authorized_users"], json!(["del"]), "{mine}");
    // Members, numbers and forwards stay with admins: a forward to a premium number and a
    // new agent posted by a delegated admin change nothing of them (toll fraud otherwise).
    let (_, before) = call(&a.router, "GET", "/api/v1/queues/mine", None).await;
    let forged = queue_form(&token, 10, "")
        .replace("&agents=&", "&agents=del&")
        .replace("&numbers=&", "&numbers=%2B14255550100&")
        .replace(
            "&no_agents=queue&no_agents_to=",
            "&no_agents=forward&no_agents_to=tel%3A%2B19005550100",
        );
    let r = post("/admin/queues/mine", forged).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let (_, after) = call(&a.router, "GET", "/api/v1/queues/mine", None).await;
    assert_eq!(
        after["max_calls"], 10,
        "the rest of the form applies: {after}"
    );
    for key in [
        "no_agents",
        "agents",
        "numbers",
        "on_overflow",
        "on_timeout",
    ] {
        assert_eq!(after[key], before[key], "{key} unchanged: {after}");
    }
    assert!(!after.to_string().contains("19005550100"), "{after}");
    // Without the CSRF token, even their own queue is refused.
    let r = post("/admin/queues/mine", queue_form("", 11, "")).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    // Another queue, removing theirs, creating one, numbers and users: refused, unchanged.
    let r = post("/admin/queues/theirs", queue_form(&token, 1, "")).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
    let r = post("/admin/queues/mine", format!("csrf={token}&delete=yes")).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
    let r = post("/admin/queues", format!("csrf={token}&id=new1")).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = post(
        "/admin/objects/numbers",
        format!("csrf={token}&e164=%2B14255550177&kind=user"),
    )
    .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = post(
        "/admin/objects/users",
        format!("csrf={token}&op=remove&id=del"),
    )
    .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let (_, theirs) = call(&a.router, "GET", "/api/v1/queues/theirs", None).await;
    assert_eq!(theirs["max_calls"], 6, "{theirs}");
    let (status, _) = call(&a.router, "GET", "/api/v1/queues/mine", None).await;
    assert_eq!(status, StatusCode::OK, "still there");
    let (status, _) = call(&a.router, "GET", "/api/v1/queues/new1", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Taken off the list by an admin: refused at the next request, no new sign-in needed.
    let (status, body) = call(
        &a.router,
        "PATCH",
        "/api/v1/queues/mine",
        Some(json!({ "authorized_users": [] })),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let r = get("/admin/queues/mine").await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = post("/admin/queues/mine", queue_form(&token, 12, "")).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn an_admin_sets_a_queue_s_authorized_users_on_the_form_and_unknown_users_are_named() {
    let a = app();
    let (status, body) = call(
        &a.router,
        "POST",
        "/api/v1/queues",
        Some(json!({ "id": "mine", "name": "Mine" })),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let from = "192.0.2.71";
    let (_, id) = sign_in(&a.router, "", TOKEN, from).await;
    let id = id.unwrap();
    let page = send(
        &a.router,
        "GET",
        "/admin/queues/mine",
        Some(&id),
        None,
        None,
        from,
    )
    .await;
    assert!(
        page.body.contains("name=\"authorized_users\""),
        "{}",
        page.body
    );
    let token = csrf(&page.body);
    let post = |form: String| {
        let router = a.router.clone();
        let id = id.clone();
        async move {
            send(
                &router,
                "POST",
                "/admin/queues/mine",
                Some(&id),
                Some(&form),
                Some(ORIGIN),
                from,
            )
            .await
        }
    };
    let r = post(queue_form(&token, 5, "&authorized_users=amos")).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let (_, q) = call(&a.router, "GET", "/api/v1/queues/mine", None).await;
    assert_eq!(q["authorized_users"], json!(["amos"]), "{q}");
    // A user who does not exist: the validator's sentence next to the field.
    let r = post(queue_form(&token, 5, "&authorized_users=nobody")).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
    assert!(
        r.body.contains("id=\"error-authorized_users\""),
        "{}",
        r.body
    );
    assert!(r.body.contains("which is not a [[user]]"), "{}", r.body);
    // Emptied: nobody else may edit it.
    let r = post(queue_form(&token, 5, "&authorized_users=")).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let (_, q) = call(&a.router, "GET", "/api/v1/queues/mine", None).await;
    assert_eq!(q["authorized_users"], json!([]), "{q}");
}

/// One waiting call on the demo queue's live state.
fn waiting(n: usize) -> holdline::api::live::QueueLive {
    holdline::api::live::QueueLive {
        waiting: (0..n)
            .map(|i| holdline::api::live::WaitingCall {
                call_id: format!("c{i}"),
                caller: "sip:caller@example.com".into(),
                position: i as u32 + 1,
                waiting_secs: 5,
            })
            .collect(),
        ..Default::default()
    }
}

#[tokio::test]
async fn the_wallboard_feed_says_changed_once_a_tick_and_screens_share_the_figures() {
    use futures_util::StreamExt;
    let a = app();
    let (_, id) = sign_in(&a.router, "", TOKEN, "192.0.2.98").await;
    let id = id.unwrap();
    let mut req = Request::builder()
        .uri("/wallboard-data/feed?queue=demo")
        .header(header::HOST, HOST)
        .header(header::COOKIE, format!("hl_session={id}"))
        .body(Body::empty())
        .unwrap();
    req.extensions_mut()
        .insert(ConnectInfo("192.0.2.98:1".parse::<SocketAddr>().unwrap()));
    let resp = a.router.clone().oneshot(req).await.unwrap();
    let mut body = resp.into_body().into_data_stream();
    // Twenty events for the board's queue (and one for another) in a burst.
    let burst: Vec<_> = (0..20)
        .map(|i| report_event(DAY0 + i, &format!("b{i}"), "offered", None, 0))
        .collect();
    let logged = a.state.record_events(&burst).unwrap();
    let newest = logged.last().unwrap().seq;
    let mut other = report_event(DAY0 + 99, "x", "offered", None, 0);
    other.queue = "elsewhere".into();
    let other = a.state.record_events(&[other]).unwrap()[0].seq;
    assert!(other > newest);
    let mut text = String::new();
    // The feed stays open: read what it sends in 2.5 s.
    let _ = tokio::time::timeout(std::time::Duration::from_millis(2_500), async {
        while let Some(Ok(chunk)) = body.next().await {
            text.push_str(&String::from_utf8_lossy(&chunk));
        }
    })
    .await;
    let changed: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("id:"))
        .map(|l| l["id:".len()..].trim())
        .collect();
    assert!(
        text.matches("event: changed").count() <= 2,
        "at most one a tick over 2.5 s: {text}"
    );
    // Every screen is told the same newest event of the tick (any queue's), so all ask for
    // the same figures.
    assert_eq!(
        changed.last().copied(),
        Some(other.to_string().as_str()),
        "the newest event of the tick: {text}"
    );
    assert!(!text.contains("offered"), "no event itself: {text}");

    // The figures: computed for the first screen, served to the next that saw no newer event.
    let status = |seq: i64| {
        let router = a.router.clone();
        let id = id.clone();
        async move {
            let path = format!("/wallboard-data/status?queue=demo&seq={seq}");
            let r = send(&router, "GET", &path, Some(&id), None, None, "192.0.2.98").await;
            assert_eq!(r.status, StatusCode::OK);
            let v: serde_json::Value = serde_json::from_str(&r.body).unwrap();
            v[0]["calls_waiting"].as_u64().unwrap()
        }
    };
    a.live.set_queue("demo", waiting(1));
    assert_eq!(status(newest).await, 1);
    a.live.set_queue("demo", waiting(2));
    assert_eq!(status(newest).await, 1, "shared: not computed again");
    assert_eq!(status(newest + 1).await, 2, "a newer event: computed again");
    // (Their age limit is the unit test's: this app's wall clock stands still.)
}
