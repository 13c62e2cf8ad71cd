//! Routing Request-URIs to queues: numbers in every form a carrier or phone sends them, SIP
//! addresses, and misses that all look alike.

use std::path::Path;

use holdline::config::uri::parse_sip_uri;
use holdline::config::{embedded_default, from_toml_str, QueueId, ServiceDirectory};
use holdline::number::E164;
use holdline::sip::uri::{Params, TelUri, Uri};

const CONFIG: &str = r#"
[[number]]
e164 = "+14255550100"
kind = "service-toll"

[[number]]
e164 = "+18005550101"
kind = "service-toll-free"

[[number]]
e164 = "+14255550199"
kind = "user"

[[number]]
e164 = "+14255550177"
kind = "service-toll"

[[user]]
id = "amos"
numbers = ["+14255550199"]

[[queue]]
id = "sales"
numbers = ["+1 (425) 555-0100", "+1 800 555 0101"]
addresses = ["sip:sales@Example.com", "sip:ventas@example.com"]

[[queue]]
id = "support"
addresses = ["sip:Support@example.com"]
"#;

fn directory() -> ServiceDirectory {
    let config = from_toml_str(CONFIG, Path::new("")).unwrap_or_else(|e| panic!("{e}"));
    ServiceDirectory::new(&config)
}

fn sip(text: &str) -> Uri {
    Uri::Sip(parse_sip_uri(text).unwrap_or_else(|e| panic!("{text} {e}")))
}

fn tel(number: &str, params: &[(&str, &str)]) -> Uri {
    Uri::Tel(TelUri {
        number: number.to_owned(),
        params: Params(
            params
                .iter()
                .map(|(n, v)| (n.to_string(), Some(v.to_string())))
                .collect(),
        ),
    })
}

fn queue(id: &str) -> Option<QueueId> {
    Some(QueueId(id.to_owned()))
}

#[test]
fn sip_uri_with_user_phone_matches_number() {
    let dir = directory();
    let got = dir.lookup(&sip("sip:+14255550100@sbc.carrier.example;user=phone"));
    assert_eq!(got.cloned(), queue("sales"));
}

#[test]
fn number_matches_with_or_without_plus() {
    let dir = directory();
    for uri in [
        "sip:14255550100@192.0.2.1",
        "sip:+14255550100@192.0.2.1:5060;transport=tcp",
        "sips:%2B14255550100@holdline.example",
        "sip:+1-425-555-0100@holdline.example;user=phone",
        "sip:18005550101@holdline.example",
    ] {
        assert_eq!(dir.lookup(&sip(uri)).cloned(), queue("sales"), "{uri}");
    }
}

#[test]
fn tel_uri_matches_number() {
    let dir = directory();
    assert_eq!(
        dir.lookup(&tel("+1-425-555-0100", &[])).cloned(),
        queue("sales")
    );
    assert_eq!(
        dir.lookup(&tel("+18005550101", &[("isub", "1")])).cloned(),
        queue("sales")
    );
}

#[test]
fn local_number_with_phone_context_misses() {
    let dir = directory();
    assert_eq!(
        dir.lookup(&tel("5550100", &[("phone-context", "+1425")])),
        None
    );
    assert_eq!(
        dir.lookup(&sip(
            "sip:5550100;phone-context=+1425@example.com;user=phone"
        )),
        None
    );
}

#[test]
fn sip_address_matches_user_and_host() {
    let dir = directory();
    assert_eq!(
        dir.lookup(&sip("sip:sales@EXAMPLE.com:5070;transport=udp"))
            .cloned(),
        queue("sales")
    );
    assert_eq!(
        dir.lookup(&sip("sip:ventas@example.com")).cloned(),
        queue("sales")
    );
    assert_eq!(
        dir.lookup(&sip("sip:Support@example.com")).cloned(),
        queue("support")
    );
}

#[test]
fn address_user_part_is_case_sensitive() {
    // RFC 3261 §19.1.4: the user part compares case-sensitively.
    let dir = directory();
    assert_eq!(dir.lookup(&sip("sip:support@example.com")), None);
    assert_eq!(dir.lookup(&sip("sip:SALES@example.com")), None);
}

#[test]
fn unknown_numbers_all_miss_alike() {
    let dir = directory();
    // Unknown number, a user's number, a declared service number on no queue, a non-number user,
    // a wrong host, no user part, a foreign scheme: all plain None.
    let misses = [
        sip("sip:+14255550142@example.com"),
        sip("sip:+14255550199@example.com;user=phone"),
        sip("sip:+14255550177@example.com"),
        sip("sip:nobody@example.com"),
        sip("sip:sales@example.org"),
        sip("sip:example.com"),
        tel("+442079460000", &[]),
        Uri::Other {
            scheme: "urn".into(),
            rest: "service:sos".into(),
        },
    ];
    for uri in &misses {
        assert_eq!(dir.lookup(uri), None, "{uri}");
    }
}

#[test]
fn lookup_number_finds_assigned_queue() {
    let dir = directory();
    let n = E164::parse("+1 425 555 0100").unwrap();
    assert_eq!(dir.lookup_number(&n).cloned(), queue("sales"));
    let user = E164::parse("+14255550199").unwrap();
    assert_eq!(dir.lookup_number(&user), None);
}

#[test]
fn embedded_default_demo_number_reaches_demo_queue() {
    let dir = ServiceDirectory::new(&embedded_default());
    assert_eq!(
        dir.lookup(&sip("sip:+14255550100@127.0.0.1;user=phone"))
            .cloned(),
        queue("demo")
    );
    assert_eq!(
        dir.lookup(&sip("sip:14255550100@127.0.0.1")).cloned(),
        queue("demo")
    );
}
