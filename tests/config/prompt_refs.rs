//! `[media] dir` and `max_upload_mb`, and queues naming uploaded prompts as `prompt:ID`: where
//! prompts live, what a reference resolves to, and the errors for bad values.

use std::path::{Path, PathBuf};

use holdline::config::{from_toml_str, Config, ConfigError, Music};

const QUEUE: &str = r#"
[[number]]
e164 = "+14255550100"
kind = "service-toll"

[[user]]
id = "amos"

[[queue]]
id = "sales"
numbers = ["+14255550100"]
agents = ["amos"]
"#;

fn parse(head: &str, queue_lines: &str) -> Result<Config, ConfigError> {
    from_toml_str(
        &format!("{head}\n{QUEUE}{queue_lines}\n"),
        Path::new("/etc/holdline"),
    )
}

fn problems(head: &str, queue_lines: &str) -> Vec<String> {
    match parse(head, queue_lines) {
        Ok(_) => panic!("accepted:\n{head}\n{queue_lines}"),
        Err(e) => e.to_string().lines().map(|l| l.trim().to_owned()).collect(),
    }
}

#[test]
fn uploads_default_to_20_mb_in_prompts_beside_the_store() {
    let c = parse("[store]\npath = \"/var/lib/holdline/h.db\"", "").unwrap();
    assert_eq!(c.media.max_upload_bytes, 20 * 1024 * 1024);
    assert_eq!(
        c.media.prompt_dir.as_deref(),
        Some(Path::new("/var/lib/holdline/prompts"))
    );
    let c = parse("[media]\ndir = \"uploads\"\nmax_upload_mb = 5", "").unwrap();
    assert_eq!(c.media.max_upload_bytes, 5 * 1024 * 1024);
    assert_eq!(
        c.media.prompt_dir.as_deref(),
        Some(Path::new("/etc/holdline/uploads"))
    );
    let c = parse("[store]\npath = \":memory:\"", "").unwrap();
    assert_eq!(c.media.prompt_dir, None);
}

#[test]
fn bad_upload_settings_name_the_field() {
    let got = problems("[media]\nmax_upload_mb = 0", "");
    assert!(
        got.iter()
            .any(|l| l.contains("[media]") && l.contains("max_upload_mb")),
        "{got:?}"
    );
    let got = problems("[media]\nmax_upload_mb = 513", "");
    assert!(got.iter().any(|l| l.contains("max_upload_mb")), "{got:?}");
    let got = problems("[media]\ndir = \" \"", "");
    assert!(got.iter().any(|l| l.contains("dir is empty")), "{got:?}");
}

#[test]
fn a_prompt_reference_resolves_to_the_stored_file() {
    let c = parse(
        "[store]\npath = \"/var/lib/holdline/h.db\"",
        "greeting = \"prompt:0123456789abcdef\"\nmusic_on_hold = \"prompt:fedcba9876543210\"",
    )
    .unwrap();
    let q = &c.queues[0];
    assert_eq!(
        q.greeting.as_deref(),
        Some(Path::new("/var/lib/holdline/prompts/0123456789abcdef"))
    );
    assert_eq!(
        q.music_on_hold,
        Music::File(PathBuf::from("/var/lib/holdline/prompts/fedcba9876543210"))
    );
}

#[test]
fn malformed_references_and_references_without_a_prompt_directory_are_refused() {
    let got = problems("", "greeting = \"prompt:../secrets\"");
    assert!(
        got.iter().any(|l| l.contains("queue \"sales\"")
            && l.contains("greeting \"prompt:../secrets\" is not a prompt id")),
        "{got:?}"
    );
    let got = problems(
        "[store]\npath = \":memory:\"",
        "music_on_hold = \"prompt:0123456789abcdef\"",
    );
    assert!(
        got.iter()
            .any(|l| l.contains("music_on_hold") && l.contains("no prompt directory")),
        "{got:?}"
    );
}
