//! Configuration files for tests, built from parts instead of a TOML literal per test file:
//! the base for a real server on loopback or for the sans-IO core on virtual time, then numbers,
//! users, trunks and queues in the order they are added, then any raw TOML a test needs beyond
//! these. The result is the TOML text the server reads, so the configuration's own parsing and
//! validation stay under test.
//!
//! ```
//! use holdline_testkit::{ConfigToml, QueueToml};
//! let toml = ConfigToml::two_agents()
//!     .queue(QueueToml::new("sales").name("UK Sales").numbers(&["+14255550100"]).agents(&["amos", "bea"]))
//!     .to_string();
//! assert!(holdline::config::from_toml_str(&toml, std::path::Path::new(".")).is_ok());
//! ```

use std::fmt;

/// Where the agents' phones of [`ConfigToml::two_agents`] are (documentation addresses, RFC
/// 5737: on virtual time nothing is bound).
pub const AMOS: &str = "198.51.100.20:5070";
pub const BEA: &str = "198.51.100.21:5070";
/// A trunk's SBC on virtual time.
pub const TRUNK: &str = "203.0.113.9:5060";

/// A configuration file under construction; its `Display` is the TOML text.
#[derive(Clone, Debug)]
pub struct ConfigToml {
    base: Base,
    /// `[api] token`, on a loopback base.
    token: Option<String>,
    /// `[probe]` on a loopback base: `None` is `interval = 0` (see [`ConfigToml::probe`]).
    probe: Option<(u32, u32)>,
    /// The tables after the base, in the order they were added.
    parts: Vec<String>,
    /// `[sip]` keys of a `tls:` listener on a loopback base (see [`ConfigToml::tls`]).
    tls: Option<String>,
}

#[derive(Clone, Debug)]
enum Base {
    /// The real binary: SIP on UDP and TCP, the API on ephemeral loopback ports, the store in
    /// the working directory, RTP in `rtp_ports` (each test file its own range, so parallel
    /// tests rarely meet).
    Loopback { rtp_ports: String },
    /// The core on virtual time: SIP on 192.0.2.1:5060 over UDP, RTP in 20000-29999.
    VirtualTime,
}

impl ConfigToml {
    /// For `holdline serve` on loopback (see [`crate::Server`]), RTP ports in `rtp_ports`
    /// (`"FIRST-LAST"`).
    pub fn loopback(rtp_ports: &str) -> ConfigToml {
        ConfigToml::with_base(Base::Loopback {
            rtp_ports: rtp_ports.to_owned(),
        })
    }

    /// For the sans-IO core on virtual time: SIP on 192.0.2.1:5060 (UDP), RTP in 20000-29999.
    pub fn virtual_time() -> ConfigToml {
        ConfigToml::with_base(Base::VirtualTime)
    }

    /// [`ConfigToml::virtual_time`] with the service number +14255550100 and two users with
    /// phones, `amos` at [`AMOS`] and `bea` at [`BEA`]: what the core's scenario tests start
    /// from before adding their queues.
    pub fn two_agents() -> ConfigToml {
        ConfigToml::virtual_time()
            .number("+14255550100", "service-toll")
            .user("amos", AMOS)
            .user("bea", BEA)
    }

    fn with_base(base: Base) -> ConfigToml {
        ConfigToml {
            base,
            token: None,
            probe: None,
            parts: Vec::new(),
            tls: None,
        }
    }

    /// OPTIONS probing of static contacts every `interval` seconds, each waiting `timeout`
    /// (on a loopback base). Without it a loopback server probes nothing: a SIPp phone plays
    /// one scripted call, and an OPTIONS arriving in a long test would fail its scenario.
    pub fn probe(mut self, interval: u32, timeout: u32) -> ConfigToml {
        self.probe = Some((interval, timeout));
        self
    }

    /// `[api] token` (on a loopback base; on virtual time there is no API).
    pub fn api_token(mut self, token: &str) -> ConfigToml {
        self.token = Some(token.to_owned());
        self
    }

    /// A `[[number]]` of `kind` (`service-toll`, `service-toll-free`, `user`).
    pub fn number(self, e164: &str, kind: &str) -> ConfigToml {
        self.raw(&format!(
            "[[number]]\ne164 = {}\nkind = {}\n",
            quote(e164),
            quote(kind)
        ))
    }

    /// A `tls:127.0.0.1:0` listener besides UDP and TCP (a loopback base), serving the PEM
    /// files `cert` and `key`; with `client_ca`, clients must present a certificate it issued.
    pub fn tls(mut self, cert: &str, key: &str, client_ca: Option<&str>) -> ConfigToml {
        let mut keys = format!("tls_cert = {}\ntls_key = {}\n", quote(cert), quote(key));
        if let Some(ca) = client_ca {
            keys.push_str(&format!("tls_client_ca = {}\n", quote(ca)));
        }
        self.tls = Some(keys);
        self
    }

    /// `[sip] tls_ca`: the CAs TLS destinations other than trunks are verified against (after
    /// [`ConfigToml::tls`]).
    pub fn tls_ca(mut self, ca: &str) -> ConfigToml {
        if let Some(keys) = &mut self.tls {
            keys.push_str(&format!("tls_ca = {}\n", quote(ca)));
        }
        self
    }

    /// A `[[user]]` whose one phone is `sip:ID@ADDR` (`addr` is `host:port`).
    pub fn user(self, id: &str, addr: &str) -> ConfigToml {
        self.raw(&format!(
            "[[user]]\nid = {}\ncontacts = [{}]\n",
            quote(id),
            quote(&format!("sip:{id}@{addr}"))
        ))
    }

    /// A `[[trunk]]` to `proxy` (a SIP URI) allowed to reach `allow`.
    pub fn trunk(self, id: &str, proxy: &str, allow: &[&str]) -> ConfigToml {
        self.raw(&format!(
            "[[trunk]]\nid = {}\nproxy = {}\nallow = {}\n",
            quote(id),
            quote(proxy),
            list(allow)
        ))
    }

    pub fn queue(self, queue: QueueToml) -> ConfigToml {
        self.raw(&queue.to_string())
    }

    /// TOML appended as it is (tables the builder has no method for, or keys a test varies).
    pub fn raw(mut self, toml: &str) -> ConfigToml {
        if !toml.trim().is_empty() {
            self.parts.push(toml.to_owned());
        }
        self
    }
}

impl fmt::Display for ConfigToml {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.base {
            Base::Loopback { rtp_ports } => {
                writeln!(f, "[sip]")?;
                match &self.tls {
                    Some(keys) => {
                        writeln!(
                            f,
                            r#"listen = ["udp:127.0.0.1:0", "tcp:127.0.0.1:0", "tls:127.0.0.1:0"]"#
                        )?;
                        f.write_str(keys)?;
                    }
                    None => writeln!(f, r#"listen = ["udp:127.0.0.1:0", "tcp:127.0.0.1:0"]"#)?,
                }
                writeln!(f, "\n[rtp]\nports = {}", quote(rtp_ports))?;
                writeln!(f, "\n[api]\nlisten = \"127.0.0.1:0\"")?;
                if let Some(token) = &self.token {
                    writeln!(f, "token = {}", quote(token))?;
                }
                writeln!(f, "\n[store]\npath = \"holdline.db\"")?;
                match self.probe {
                    Some((interval, timeout)) => {
                        writeln!(f, "\n[probe]\ninterval = {interval}\ntimeout = {timeout}")?
                    }
                    None => writeln!(f, "\n[probe]\ninterval = 0")?,
                }
            }
            Base::VirtualTime => {
                writeln!(f, "[sip]\nlisten = [\"udp:192.0.2.1:5060\"]")?;
                writeln!(f, "[rtp]\nports = \"20000-29999\"")?;
            }
        }
        for part in &self.parts {
            writeln!(f)?;
            f.write_str(part)?;
            if !part.ends_with('\n') {
                writeln!(f)?;
            }
        }
        Ok(())
    }
}

/// A `[[queue]]` table: its id, then the keys in the order they were set.
#[derive(Clone, Debug)]
pub struct QueueToml {
    id: String,
    /// `key = value` lines.
    lines: Vec<String>,
}

impl QueueToml {
    pub fn new(id: &str) -> QueueToml {
        QueueToml {
            id: id.to_owned(),
            lines: Vec::new(),
        }
    }

    pub fn name(self, name: &str) -> QueueToml {
        self.set("name", &quote(name))
    }

    pub fn numbers(self, numbers: &[&str]) -> QueueToml {
        self.set("numbers", &list(numbers))
    }

    pub fn agents(self, agents: &[&str]) -> QueueToml {
        self.set("agents", &list(agents))
    }

    /// Any other key, its value written as TOML (`"serial"`, `200`, `{ action = "queue" }`).
    pub fn set(self, key: &str, toml_value: &str) -> QueueToml {
        self.raw(&format!("{key} = {toml_value}"))
    }

    /// `key = value` lines as they are (a test's varying settings, maybe none).
    pub fn raw(mut self, lines: &str) -> QueueToml {
        if !lines.trim().is_empty() {
            self.lines.push(lines.trim_end().to_owned());
        }
        self
    }
}

impl fmt::Display for QueueToml {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "[[queue]]\nid = {}", quote(&self.id))?;
        for line in &self.lines {
            writeln!(f, "{line}")?;
        }
        Ok(())
    }
}

/// A TOML basic string.
fn quote(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

/// A TOML array of basic strings.
fn list(items: &[&str]) -> String {
    let items: Vec<String> = items.iter().map(|s| quote(s)).collect();
    format!("[{}]", items.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn parses(toml: &str) {
        if let Err(e) = holdline::config::from_toml_str(toml, Path::new(".")) {
            panic!("{e}\n{toml}");
        }
    }

    #[test]
    fn loopback_with_a_token_and_a_queue_is_a_valid_configuration() {
        let toml = ConfigToml::loopback("40000-49999")
            .api_token("t0ken")
            .number("+14255550100", "service-toll")
            .queue(
                QueueToml::new("sales")
                    .name("UK \"Sales\"")
                    .numbers(&["+14255550100"])
                    .set("max_calls", "200"),
            )
            .to_string();
        assert!(toml.contains("[api]\nlisten = \"127.0.0.1:0\"\ntoken = \"t0ken\"\n"));
        assert!(toml.contains("name = \"UK \\\"Sales\\\"\"\n"));
        parses(&toml);
    }

    #[test]
    fn two_agents_with_a_trunk_and_raw_toml_is_a_valid_configuration() {
        let toml = ConfigToml::two_agents()
            .trunk("carrier", &format!("sip:{TRUNK}"), &["+1425*"])
            .queue(
                QueueToml::new("sales")
                    .numbers(&["+14255550100"])
                    .agents(&["amos", "bea"])
                    .set("routing", "\"serial\""),
            )
            .raw("[[number]]\ne164 = \"+14255550122\"\nkind = \"service-toll\"")
            .to_string();
        assert!(toml.contains(&format!("contacts = [\"sip:bea@{BEA}\"]")));
        parses(&toml);
    }
}
