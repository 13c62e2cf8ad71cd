//! Trunks as peers on the way in: `[sip] inbound` / `inbound_refuse`, a trunk's `sources`
//! (addresses and CIDRs, never host names), `plus`, and the TLS settings of each SBC of a
//! trunk with mixed transports. Every problem names the field and the reason.

use std::net::IpAddr;
use std::path::Path;

use holdline::config::inbound::{trunk_of_source, InboundMode, Refusal};
use holdline::config::trunk_numbers::PlusForm;
use holdline::config::{from_toml_str, Config, Problem};

fn parse(text: &str) -> Result<Config, Vec<Problem>> {
    from_toml_str(text, Path::new("/")).map_err(|e| e.problems().to_vec())
}

fn trunk(extra: &str) -> String {
    format!(
        "[[trunk]]\nid = \"carrier\"\nproxy = \"sip:203.0.113.50\"\nallow = [\"+44*\"]\n{extra}"
    )
}

fn problem(problems: &[Problem], subject: &str, field: &str) -> String {
    problems
        .iter()
        .find(|p| p.subject == subject && p.field == field)
        .map(|p| p.message.clone())
        .unwrap_or_else(|| panic!("no problem for {subject}: {field} among {problems:?}"))
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

#[test]
fn the_policy_defaults_to_any_and_403() {
    let c = parse("").unwrap();
    assert_eq!(c.sip.inbound.mode, InboundMode::Any);
    assert_eq!(c.sip.inbound.refuse, Refusal::Forbidden);
    let c = parse("[sip]\ninbound = \"trunks\"\ninbound_refuse = \"drop\"\n").unwrap();
    assert_eq!(c.sip.inbound.mode, InboundMode::Trunks);
    assert_eq!(c.sip.inbound.refuse, Refusal::Drop);
}

#[test]
fn unknown_policy_values_name_the_field_and_the_choices() {
    let problems = parse("[sip]\ninbound = \"carriers\"\ninbound_refuse = \"404\"\n").unwrap_err();
    assert!(problem(&problems, "[sip]", "inbound").contains("\"any\" or \"trunks\""));
    assert!(problem(&problems, "[sip]", "inbound_refuse").contains("\"403\""));
}

#[test]
fn sources_default_to_the_sbcs_and_take_addresses_and_cidrs() {
    let c = parse(&trunk("")).unwrap();
    assert_eq!(
        trunk_of_source(&c.trunks, ip("203.0.113.50")).map(|t| t.id.as_str()),
        Some("carrier")
    );
    assert!(trunk_of_source(&c.trunks, ip("203.0.113.51")).is_none());

    let c = parse(&trunk(
        "sources = [\"198.51.100.0/24\", \"2001:db8::/32\", \"192.0.2.7\"]",
    ))
    .unwrap();
    for yes in [
        "198.51.100.200",
        "2001:db8:1::9",
        "192.0.2.7",
        "::ffff:198.51.100.1",
    ] {
        assert!(trunk_of_source(&c.trunks, ip(yes)).is_some(), "{yes}");
    }
    // Given sources replace the SBCs' addresses.
    for no in ["203.0.113.50", "192.0.2.8", "2001:db9::1"] {
        assert!(trunk_of_source(&c.trunks, ip(no)).is_none(), "{no}");
    }
}

#[test]
fn host_names_and_bad_cidrs_in_sources_are_refused_with_the_reason() {
    let problems = parse(&trunk("sources = [\"sbc.carrier.example\"]")).unwrap_err();
    let msg = problem(&problems, "trunk \"carrier\"", "sources");
    assert!(
        msg.contains("host names in sources are not resolved; give addresses or CIDRs"),
        "{msg}"
    );
    for bad in ["10.0.0.1/8", "10.0.0.0/40", "nonsense!"] {
        let problems = parse(&trunk(&format!("sources = [{bad:?}]"))).unwrap_err();
        let msg = problem(&problems, "trunk \"carrier\"", "sources");
        assert!(msg.contains(bad), "{msg}");
    }
    let problems = parse(&trunk("sources = []")).unwrap_err();
    assert!(problem(&problems, "trunk \"carrier\"", "sources").contains("empty"));
}

#[test]
fn plus_is_keep_strip_or_add() {
    let c = parse(&trunk("")).unwrap();
    assert_eq!(c.trunks[0].dialling.plus, PlusForm::Keep);
    let c = parse(&trunk("plus = \"strip\"")).unwrap();
    assert_eq!(c.trunks[0].dialling.plus, PlusForm::Strip);
    let problems = parse(&trunk("plus = \"drop\"")).unwrap_err();
    assert!(
        problem(&problems, "trunk \"carrier\"", "plus").contains("\"keep\", \"strip\" or \"add\"")
    );
}

/// A trunk whose first SBC is UDP and whose second is TLS, with `listen` and `extra` keys.
fn mixed(listen: &str, extra: &str) -> Result<Config, Vec<Problem>> {
    parse(&format!(
        "[sip]\nlisten = [{listen}]\ntls_cert = \"c.pem\"\ntls_key = \"k.pem\"\n\
         [[trunk]]\nid = \"carrier\"\nallow = [\"+44*\"]\n\
         sbcs = [{{ uri = \"sip:203.0.113.10:5060\", priority = 1 }},\n\
                 {{ uri = \"sip:203.0.113.11:5061;transport=tls\", priority = 2 }}]\n{extra}"
    ))
}

#[test]
fn a_tls_sbc_behind_a_udp_one_is_checked_for_its_own_tls() {
    // No tls: listener: the TLS SBC is named, not the first one.
    let problems = mixed("\"udp:127.0.0.1:0\"", "").unwrap_err();
    let msg = problem(&problems, "trunk \"carrier\"", "sbcs[1]");
    assert!(
        msg.contains("203.0.113.11:5061") && msg.contains("no tls: listener"),
        "{msg}"
    );
    // Half a client certificate: refused, naming the TLS SBC it would be for.
    let problems = mixed(
        "\"udp:127.0.0.1:0\", \"tls:127.0.0.1:0\"",
        "tls_cert = \"client.pem\"",
    )
    .unwrap_err();
    let msg = problem(&problems, "trunk \"carrier\"", "tls_key");
    assert!(msg.contains("203.0.113.11:5061"), "{msg}");
    // With a listener, the trunk's TLS keys are kept for that SBC (before, they were refused
    // because the first SBC is not TLS).
    let c = mixed(
        "\"udp:127.0.0.1:0\", \"tls:127.0.0.1:0\"",
        "tls_ca = \"carrier-ca.pem\"\ntls_name = \"sbc.carrier.example\"",
    )
    .unwrap();
    let tls = c.trunks[0].tls.as_ref().expect("the trunk's TLS settings");
    assert_eq!(tls.name.as_deref(), Some("sbc.carrier.example"));
}

#[test]
fn a_sips_target_needs_every_sbc_of_its_trunk_on_tls() {
    let queue = "[[number]]\ne164 = \"+442071234567\"\nkind = \"service-toll\"\n\
                 [[queue]]\nid = \"q\"\nnumbers = [\"+442071234567\"]\n\
                 on_timeout = { action = \"forward\", to = \"sips:support@partner.example.com\" }\n";
    let listen = "\"udp:127.0.0.1:0\", \"tls:127.0.0.1:0\"";
    // The first SBC is TLS, the backup is UDP: failover could carry the sips: target in clear.
    let text = format!(
        "[sip]\nlisten = [{listen}]\ntls_cert = \"c.pem\"\ntls_key = \"k.pem\"\n\
         [[trunk]]\nid = \"carrier\"\nallow = [\"sip:partner.example.com\"]\n\
         sbcs = [{{ uri = \"sip:203.0.113.10:5061;transport=tls\", priority = 1 }},\n\
                 {{ uri = \"sip:203.0.113.11:5060\", priority = 2 }}]\n{queue}"
    );
    let problems = parse(&text).unwrap_err();
    let msg = problem(&problems, "queue \"q\"", "on_timeout");
    assert!(msg.contains("every hop"), "{msg}");
    // Both on TLS: accepted.
    let text = text.replace("sip:203.0.113.11:5060", "sips:203.0.113.11:5061");
    assert!(parse(&text).is_ok(), "{:?}", parse(&text).err());
}

/// A trunk's own calls must not be refused as strangers' under `inbound = "trunks"`: an SBC
/// given by host name has no address ahead of DNS, so its trunk must list `sources`; and a
/// trunk's `srtp` is matched by SBC address, so it is refused on a named SBC rather than
/// silently not applied.
#[test]
fn named_sbcs_need_sources_under_trunks_and_take_no_trunk_srtp() {
    let named = "[[trunk]]\nid = \"carrier\"\nproxy = \"sip:sbc.carrier.example;transport=tcp\"\nallow = [\"+44*\"]\n";
    let strict = "[sip]\ninbound = \"trunks\"\n";
    let problems = parse(&format!("{strict}{named}")).unwrap_err();
    let why = problem(&problems, "trunk \"carrier\"", "sources");
    assert!(
        why.contains("sbc.carrier.example") && why.contains("sources"),
        "{why}"
    );
    // Listing them, or the default policy, is accepted.
    parse(&format!("{strict}{named}sources = [\"203.0.113.0/28\"]\n")).unwrap();
    parse(named).unwrap();

    let problems = parse(&format!("{named}srtp = \"none\"\n")).unwrap_err();
    let why = problem(&problems, "trunk \"carrier\"", "srtp");
    assert!(why.contains("host name"), "{why}");
    // By address it is taken.
    let c = parse(&trunk("srtp = \"none\"\n")).unwrap();
    assert!(c.trunks[0].srtp.is_some());
}
