//! The TLS keys of the configuration: `[sip] tls_cert`, `tls_key`, `tls_client_ca` and a
//! trunk's `tls_ca`, `tls_name`, `tls_cert`, `tls_key`. Their shape is checked with the rest
//! of the file; their contents (PEM, a key that belongs to its certificate) by the runtime, for
//! `check-config` and at start-up. Every problem names the field.

use std::path::Path;

use holdline::config::{self, Config, Problem};
use holdline::runtime::tls::check;
use holdline_testkit::tls::Pki;
use holdline_testkit::{holdline_bin, scratch_dir};

fn p(path: &Path) -> String {
    path.display().to_string()
}

/// A configuration with a `tls:` listener serving `cert` and `key`, plus `extra`.
fn config_text(cert: &str, key: &str, extra: &str) -> String {
    format!(
        "[sip]\nlisten = [\"udp:127.0.0.1:0\", \"tls:127.0.0.1:0\"]\n\
         tls_cert = {cert:?}\ntls_key = {key:?}\n{extra}"
    )
}

fn build(text: &str) -> Config {
    config::from_toml_str(text, Path::new("/")).expect("the shape is valid")
}

/// (field, message) of each problem.
fn fields(problems: &[Problem]) -> Vec<(String, String)> {
    problems
        .iter()
        .map(|p| (p.field.clone(), p.message.clone()))
        .collect()
}

fn assert_field(problems: &[Problem], subject: &str, field: &str, needle: &str) {
    assert!(
        problems
            .iter()
            .any(|p| p.subject == subject && p.field == field && p.message.contains(needle)),
        "wanted {subject}: {field} … {needle:?} among {:?}",
        fields(problems)
    );
}

#[test]
fn good_files_pass_and_each_bad_file_is_named_by_its_field() {
    let dir = scratch_dir("tls-config");
    let pki = Pki::new(&dir, "ca");
    let a = pki.issue("a", &["pbx.test"]);
    let b = pki.issue("b", &["pbx.test"]);
    let good = build(&config_text(&p(&a.cert_pem), &p(&a.key_pem), ""));
    assert_eq!(fields(&check(&good)), vec![]);

    // A key that is not the certificate's.
    let mismatch = build(&config_text(&p(&a.cert_pem), &p(&b.key_pem), ""));
    assert_field(
        &check(&mismatch),
        "[sip]",
        "tls_key",
        "does not match the certificate in tls_cert",
    );

    // Not PEM at all, and PEM that is broken.
    let junk = dir.join("junk.pem");
    std::fs::write(&junk, "this is not a certificate\n").unwrap();
    let broken = dir.join("broken.pem");
    std::fs::write(&broken, "-----BEGIN CERTIFICATE-----\nnot base64 at all\n").unwrap();
    let c = build(&config_text(&p(&junk), &p(&a.key_pem), ""));
    assert_field(
        &check(&c),
        "[sip]",
        "tls_cert",
        "holds no PEM CERTIFICATE block",
    );
    let c = build(&config_text(&p(&broken), &p(&a.key_pem), ""));
    assert_field(&check(&c), "[sip]", "tls_cert", "is not valid PEM");
    let c = build(&config_text(&p(&a.cert_pem), &p(&junk), ""));
    assert_field(&check(&c), "[sip]", "tls_key", "holds no PEM private key");
    // A certificate where the key should be is no key either.
    let c = build(&config_text(&p(&a.cert_pem), &p(&a.cert_pem), ""));
    assert_field(&check(&c), "[sip]", "tls_key", "holds no PEM private key");

    // The client CA of a listener that requires client certificates.
    let c = build(&config_text(
        &p(&a.cert_pem),
        &p(&a.key_pem),
        &format!("tls_client_ca = {:?}\n", p(&junk)),
    ));
    assert_field(
        &check(&c),
        "[sip]",
        "tls_client_ca",
        "holds no PEM CERTIFICATE block",
    );
    let c = build(&config_text(
        &p(&a.cert_pem),
        &p(&a.key_pem),
        &format!("tls_client_ca = {:?}\n", p(&pki.ca_pem())),
    ));
    assert_eq!(fields(&check(&c)), vec![]);
}

#[test]
fn a_missing_tls_file_is_reported_by_check_config_with_its_field() {
    let dir = scratch_dir("tls-missing");
    let file = dir.join("holdline.toml");
    std::fs::write(
        &file,
        config_text(
            "nope/cert.pem",
            "nope/key.pem",
            "[store]\npath = \"holdline.db\"\n",
        ),
    )
    .unwrap();
    let err = config::load(&file).unwrap_err().to_string();
    assert!(
        err.contains("[sip]: tls_cert")
            && err.contains("cert.pem")
            && err.contains("does not exist"),
        "{err}"
    );
    assert!(err.contains("[sip]: tls_key"), "{err}");
}

#[test]
fn check_config_reads_the_tls_files() {
    let dir = scratch_dir("tls-check-config");
    let pki = Pki::new(&dir, "ca");
    let a = pki.issue("a", &["pbx.test"]);
    let b = pki.issue("b", &["pbx.test"]);
    let file = dir.join("holdline.toml");
    let run = |cert: &Path, key: &Path| {
        std::fs::write(
            &file,
            config_text(&p(cert), &p(key), "[store]\npath = \"holdline.db\"\n"),
        )
        .unwrap();
        std::process::Command::new(holdline_bin())
            .arg("check-config")
            .arg(&file)
            .output()
            .expect("run check-config")
    };
    let ok = run(&a.cert_pem, &a.key_pem);
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let bad = run(&a.cert_pem, &b.key_pem);
    assert_eq!(bad.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&bad.stderr);
    assert!(
        stderr.contains("[sip]: tls_key") && stderr.contains("does not match the certificate"),
        "{stderr}"
    );
}

/// A configuration with a TLS listener and a trunk whose table is `trunk`.
fn with_trunk(pki: &Pki, trunk: &str) -> Result<Config, Vec<Problem>> {
    let leaf = pki.issue("listener", &["pbx.test"]);
    let text = config_text(
        &p(&leaf.cert_pem),
        &p(&leaf.key_pem),
        &format!("[[trunk]]\nid = \"carrier\"\nallow = [\"+1*\"]\n{trunk}"),
    );
    config::from_toml_str(&text, Path::new("/")).map_err(|e| e.problems().to_vec())
}

#[test]
fn trunk_tls_keys_are_checked_with_the_field_named() {
    let dir = scratch_dir("tls-trunk-config");
    let pki = Pki::new(&dir, "ca");
    let client = pki.issue("client", &["holdline.test"]);
    let other = pki.issue("other", &["holdline.test"]);
    let subject = "trunk \"carrier\"";
    let tls_proxy = "proxy = \"sips:192.0.2.10:5061\"\n";

    // The whole set: CA, name, client certificate; the files read.
    let c = with_trunk(
        &pki,
        &format!(
            "{tls_proxy}tls_ca = {:?}\ntls_name = \"sbc.carrier.test\"\ntls_cert = {:?}\ntls_key = {:?}\n",
            p(&pki.ca_pem()),
            p(&client.cert_pem),
            p(&client.key_pem)
        ),
    )
    .expect("valid");
    let tls = c.trunks[0].tls.clone().expect("a TLS trunk");
    assert_eq!(tls.name.as_deref(), Some("sbc.carrier.test"));
    assert!(tls.client.is_some());
    assert_eq!(fields(&check(&c)), vec![]);

    // A client key that is not the certificate's, and a CA file that is no CA.
    let c = with_trunk(
        &pki,
        &format!(
            "{tls_proxy}tls_ca = {:?}\ntls_cert = {:?}\ntls_key = {:?}\n",
            p(&client.key_pem),
            p(&client.cert_pem),
            p(&other.key_pem)
        ),
    )
    .expect("valid shape");
    let problems = check(&c);
    assert_field(
        &problems,
        subject,
        "tls_key",
        "does not match the certificate in tls_cert",
    );
    assert_field(
        &problems,
        subject,
        "tls_ca",
        "holds no PEM CERTIFICATE block",
    );

    // Half a client certificate, a name that is no host name.
    let problems = with_trunk(
        &pki,
        &format!(
            "{tls_proxy}tls_cert = {:?}\ntls_name = \"not a name!\"\n",
            p(&client.cert_pem)
        ),
    )
    .unwrap_err();
    assert_field(
        &problems,
        subject,
        "tls_key",
        "tls_cert is set without tls_key",
    );
    assert_field(&problems, subject, "tls_name", "tls_name has host");

    // TLS keys on a trunk that is not reached over TLS.
    let problems = with_trunk(
        &pki,
        &format!(
            "proxy = \"sip:192.0.2.10:5060\"\ntls_ca = {:?}\n",
            p(&pki.ca_pem())
        ),
    )
    .unwrap_err();
    assert_field(&problems, subject, "tls_ca", "is not reached over TLS");
}

#[test]
fn a_missing_trunk_tls_file_is_reported_with_its_field() {
    let dir = scratch_dir("tls-trunk-missing");
    let pki = Pki::new(&dir, "ca");
    let leaf = pki.issue("listener", &["pbx.test"]);
    let file = dir.join("holdline.toml");
    std::fs::write(
        &file,
        config_text(
            &p(&leaf.cert_pem),
            &p(&leaf.key_pem),
            "[store]\npath = \"holdline.db\"\n[[trunk]]\nid = \"carrier\"\n\
             proxy = \"sip:192.0.2.10:5061;transport=tls\"\nallow = [\"+1*\"]\n\
             tls_ca = \"missing-ca.pem\"\n",
        ),
    )
    .unwrap();
    let err = config::load(&file).unwrap_err().to_string();
    assert!(
        err.contains("trunk \"carrier\": tls_ca") && err.contains("missing-ca.pem"),
        "{err}"
    );
}

#[test]
fn listener_tls_keys_without_a_tls_listener_are_refused() {
    let err = config::from_toml_str(
        "[sip]\nlisten = [\"udp:127.0.0.1:0\"]\ntls_client_ca = \"ca.pem\"\ntls_ca = \"phones.pem\"\n",
        Path::new("/"),
    )
    .unwrap_err();
    let problems = err.problems();
    assert_field(
        problems,
        "[sip]",
        "tls_client_ca",
        "no tls: listener is configured",
    );
    assert_field(
        problems,
        "[sip]",
        "tls_ca",
        "no tls: listener is configured",
    );
}

#[test]
fn tls_ca_for_contacts_is_read() {
    let dir = scratch_dir("tls-peer-ca");
    let pki = Pki::new(&dir, "ca");
    let a = pki.issue("a", &["pbx.test"]);
    let junk = dir.join("junk.pem");
    std::fs::write(&junk, "no certificates here\n").unwrap();
    let c = build(&config_text(
        &p(&a.cert_pem),
        &p(&a.key_pem),
        &format!("tls_ca = {:?}\n", p(&junk)),
    ));
    assert_field(
        &check(&c),
        "[sip]",
        "tls_ca",
        "holds no PEM CERTIFICATE block",
    );
    let c = build(&config_text(
        &p(&a.cert_pem),
        &p(&a.key_pem),
        &format!("tls_ca = {:?}\n", p(&pki.ca_pem())),
    ));
    assert_eq!(fields(&check(&c)), vec![]);
}
