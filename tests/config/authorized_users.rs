//! `[[queue]] authorized_users` (delegated queue admins): known users, each once, at most 50;
//! default none; every problem names the queue, the field and the user.

use std::path::Path;

use holdline::config::{from_toml_str, Config, ConfigError, UserId};

const USERS: &str = r#"
[[user]]
id = "amos"
password = "amos-pw"

[[user]]
id = "bea"
"#;

fn parse(queue: &str) -> Result<Config, ConfigError> {
    from_toml_str(&format!("{USERS}\n{queue}"), Path::new("/etc/holdline"))
}

fn problems(queue: &str) -> Vec<String> {
    match parse(queue) {
        Ok(_) => panic!("accepted:\n{queue}"),
        Err(e) => e.to_string().lines().map(str::to_owned).collect(),
    }
}

#[test]
fn authorized_users_default_to_none_and_keep_their_order() {
    let c = parse("[[queue]]\nid = \"q\"").unwrap();
    assert!(c.queues[0].authorized_users.is_empty());
    let c = parse("[[queue]]\nid = \"q\"\nauthorized_users = [\"bea\", \"amos\"]").unwrap();
    assert_eq!(
        c.queues[0].authorized_users,
        vec![UserId("bea".into()), UserId("amos".into())]
    );
}

#[test]
fn an_unknown_or_repeated_authorized_user_is_named() {
    let got = problems("[[queue]]\nid = \"q\"\nauthorized_users = [\"amos\", \"zed\", \"amos\"]");
    let want_unknown = "queue \"q\": authorized_users names \"zed\", which is not a [[user]]";
    let want_twice = "queue \"q\": authorized_users lists \"amos\" twice";
    assert!(
        got.iter().any(|l| l == want_unknown),
        "{want_unknown:?} among {got:?}"
    );
    assert!(
        got.iter().any(|l| l == want_twice),
        "{want_twice:?} among {got:?}"
    );
}

#[test]
fn at_most_fifty_authorized_users() {
    let users: String = (0..51)
        .map(|i| format!("[[user]]\nid = \"u{i}\"\n"))
        .collect();
    let list: Vec<String> = (0..51).map(|i| format!("\"u{i}\"")).collect();
    let queue = format!(
        "{users}[[queue]]\nid = \"q\"\nauthorized_users = [{}]",
        list.join(", ")
    );
    let got = problems(&queue);
    assert!(
        got.iter()
            .any(|l| l.contains("authorized_users") && l.contains("the limit is 50")),
        "{got:?}"
    );
    let ok = format!(
        "{users}[[queue]]\nid = \"q\"\nauthorized_users = [{}]",
        list[..50].join(", ")
    );
    assert_eq!(parse(&ok).unwrap().queues[0].authorized_users.len(), 50);
}
