//! Forward targets that are dial strings (toll fraud): the API reads a `sip:` target's user
//! part as a number with the trunk's rules, so a number in disguise at an allowed host, a
//! feature code, a local number, `maddr` or `?headers` is a 422 naming the field, on create
//! and on update, while a number in the allowed range and a name at the allowed host are kept.

use std::path::PathBuf;
use std::sync::Arc;

use axum::http::StatusCode;
use axum::Router;
use holdline::api::{router, ApiState, FileSource, MemoryLive, Provisioning};
use holdline::store::Store;
use serde_json::{json, Value};

use crate::api_support::{call, problems, FILE, TOKEN};

/// The shared file plus a trunk, with or without rules for numbers written without `+`.
fn app_with_trunk(rules: &str) -> Router {
    let text = format!(
        "{FILE}\n[[trunk]]\nid = \"carrier\"\nproxy = \"sip:203.0.113.9:5060\"\n\
         allow = [\"+1425*\", \"sip:partner.example.com\"]\n{rules}\n"
    );
    let file = FileSource {
        text,
        label: "/etc/holdline/holdline.toml".to_owned(),
        base_dir: PathBuf::from("/etc/holdline"),
    };
    let (mut prov, _) = Provisioning::open(Store::open_in_memory().unwrap(), file).unwrap();
    prov.set_check_files(false);
    let state = ApiState::new(
        prov,
        Arc::new(MemoryLive::default()),
        Some(TOKEN.to_owned()),
    );
    router(state)
}

const NANP: &str = "country_code = \"1\"\nnational_prefix = \"1\"\ninternational_prefix = \"011\"";

/// The targets refused with NANP rules, and what the reason says.
const REFUSED: [(&str, &str); 9] = [
    (
        "sip:011441234567890@partner.example.com",
        "read as +441234567890",
    ),
    (
        "sip:00441234567890@partner.example.com",
        "starts with 0, which trunk \"carrier\" does not know as a prefix",
    ),
    (
        "sip:19005551234;phone-context=+1@partner.example.com;user=phone",
        "local number (phone-context)",
    ),
    (
        "sip:*67+19005551234@partner.example.com",
        "'*' is a feature code",
    ),
    (
        "sip:%2331%2314255550999@partner.example.com",
        "'#' is a feature code",
    ),
    (
        "sip:1-900-555-1234@partner.example.com",
        "read as +19005551234",
    ),
    (
        "sip:support@partner.example.com;maddr=198.51.100.66",
        "maddr",
    ),
    (
        "sip:+14255550999@partner.example.com?Route=%3Csip:198.51.100.66%3E",
        "?headers",
    ),
    ("sip:pw19005551234@partner.example.com", "'p' in a number"),
];

async fn expect_refused(router: &Router, method: &str, path: &str, body: Value, needle: &str) {
    let (status, resp) = call(router, method, path, Some(body.clone())).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {resp}");
    let ps = problems(&resp);
    assert!(
        ps.iter()
            .any(|(f, m)| f == "on_timeout" && m.contains(needle)),
        "{body}: expected a problem on on_timeout containing {needle:?}, got {ps:?}"
    );
}

#[tokio::test]
async fn dial_strings_are_refused_on_create_and_on_update() {
    let r = app_with_trunk(NANP);
    let (status, _) = call(&r, "POST", "/api/v1/queues", Some(json!({ "id": "q" }))).await;
    assert_eq!(status, StatusCode::CREATED);
    for (target, needle) in REFUSED {
        let forward = json!({ "action": "forward", "to": target });
        expect_refused(
            &r,
            "POST",
            "/api/v1/queues",
            json!({ "id": "fresh", "on_timeout": forward }),
            needle,
        )
        .await;
        expect_refused(
            &r,
            "PATCH",
            "/api/v1/queues/q",
            json!({ "on_timeout": forward }),
            needle,
        )
        .await;
    }
    // Nothing was written: only the file's queue and q, which still disconnects.
    let (_, list) = call(&r, "GET", "/api/v1/queues", None).await;
    assert_eq!(list.as_array().unwrap().len(), 2, "{list}");
    let (_, q) = call(&r, "GET", "/api/v1/queues/q", None).await;
    assert_ne!(q["on_timeout"]["action"], "forward", "{q}");
}

#[tokio::test]
async fn national_numbers_need_the_trunks_rules() {
    let r = app_with_trunk("");
    for target in [
        "sip:14255550999@partner.example.com",
        "sip:4255550999@partner.example.com",
    ] {
        expect_refused(
            &r,
            "POST",
            "/api/v1/queues",
            json!({ "id": "q", "on_timeout": { "action": "forward", "to": target } }),
            "has no + and trunk \"carrier\" has no country_code",
        )
        .await;
    }
}

#[tokio::test]
async fn an_allowed_number_is_kept_as_e164_and_a_name_at_the_allowed_host_as_it_is() {
    let r = app_with_trunk(NANP);
    let cases = [
        (
            "sip:1-425-555-0999@partner.example.com;transport=tcp",
            "sip:+14255550999@partner.example.com;user=phone",
        ),
        (
            "sip:4255550999@partner.example.com",
            "sip:+14255550999@partner.example.com;user=phone",
        ),
        (
            "sip:support@partner.example.com;transport=tcp",
            "sip:support@partner.example.com",
        ),
    ];
    for (i, (target, kept)) in cases.into_iter().enumerate() {
        let id = format!("q{i}");
        let body = json!({ "id": id, "on_timeout": { "action": "forward", "to": target } });
        let (status, q) = call(&r, "POST", "/api/v1/queues", Some(body)).await;
        assert_eq!(status, StatusCode::CREATED, "{target}: {q}");
        assert_eq!(q["on_timeout"]["to"], kept, "{target}: {q}");
    }
}
