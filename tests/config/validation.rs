//! Configuration validation as `holdline check-config` users see it: every problem names the
//! object, the field and the reason, and all of them are reported at once.

use std::path::Path;
use std::time::Duration;

use holdline::config::{
    self, embedded_default, from_toml_str, Config, ConfigError, Music, NoAgentsAction,
    OverflowAction, Routing, Target, TimeoutAction,
};

/// A valid base: two service numbers, a user number, three users, a group.
const BASE: &str = r#"
[[number]]
e164 = "+14255550100"
kind = "service-toll"

[[number]]
e164 = "+1 (800) 555-0101"
kind = "service-toll-free"

[[number]]
e164 = "+14255550199"
kind = "user"

[[user]]
id = "amos"
name = "Amos Marble"
password = "secret"
numbers = ["+14255550199"]

[[user]]
id = "bea"
contacts = ["sip:bea@192.0.2.7:5062"]

[[user]]
id = "cy"

[[group]]
id = "sales-team"
members = ["bea", "cy"]

[[trunk]]
id = "carrier"
proxy = "sip:198.51.100.10:5060;transport=tcp"
allow = ["+1*", "sip:partner.example.com"]
"#;

fn parse(extra: &str) -> Result<Config, ConfigError> {
    from_toml_str(&format!("{BASE}\n{extra}"), Path::new("/etc/holdline"))
}

/// The problem lines of a configuration that must be refused.
fn problems(extra: &str) -> Vec<String> {
    match parse(extra) {
        Ok(_) => panic!("configuration was accepted:\n{extra}"),
        Err(e) => e.to_string().lines().map(str::to_owned).collect(),
    }
}

fn assert_problem(extra: &str, want: &str) {
    let got = problems(extra);
    assert!(
        got.iter().any(|l| l == want),
        "wanted {want:?} among:\n{}",
        got.join("\n")
    );
}

#[test]
fn embedded_default_is_valid() {
    let c = embedded_default();
    assert_eq!(c.queues[0].name, "Demo Queue");
    assert_eq!(c.sip.listen.len(), 2);
    assert_eq!(c.api.listen.to_string(), "127.0.0.1:8080");
}

#[test]
fn example_config_is_valid() {
    let text = include_str!("../../deploy/holdline.example.toml");
    let c = from_toml_str(text, Path::new("/etc/holdline")).unwrap_or_else(|e| panic!("{e}"));
    assert!(!c.queues.is_empty());
}

#[test]
fn full_queue_is_read_with_defaults_and_resolved_paths() {
    let c = parse(
        r#"
        [[queue]]
        id = "sales"
        name = "UK Sales"
        numbers = ["+1-425-555-0100", "18005550101"]
        addresses = ["sip:sales@example.com"]
        greeting = "media/greeting.mp3"
        music_on_hold = "/srv/moh.wav"
        routing = "serial"
        agents = ["amos", "bea"]
        groups = ["sales-team"]
        on_overflow = { action = "forward", to = "queue:support" }
        on_timeout = { action = "forward", to = "tel:+1 206 555 0100" }

        [[queue]]
        id = "support"
        "#,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let q = &c.queues[0];
    assert_eq!(q.numbers.len(), 2);
    assert_eq!(q.numbers[1].as_str(), "+18005550101");
    assert_eq!(
        q.greeting.as_deref(),
        Some(Path::new("/etc/holdline/media/greeting.mp3"))
    );
    assert_eq!(q.music_on_hold, Music::File("/srv/moh.wav".into()));
    assert_eq!(q.routing, Routing::Serial);
    // agents first, then group members, without the duplicate "bea".
    let members: Vec<&str> = q.members.iter().map(|m| m.as_str()).collect();
    assert_eq!(members, ["amos", "bea", "cy"]);
    assert!(
        matches!(&q.on_overflow, OverflowAction::Forward(Target::Queue(id)) if id.as_str() == "support")
    );
    assert!(
        matches!(&q.on_timeout, TimeoutAction::Forward(Target::Tel { trunk, .. }) if trunk.as_str() == "carrier")
    );
    assert_eq!(q.max_wait, Duration::from_secs(1200));
    assert_eq!(q.agent_alert_time, Duration::from_secs(30));
    assert_eq!(q.max_calls, 50);
    assert!(q.allow_opt_out);
    let s = &c.queues[1];
    assert_eq!(s.name, "support");
    assert_eq!(s.on_overflow, OverflowAction::Busy);
    assert_eq!(s.on_timeout, TimeoutAction::Disconnect);
    assert_eq!(s.no_agents, NoAgentsAction::Queue);
    assert_eq!(c.store.path, Path::new("/etc/holdline/holdline.db"));
}

#[test]
fn max_wait_must_be_multiple_of_15() {
    assert_problem(
        "[[queue]]\nid = \"sales\"\nmax_wait = 50",
        "queue \"sales\": max_wait 50 is not a multiple of 15",
    );
    assert_problem(
        "[[queue]]\nid = \"sales\"\nmax_wait = 2715",
        "queue \"sales\": max_wait 2715 is out of range; it must be 0–2700 s",
    );
    assert!(parse("[[queue]]\nid = \"sales\"\nmax_wait = 0").is_ok());
    assert!(parse("[[queue]]\nid = \"sales\"\nmax_wait = 2700").is_ok());
}

#[test]
fn queue_name_longer_than_64_characters_is_rejected() {
    let name = "x".repeat(70);
    assert_problem(
        &format!("[[queue]]\nid = \"sales\"\nname = \"{name}\""),
        "queue \"sales\": name is 70 characters; the limit is 64",
    );
    // Characters, not bytes: 64 two-byte characters fit.
    let name = "é".repeat(64);
    assert!(parse(&format!("[[queue]]\nid = \"sales\"\nname = \"{name}\"")).is_ok());
}

#[test]
fn limits_outside_their_ranges_are_rejected() {
    let got =
        problems("[[queue]]\nid = \"q\"\nagent_alert_time = 10\nmax_calls = 201\nwrap_up = -1");
    assert!(got.contains(
        &"queue \"q\": agent_alert_time 10 is out of range; it must be 15–180 s".to_owned()
    ));
    assert!(
        got.contains(&"queue \"q\": max_calls 201 is out of range; it must be 0–200".to_owned())
    );
    assert!(got
        .iter()
        .any(|l| l.starts_with("queue \"q\": wrap_up -1 is out of range")));
}

#[test]
fn user_number_cannot_be_assigned_to_queue() {
    assert_problem(
        "[[queue]]\nid = \"sales\"\nnumbers = [\"+14255550199\"]",
        "number \"+14255550199\" is user \"amos\"'s number and cannot be assigned to queue \"sales\"",
    );
    // A declared user number that no [[user]] lists.
    let text = "[[number]]\ne164 = \"+14255550198\"\nkind = \"user\"\n\
                [[queue]]\nid = \"sales\"\nnumbers = [\"+14255550198\"]";
    assert_problem(
        text,
        "number \"+14255550198\" is of kind user and cannot be assigned to queue \"sales\"",
    );
}

#[test]
fn queue_number_must_be_declared() {
    assert_problem(
        "[[queue]]\nid = \"sales\"\nnumbers = [\"+14255550142\"]",
        "queue \"sales\": number +14255550142 is not declared in [[number]] (with kind service-toll or service-toll-free)",
    );
}

#[test]
fn number_assigned_to_two_queues_is_rejected() {
    assert_problem(
        "[[queue]]\nid = \"a\"\nnumbers = [\"+14255550100\"]\n\
         [[queue]]\nid = \"b\"\nnumbers = [\"14255550100\"]",
        "number \"+14255550100\" is assigned to both queue \"a\" and queue \"b\"",
    );
}

#[test]
fn malformed_e164_is_rejected() {
    let got = problems(
        "[[number]]\ne164 = \"+1425\"\nkind = \"service-toll\"\n\
         [[number]]\ne164 = \"0044 20 7946 0000\"\nkind = \"service-toll\"",
    );
    assert!(got
        .contains(&"number \"+1425\": e164 has 4 digits; an E.164 number has 8 to 15".to_owned()));
    assert!(got
        .iter()
        .any(|l| l.starts_with("number \"0044 20 7946 0000\": e164 starts with 0")));
}

#[test]
fn forward_to_missing_queue_is_rejected() {
    assert_problem(
        "[[queue]]\nid = \"a\"\non_timeout = { action = \"forward\", to = \"queue:b\" }",
        "queue \"a\": on_timeout forwards to queue \"b\", which does not exist",
    );
}

#[test]
fn forwarding_loop_between_queues_is_rejected() {
    assert_problem(
        r#"
        [[queue]]
        id = "a"
        on_timeout = { action = "forward", to = "queue:b" }
        [[queue]]
        id = "b"
        on_overflow = { action = "forward", to = "queue:c" }
        [[queue]]
        id = "c"
        no_agents = { action = "forward", to = "queue:a" }
        "#,
        "queue \"a\": forwarding loop: queue \"a\" on_timeout → queue \"b\" on_overflow → queue \"c\" no_agents → queue \"a\"",
    );
    assert_problem(
        "[[queue]]\nid = \"a\"\non_timeout = { action = \"forward\", to = \"queue:a\" }",
        "queue \"a\": forwarding loop: queue \"a\" on_timeout → queue \"a\"",
    );
    // A chain that ends is fine.
    assert!(parse(
        "[[queue]]\nid = \"a\"\non_timeout = { action = \"forward\", to = \"queue:b\" }\n\
         [[queue]]\nid = \"b\"\non_timeout = { action = \"forward\", to = \"user:amos\" }"
    )
    .is_ok());
}

#[test]
fn external_forward_needs_a_trunk_that_allows_it() {
    assert_problem(
        "[[queue]]\nid = \"a\"\non_timeout = { action = \"forward\", to = \"tel:+442079460000\" }",
        "queue \"a\": on_timeout forwards to tel:+442079460000, but no [[trunk]] has an allow entry that admits it",
    );
    assert!(parse(
        "[[queue]]\nid = \"a\"\non_timeout = { action = \"forward\", to = \"sip:desk@partner.example.com\" }"
    )
    .is_ok());
    assert_problem(
        "[[queue]]\nid = \"a\"\non_timeout = { action = \"forward\", to = \"sip:desk@elsewhere.example\" }",
        "queue \"a\": on_timeout forwards to sip:desk@elsewhere.example, but no [[trunk]] has an allow entry that admits it",
    );
}

#[test]
fn forward_to_own_number_must_use_internal_target() {
    let got = problems(
        "[[queue]]\nid = \"a\"\nnumbers = [\"+14255550100\"]\n\
         [[queue]]\nid = \"b\"\non_timeout = { action = \"forward\", to = \"tel:+14255550100\" }",
    );
    assert!(
        got.iter()
            .any(|l| l.contains("one of holdline's own numbers")),
        "{got:?}"
    );
}

#[test]
fn targets_are_checked_for_form() {
    let got = problems(
        r#"
        [[queue]]
        id = "a"
        on_overflow = { action = "forward", to = "sales" }
        on_timeout = { action = "forward", to = "tel:4255550100" }
        no_agents = { action = "forward", to = "user:nobody" }
        "#,
    );
    assert_eq!(got.len(), 3, "{got:?}");
    assert!(got[0].contains("has no kind"));
    assert!(got[1].contains("not a global number"), "{}", got[1]);
    assert_eq!(
        got[2],
        "queue \"a\": no_agents forwards to user \"nobody\", which does not exist"
    );
}

#[test]
fn auto_attendant_targets_are_refused_until_there_are_auto_attendants() {
    // Accepted, every such forward would end in 480 at call time.
    let got = problems(
        r#"
        [[queue]]
        id = "sales"
        on_overflow = { action = "forward", to = "aa:main" }
        on_timeout = { action = "forward", to = "AA:after-hours" }
        "#,
    );
    assert_eq!(
        got,
        [
            "queue \"sales\": on_overflow forwards to aa:main, an auto attendant, but auto \
             attendants are not available yet; forward to queue:ID, user:ID, tel:+E164 or sip:URI",
            "queue \"sales\": on_timeout forwards to AA:after-hours, an auto attendant, but auto \
             attendants are not available yet; forward to queue:ID, user:ID, tel:+E164 or sip:URI",
        ]
    );
}

#[test]
fn actions_are_checked() {
    let got = problems(
        r#"
        [[queue]]
        id = "a"
        on_overflow = { action = "disconnect" }
        on_timeout = { action = "forward" }
        no_agents = { action = "queue", to = "user:amos" }
        "#,
    );
    assert_eq!(
        got,
        [
            "queue \"a\": on_overflow action \"disconnect\" is not one of busy, forward",
            "queue \"a\": on_timeout action \"forward\" needs to = TARGET",
            "queue \"a\": no_agents action \"queue\" takes no \"to\"",
        ]
    );
}

#[test]
fn missing_agents_and_groups_are_named() {
    let got = problems("[[queue]]\nid = \"a\"\nagents = [\"zed\"]\ngroups = [\"nope\"]");
    assert_eq!(
        got,
        [
            "queue \"a\": agent \"zed\" is not a [[user]]",
            "queue \"a\": group \"nope\" is not a [[group]]",
        ]
    );
}

#[test]
fn more_than_50_agents_per_queue_is_rejected() {
    let mut text = String::new();
    let mut ids = Vec::new();
    for i in 0..51 {
        text.push_str(&format!("[[user]]\nid = \"agent{i}\"\n"));
        ids.push(format!("\"agent{i}\""));
    }
    // 30 listed directly, the rest (and 10 duplicates) through a group.
    text.push_str(&format!(
        "[[group]]\nid = \"many\"\nmembers = [{}]\n",
        ids[20..].join(", ")
    ));
    text.push_str(&format!(
        "[[queue]]\nid = \"big\"\nagents = [{}]\ngroups = [\"many\"]\n",
        ids[..30].join(", ")
    ));
    assert_problem(
        &text,
        "queue \"big\": has 51 agents (from agents and groups, without duplicates); the limit is 50",
    );
    // 50 is allowed.
    let text = text
        .replace("\"agent50\", ", "")
        .replace(", \"agent50\"", "");
    parse(&text).unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn duplicate_ids_are_rejected() {
    let got = problems("[[user]]\nid = \"amos\"\n[[queue]]\nid = \"a\"\n[[queue]]\nid = \"a\"");
    assert!(got.contains(&"user \"amos\": there is more than one user with id \"amos\"".to_owned()));
    assert!(got.contains(&"queue \"a\": there is more than one queue with id \"a\"".to_owned()));
}

#[test]
fn sip_listen_and_rtp_ports_are_checked() {
    let got = problems(
        r#"
        [sip]
        listen = ["udp:0.0.0.0:5060", "sctp:0.0.0.0:5060", "tcp:localhost:5060", "tls:0.0.0.0:5061"]
        [rtp]
        ports = "20001-30000"
        "#,
    );
    assert_eq!(
        got,
        [
            "[sip]: listen \"sctp:0.0.0.0:5060\" has unknown transport \"sctp\"; use udp, tcp or tls",
            "[sip]: listen \"tcp:localhost:5060\" has \"localhost:5060\", which is not IP:PORT (an IPv6 address goes in brackets: [::]:5060)",
            "[sip]: a tls: listen address needs tls_cert and tls_key (PEM files)",
            "[rtp]: ports \"20001-30000\" starts at odd port 20001; RTP uses even ports (RFC 3550 §11)",
        ]
    );
    assert_problem(
        "[rtp]\nports = \"30000-20000\"",
        "[rtp]: ports \"30000-20000\" must hold at least one RTP/RTCP port pair",
    );
}

#[test]
fn tls_needs_a_listener_and_host_names_are_accepted() {
    // A tls: listener with its files is served now.
    let c = parse(
        "[sip]\nlisten = [\"tls:[::]:5061\"]\ntls_cert = \"tls/cert.pem\"\ntls_key = \"/k.pem\"",
    )
    .unwrap();
    assert_eq!(c.sip.listen[0].to_string(), "tls:[::]:5061");
    // A TLS trunk without a tls: listener: its in-dialog requests would have nowhere to go.
    for proxy in ["sips:198.51.100.10", "sip:198.51.100.10:5061;transport=TLS"] {
        assert_problem(
            &format!("[[trunk]]\nid = \"t2\"\nproxy = \"{proxy}\""),
            &format!(
                "trunk \"t2\": proxy \"{proxy}\" asks for TLS (sips: or transport=tls), and no \
                 tls: listener is configured for its in-dialog requests to reach; add \
                 tls:ADDR:PORT to [sip] listen"
            ),
        );
    }
    // A host name is resolved at run time (RFC 3263 §4), not refused.
    let c = parse("[[trunk]]\nid = \"t2\"\nproxy = \"sip:sbc.carrier.example:5060\"")
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        c.trunks[1].proxy.to_string(),
        "sip:sbc.carrier.example:5060"
    );
}

#[test]
fn dns_servers_are_ip_and_port() {
    let c = parse("[sip]\ndns_servers = [\"127.0.0.1:5353\", \"[::1]:53\"]")
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        c.sip
            .dns_servers
            .iter()
            .map(|a| a.to_string())
            .collect::<Vec<_>>(),
        ["127.0.0.1:5353", "[::1]:53"]
    );
    assert!(parse("")
        .unwrap_or_else(|e| panic!("{e}"))
        .sip
        .dns_servers
        .is_empty());
    assert_problem(
        "[sip]\ndns_servers = [\"192.0.2.53\"]",
        "[sip]: dns_servers entry \"192.0.2.53\" is not IP:port (\"192.0.2.53:53\", \"[2001:db8::53]:53\")",
    );
    assert_problem(
        "[sip]\ndns_servers = []",
        "[sip]: dns_servers is empty; give IP:port of at least one server, or leave it out to use /etc/resolv.conf",
    );
    assert_problem(
        "[sip]\ndns_servers = [\"127.0.0.1:53\", \"127.0.0.1:53\"]",
        "[sip]: dns_servers entry \"127.0.0.1:53\" is given twice",
    );
}

#[test]
fn api_on_a_public_address_requires_a_token() {
    assert_problem(
        "[api]\nlisten = \"0.0.0.0:8080\"",
        "[api]: listen 0.0.0.0:8080 is not a loopback address, so a token is required",
    );
    assert!(parse("[api]\nlisten = \"0.0.0.0:8080\"\ntoken = \"t0k3n\"").is_ok());
}

#[test]
fn admin_password_hash_must_be_an_argon2_phc_string() {
    // A plain password is refused: it would be a password on disk.
    let got = problems("[api]\nadmin_password_hash = \"hunter2\"");
    assert!(
        got.iter().any(
            |l| l.starts_with("[api]: admin_password_hash is not an argon2 PHC string")
                && l.ends_with("make one with `holdline admin-password`")
        ),
        "{got:?}"
    );
    let got = problems(
        "[api]\nadmin_password_hash = \"$pbkdf2-sha256$i=1000$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA\"",
    );
    assert!(
        got.iter()
            .any(|l| l.contains("is a pbkdf2-sha256 hash, not argon2")),
        "{got:?}"
    );
    let phc = holdline::api::console::hash_password("s3cret").unwrap();
    let config = parse(&format!("[api]\nadmin_password_hash = \"{phc}\"")).unwrap();
    assert_eq!(
        config.api.admin_password_hash.as_deref(),
        Some(phc.as_str())
    );
    assert_eq!(
        parse("").unwrap().api.admin_password_hash,
        None,
        "none by default"
    );
}

#[test]
fn all_errors_are_reported_at_once() {
    let err = parse(
        r#"
        [rtp]
        ports = "100-200"
        [[queue]]
        id = "sales"
        max_wait = 50
        routing = "ring-all"
        agents = ["zed"]
        on_timeout = { action = "forward", to = "queue:nowhere" }
        "#,
    )
    .unwrap_err();
    let problems = err.problems();
    assert_eq!(problems.len(), 5, "{err}");
    let fields: Vec<&str> = problems.iter().map(|p| p.field.as_str()).collect();
    assert_eq!(
        fields,
        ["ports", "agents", "routing", "max_wait", "on_timeout"]
    );
    assert_eq!(err.to_string().lines().count(), 5);
}

#[test]
fn unknown_key_names_line_and_key() {
    let err = parse("[[queue]]\nid = \"sales\"\nmax_wiat = 30\n").unwrap_err();
    let ConfigError::Syntax(s) = &err else {
        panic!("wanted a syntax error, got {err}");
    };
    // `parse` joins BASE and the extra text with a newline; max_wiat is the extra's third line.
    let line = format!("{BASE}\n").lines().count() + 3;
    assert_eq!(s.line, Some(line));
    assert_eq!(s.key.as_deref(), Some("queue.max_wiat"));
    let text = err.to_string();
    assert!(
        text.starts_with(&format!(
            "line {line}: queue.max_wiat: unknown field `max_wiat`"
        )),
        "{text}"
    );
}

#[test]
fn wrong_type_names_line_and_key() {
    let err = from_toml_str("[sip]\nlisten = \"udp:0.0.0.0:5060\"\n", Path::new("")).unwrap_err();
    let text = err.to_string();
    assert!(
        text.starts_with("line 2: sip.listen: invalid type"),
        "{text}"
    );
    let err = from_toml_str(
        "[[queue]]\nid = \"a\"\nmax_wait = \"20 minutes\"\n",
        Path::new(""),
    )
    .unwrap_err();
    assert!(
        err.to_string()
            .starts_with("line 3: queue.max_wait: invalid type"),
        "{err}"
    );
}

#[test]
fn unknown_table_is_rejected() {
    let err = from_toml_str("[sipp]\nlisten = []\n", Path::new("")).unwrap_err();
    assert!(err.to_string().starts_with("line 1: "), "{err}");
    assert!(err.to_string().contains("sipp"), "{err}");
}

#[test]
fn load_resolves_paths_and_reports_missing_files() {
    let dir = std::env::temp_dir().join(format!("holdline-config-test-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("media")).unwrap();
    std::fs::write(dir.join("media/greeting.wav"), b"RIFF").unwrap();
    let file = dir.join("holdline.toml");
    let text = format!(
        "{BASE}\n[[queue]]\nid = \"sales\"\ngreeting = \"media/greeting.wav\"\nmusic_on_hold = \"media/missing.wav\"\n"
    );
    std::fs::write(&file, &text).unwrap();
    let err = config::load(&file).unwrap_err();
    let text_err = err.to_string();
    assert_eq!(text_err.lines().count(), 1, "{text_err}");
    assert!(
        text_err.starts_with("queue \"sales\": music_on_hold"),
        "{text_err}"
    );
    assert!(text_err.contains("missing.wav"), "{text_err}");

    std::fs::write(dir.join("media/missing.wav"), b"RIFF").unwrap();
    let c = config::load(&file).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        c.queues[0].greeting.as_deref(),
        Some(dir.join("media/greeting.wav").as_path())
    );
    assert_eq!(c.store.path, dir.join("holdline.db"));
    assert_eq!(
        config::check_config(&file).unwrap(),
        "ok: 1 queue, 3 numbers, 3 users, 1 group, 1 trunk"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn check_config_reports_unreadable_file() {
    let err = config::check_config(Path::new("/nonexistent/holdline.toml")).unwrap_err();
    assert!(
        err.to_string()
            .starts_with("cannot read /nonexistent/holdline.toml"),
        "{err}"
    );
}

#[test]
fn trunk_allow_entries_are_checked() {
    let got = problems(
        "[[trunk]]\nid = \"t2\"\nproxy = \"sip:192.0.2.50\"\nallow = [\"1425*\", \"+1425\", \"sip:bad host\"]",
    );
    assert_eq!(
        got,
        [
            "trunk \"t2\": allow entry \"1425*\" must start with + (a number prefix) or sip: (a host)",
            "trunk \"t2\": allow entry \"+1425\" is not a full number; write \"+1425*\" to allow every number it starts",
            "trunk \"t2\": allow entry \"sip:bad host\" has host \"bad host\", which is not a host name or IP address",
        ]
    );
}

#[test]
fn sip_target_with_number_user_is_checked_as_number() {
    // partner.example.com is allowed as a host, but a numeric user is checked as a number.
    assert_problem(
        "[[queue]]\nid = \"a\"\non_timeout = { action = \"forward\", to = \"sip:+442079460000@partner.example.com\" }",
        "queue \"a\": on_timeout forwards to sip:+442079460000@partner.example.com, but no [[trunk]] has an allow entry that admits it",
    );
    let c = parse(
        "[[queue]]\nid = \"a\"\non_timeout = { action = \"forward\", to = \"sip:+12065550100@partner.example.com\" }",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        matches!(&c.queues[0].on_timeout, TimeoutAction::Forward(Target::Sip { trunk, .. }) if trunk.as_str() == "carrier")
    );
}

#[test]
fn event_log_keeps_a_year_by_default_for_ever_at_zero() {
    let keep = |extra: &str| parse(extra).unwrap().store.keep_events;
    assert_eq!(keep(""), Some(Duration::from_secs(365 * 86_400)));
    assert_eq!(
        keep("[store]\nkeep_events_days = 30"),
        Some(Duration::from_secs(30 * 86_400))
    );
    assert_eq!(keep("[store]\nkeep_events_days = 0"), None);
    assert_problem(
        "[store]\nkeep_events_days = -1",
        "[store]: keep_events_days -1 is out of range; it must be 0–36500 days (0: keep every event)",
    );
}

#[test]
fn serve_listen_flag_takes_tls_like_the_file() {
    use holdline::config::validate::parse_served_listen;
    assert!(parse_served_listen("udp:127.0.0.1:0").is_ok());
    assert!(parse_served_listen("tls:127.0.0.1:5061").is_ok());
    assert!(parse_served_listen("sctp:127.0.0.1:5061").is_err());
}

#[test]
fn trunk_number_rules_are_checked() {
    let got = problems(
        "[[trunk]]\nid = \"t3\"\nproxy = \"sip:192.0.2.50\"\nallow = [\"+1*\"]\n\
         country_code = \"01\"\nnational_prefix = \"1x\"\ninternational_prefix = \"\"",
    );
    for want in [
        "trunk \"t3\": country_code must not start with 0 (no country code does)",
        "trunk \"t3\": national_prefix \"1x\" must be 1 to 4 digits",
        "trunk \"t3\": international_prefix \"\" must be 1 to 4 digits",
    ] {
        assert!(got.iter().any(|l| l == want), "{want:?} among {got:?}");
    }
    assert_problem(
        "[[trunk]]\nid = \"t4\"\nproxy = \"sip:192.0.2.50\"\nnational_prefix = \"0\"",
        "trunk \"t4\": national_prefix needs country_code: a national number is read as that country's",
    );
    let c = parse(
        "[[trunk]]\nid = \"uk\"\nproxy = \"sip:192.0.2.50\"\n\
         country_code = \"+44\"\nnational_prefix = \"0\"\ninternational_prefix = \"00\"",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let uk = c.trunks.iter().find(|t| t.id.as_str() == "uk").unwrap();
    assert_eq!(uk.dialling.country_code.as_deref(), Some("44"));
    assert_eq!(uk.dialling.international_prefix.as_deref(), Some("00"));
}

#[test]
fn sip_target_that_is_a_number_in_disguise_is_refused() {
    assert_problem(
        "[[queue]]\nid = \"a\"\non_timeout = { action = \"forward\", to = \"sip:*67+12065550100@partner.example.com\" }",
        "queue \"a\": on_timeout forwards to sip:*67+12065550100@partner.example.com, which is refused: '*' is a feature code, never passed to a carrier",
    );
    assert_problem(
        "[[queue]]\nid = \"a\"\nno_agents = { action = \"forward\", to = \"sip:12065550100@partner.example.com\" }",
        "queue \"a\": no_agents forwards to sip:12065550100@partner.example.com, which is refused: 12065550100 has no + and trunk \"carrier\" has no country_code or international_prefix that reads it; write the number as +E.164",
    );
}

#[test]
fn server_header_defaults_to_the_name_without_a_version() {
    assert_eq!(parse("").unwrap().sip.user_agent, "holdline");
    let with = |sip: &str| {
        from_toml_str(
            &format!("[sip]\nlisten = [\"udp:127.0.0.1:0\"]\n{sip}"),
            Path::new("/etc/holdline"),
        )
    };
    assert_eq!(with("server_header = \"\"").unwrap().sip.user_agent, "");
    assert_eq!(with("user_agent = \"pbx\"").unwrap().sip.user_agent, "pbx");
    for (sip, want) in [
        (
            "server_header = \"a\\r\\nRoute: x\"",
            "[sip]: server_header must be text without control characters (\"\" sends no header)",
        ),
        (
            "server_header = \"a\"\nuser_agent = \"b\"",
            "[sip]: server_header and user_agent are the same setting; keep server_header only",
        ),
        (
            "user_agent = \"\"",
            "[sip]: user_agent must be non-empty text without control characters",
        ),
    ] {
        let err = with(sip).unwrap_err().to_string();
        assert!(err.lines().any(|l| l == want), "{sip}: {err}");
    }
}

#[test]
fn api_listen_rule_is_the_same_for_the_flag_and_the_file() {
    use holdline::config::validate::api_listen_allowed;
    let any: std::net::SocketAddr = "0.0.0.0:8080".parse().unwrap();
    assert_eq!(
        api_listen_allowed(any, None).unwrap_err(),
        "0.0.0.0:8080 is not a loopback address, so a token is required"
    );
    assert!(api_listen_allowed(any, Some("t")).is_ok());
    assert!(api_listen_allowed("[::1]:0".parse().unwrap(), None).is_ok());
}

#[test]
fn sip_connection_limits_have_defaults_and_are_range_checked() {
    let c = parse("").unwrap().sip.connections;
    assert_eq!(
        c.max_connections, None,
        "derived from the descriptor limit at start"
    );
    assert_eq!(c.max_per_source, 64);
    assert_eq!(c.message_deadline, Duration::from_secs(10));
    assert_eq!(c.idle_timeout, Duration::from_secs(600));
    let c = parse(
        "[sip.connections]\nmax_connections = 500\nmax_per_source = 8\nmessage_deadline = 2\nidle_timeout = 120",
    )
    .unwrap()
    .sip
    .connections;
    assert_eq!(c.max_connections, Some(500));
    assert_eq!(c.max_per_source, 8);
    assert_eq!(c.message_deadline, Duration::from_secs(2));
    assert_eq!(c.idle_timeout, Duration::from_secs(120));
    let got = problems(
        "[sip.connections]\nmax_connections = 3\nmax_per_source = 0\nmessage_deadline = 0\nidle_timeout = 5",
    );
    assert_eq!(
        got,
        [
            "[sip.connections]: max_connections 3 is out of range; it must be 16–1000000",
            "[sip.connections]: max_per_source 0 is out of range; it must be 1–1000000",
            "[sip.connections]: message_deadline 0 is out of range; it must be 1–300 s",
            "[sip.connections]: idle_timeout 5 is out of range; it must be 10–86400 s",
        ]
    );
    assert_problem(
        "[sip.connections]\nmessage_deadline = 60\nidle_timeout = 30",
        "[sip.connections]: message_deadline 60 s is longer than idle_timeout 30 s; a message would never meet it",
    );
    assert!(problems("[sip.connections]\nmax_conections = 10")
        .iter()
        .any(|l| l.contains("max_conections")));
}

#[test]
fn tls_contacts_and_forward_targets_need_what_serves_them() {
    // Without a tls: listener a TLS contact's in-dialog requests would have nowhere to go.
    for contact in [
        "sips:dee@192.0.2.8",
        "sip:dee@192.0.2.8:5061;transport=tls",
        "sip:dee@192.0.2.8:5061;transport=TLS",
    ] {
        assert_problem(
            &format!("[[user]]\nid = \"dee\"\ncontacts = [\"{contact}\"]"),
            &format!(
                "user \"dee\": contact \"{contact}\" asks for TLS (sips: or transport=tls), and no \
                 tls: listener is configured for its in-dialog requests to reach; add \
                 tls:ADDR:PORT to [sip] listen"
            ),
        );
        // With one, it is served.
        let c = parse(&format!(
            "[sip]\nlisten = [\"tls:127.0.0.1:5061\"]\ntls_cert = \"c.pem\"\ntls_key = \"k.pem\"\n\
             [[user]]\nid = \"dee\"\ncontacts = [\"{contact}\"]"
        ))
        .unwrap();
        assert!(c.users.iter().any(|u| u.id.as_str() == "dee"));
    }
    // Plain TCP and UDP contacts stay accepted.
    let c = parse("[[user]]\nid = \"dee\"\ncontacts = [\"sip:dee@192.0.2.8:5062;transport=tcp\"]")
        .unwrap();
    assert!(c
        .users
        .iter()
        .any(|u| u.id.as_str() == "dee" && u.contacts.len() == 1));
    let got = problems(
        "[[queue]]\nid = \"q\"\nname = \"Q\"\nnumbers = [\"+14255550100\"]\nagents = [\"bea\"]\n\
         on_timeout = { action = \"forward\", to = \"sips:partner.example.com\" }",
    );
    // A sips: target must be TLS on every hop; the base's trunk is plain TCP.
    assert!(
        got.iter().any(|l| {
            l == "queue \"q\": target \"sips:partner.example.com\" is sips:, and trunk \"carrier\" \
                is not reached over TLS; a sips: target must be TLS on every hop (RFC 3261 §26.2.2)"
        }),
        "{got:?}"
    );
}

#[test]
fn outbound_idle_timeout_has_a_default_and_outlasts_a_transaction() {
    let c = parse("").unwrap().sip.connections;
    assert_eq!(c.outbound_idle_timeout, Duration::from_secs(240));
    let c = parse("[sip.connections]\noutbound_idle_timeout = 60")
        .unwrap()
        .sip
        .connections;
    assert_eq!(c.outbound_idle_timeout, Duration::from_secs(60));
    // Shorter than 64 x T1 (32 s with the default T1): refused with the reason.
    assert_problem(
        "[sip.connections]\noutbound_idle_timeout = 20",
        "[sip.connections]: outbound_idle_timeout 20 s is shorter than a transaction \
         (64 x t1_ms = 32 s); a request could lose its connection before its answer",
    );
    // With a shorter T1 a shorter timeout is fine.
    let c = parse("[sip]\nt1_ms = 100\n[sip.connections]\noutbound_idle_timeout = 7")
        .unwrap()
        .sip
        .connections;
    assert_eq!(c.outbound_idle_timeout, Duration::from_secs(7));
    assert_problem(
        "[sip.connections]\noutbound_idle_timeout = 0",
        "[sip.connections]: outbound_idle_timeout 0 is out of range; it must be 1–86400 s",
    );
}

#[test]
fn session_timer_keys_have_defaults_and_bounds() {
    let t = parse("").unwrap().sip.session_timer;
    assert_eq!((t.session_expires, t.min_se), (1800, 90));
    let t = parse("[sip]\nsession_expires = 600\nmin_se = 120")
        .unwrap()
        .sip
        .session_timer;
    assert_eq!((t.session_expires, t.min_se), (600, 120));
    // RFC 4028 §4: 90 s is the floor for both.
    assert_problem(
        "[sip]\nsession_expires = 60",
        "[sip]: session_expires 60 is out of range; it must be 90–86400 s",
    );
    assert_problem(
        "[sip]\nmin_se = 30",
        "[sip]: min_se 30 is out of range; it must be 90–86400 s",
    );
    assert_problem(
        "[sip]\nsession_expires = 300\nmin_se = 600",
        "[sip]: min_se (600 s) must not exceed session_expires (300 s)",
    );
}

#[test]
fn service_level_defaults_to_20_s_and_must_be_0_to_2400() {
    let c = parse("[[queue]]\nid = \"q\"").unwrap();
    assert_eq!(c.queues[0].service_level, Duration::from_secs(20));
    let c = parse("[[queue]]\nid = \"q\"\nservice_level = 0").unwrap();
    assert_eq!(c.queues[0].service_level, Duration::ZERO);
    let c = parse("[[queue]]\nid = \"q\"\nservice_level = 2400").unwrap();
    assert_eq!(c.queues[0].service_level, Duration::from_secs(2400));
    assert_problem(
        "[[queue]]\nid = \"q\"\nservice_level = 2401",
        "queue \"q\": service_level 2401 is out of range; it must be 0–2400 s",
    );
    assert_problem(
        "[[queue]]\nid = \"q\"\nservice_level = -1",
        "queue \"q\": service_level -1 is out of range; it must be 0–2400 s",
    );
}
