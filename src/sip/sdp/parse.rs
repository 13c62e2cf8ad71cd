//! Text → [`SessionDescription`] (RFC 8866 §5, §9 grammar), tolerant where deployed phones are.
//!
//! Tolerated, because real equipment sends it: lines ending in `\n` without `\r`, trailing
//! whitespace, blank lines, a missing `s=` (parsed as `-`) or `t=` (parsed as `0 0`), unknown line
//! types and attributes (kept verbatim), and known attributes whose value does not parse (kept as
//! [`Attribute::Other`] rather than failing the whole body). Rejected with a typed error: a body
//! not starting with `v=0`, a missing or malformed `o=`, a malformed `c=` or `m=`, a line that is
//! not `<type>=<value>`, and duplicate session-level `v=`/`o=`/`s=`/`c=`. Never panics.
//!
//! Lines we keep but do not model are re-ordered at parse time into the RFC 8866 §5 slot they
//! belong to, so serializing and re-parsing gives back the same value.

use std::str::FromStr;

use super::model::{
    Attribute, Connection, Direction, Fmtp, Line, MediaDescription, Origin, Rtcp, RtpMap,
    SessionDescription, Timing,
};
use super::SdpError;

impl SessionDescription {
    /// Parses an SDP body. Bytes that are not UTF-8 (a Latin-1 `s=` line, say) are replaced,
    /// not refused: they only ever occur in free-text fields.
    pub fn parse(body: &[u8]) -> Result<SessionDescription, SdpError> {
        String::from_utf8_lossy(body).parse()
    }
}

impl FromStr for SessionDescription {
    type Err = SdpError;

    fn from_str(text: &str) -> Result<Self, SdpError> {
        let mut lines = text
            .split('\n')
            .enumerate()
            .map(|(i, l)| (i + 1, l.trim()))
            .filter(|(_, l)| !l.is_empty());

        // §5.1: the body starts with `v=0`; anything else is not SDP we know.
        match lines.next() {
            Some((_, "v=0")) => {}
            Some((_, l)) if l.starts_with("v=") => {
                return Err(SdpError::UnsupportedVersion {
                    value: l[2..].to_owned(),
                })
            }
            _ => return Err(SdpError::MissingVersion),
        }

        let mut origin = None;
        let mut session_name = None;
        let mut connection = None;
        let mut timing = None;
        let mut attributes = Vec::new();
        let mut other_lines = Vec::new();
        let mut media: Vec<MediaDescription> = Vec::new();

        for (line_no, line) in lines {
            let (kind, value) = split_line(line, line_no)?;
            if kind == 'm' {
                media.push(parse_media(value, line_no)?);
                continue;
            }
            if let Some(m) = media.last_mut() {
                match kind {
                    'c' if m.connection.is_none() => {
                        m.connection = Some(parse_connection(value, line_no)?)
                    }
                    'a' => m.attributes.push(parse_attribute(value)),
                    _ => m.other_lines.push(Line {
                        kind,
                        value: value.to_owned(),
                    }),
                }
                continue;
            }
            match kind {
                'o' if origin.is_none() => origin = Some(parse_origin(value, line_no)?),
                's' if session_name.is_none() => session_name = Some(value.to_owned()),
                'c' if connection.is_none() => connection = Some(parse_connection(value, line_no)?),
                'v' | 'o' | 's' | 'c' => {
                    return Err(SdpError::DuplicateLine {
                        line: line_no,
                        kind,
                    })
                }
                't' if timing.is_none() && parse_timing(value).is_some() => {
                    timing = parse_timing(value)
                }
                'a' => attributes.push(parse_attribute(value)),
                _ => other_lines.push(Line {
                    kind,
                    value: value.to_owned(),
                }),
            }
        }

        other_lines.sort_by_key(|l| session_slot(l.kind));
        for m in &mut media {
            m.other_lines.sort_by_key(|l| media_slot(l.kind));
        }
        Ok(SessionDescription {
            origin: origin.ok_or(SdpError::MissingOrigin)?,
            // RFC 3264 §5 recommends `s=-` when there is nothing to say; some phones omit it.
            session_name: session_name.unwrap_or_else(|| "-".to_owned()),
            connection,
            timing: timing.unwrap_or_default(),
            attributes,
            other_lines,
            media,
        })
    }
}

/// Where an unmodelled session-level line goes relative to the modelled ones (RFC 8866 §5 order
/// `v o s i u e p c b t r z k a m`): 0 before `c=`, 1 between `c=` and `t=`, 2 after `t=`.
pub(super) fn session_slot(kind: char) -> u8 {
    match kind {
        'i' | 'u' | 'e' | 'p' => 0,
        'b' => 1,
        _ => 2,
    }
}

/// As [`session_slot`] for a media section (`m i c b k a`): 0 before `c=`, 1 after.
pub(super) fn media_slot(kind: char) -> u8 {
    match kind {
        'i' => 0,
        _ => 1,
    }
}

/// `<type>=<value>` with a one-character type (§5).
fn split_line(line: &str, line_no: usize) -> Result<(char, &str), SdpError> {
    let malformed = SdpError::MalformedLine { line: line_no };
    let (kind, value) = line.split_once('=').ok_or(malformed.clone())?;
    let mut chars = kind.chars();
    match (chars.next(), chars.next()) {
        (Some(c), None) => Ok((c, value)),
        _ => Err(malformed),
    }
}

fn parse_origin(value: &str, line_no: usize) -> Result<Origin, SdpError> {
    let invalid = || SdpError::InvalidOrigin {
        line: line_no,
        value: value.to_owned(),
    };
    let fields: Vec<&str> = value.split_whitespace().collect();
    // Six fields; a username with spaces (seen in the wild) is rejoined rather than refused.
    let split = fields
        .len()
        .checked_sub(5)
        .filter(|n| *n >= 1)
        .ok_or_else(invalid)?;
    let (user, rest) = fields.split_at(split);
    let [session_id, version, nettype, addrtype, address] = rest else {
        return Err(invalid());
    };
    Ok(Origin {
        username: user.join(" "),
        session_id: (*session_id).to_owned(),
        session_version: version.parse().map_err(|_| invalid())?,
        nettype: (*nettype).to_owned(),
        addrtype: (*addrtype).to_owned(),
        address: (*address).to_owned(),
    })
}

fn parse_connection(value: &str, line_no: usize) -> Result<Connection, SdpError> {
    connection_fields(value).ok_or_else(|| SdpError::InvalidConnection {
        line: line_no,
        value: value.to_owned(),
    })
}

fn connection_fields(value: &str) -> Option<Connection> {
    let mut fields = value.split_whitespace();
    let (nettype, addrtype, address) = (fields.next()?, fields.next()?, fields.next()?);
    if fields.next().is_some() {
        return None;
    }
    Some(Connection {
        nettype: nettype.to_owned(),
        addrtype: addrtype.to_owned(),
        address: address.to_owned(),
    })
}

fn parse_timing(value: &str) -> Option<Timing> {
    let mut fields = value.split_whitespace();
    let start = fields.next()?.parse().ok()?;
    let stop = fields.next()?.parse().ok()?;
    fields.next().is_none().then_some(Timing { start, stop })
}

fn parse_media(value: &str, line_no: usize) -> Result<MediaDescription, SdpError> {
    let invalid = || SdpError::InvalidMedia {
        line: line_no,
        value: value.to_owned(),
    };
    let mut fields = value.split_whitespace();
    let media = fields.next().ok_or_else(invalid)?;
    let port_field = fields.next().ok_or_else(invalid)?;
    let proto = fields.next().ok_or_else(invalid)?;
    let (port, port_count) = match port_field.split_once('/') {
        Some((p, n)) => (p, Some(n.parse().map_err(|_| invalid())?)),
        None => (port_field, None),
    };
    Ok(MediaDescription {
        media: media.to_owned(),
        port: port.parse().map_err(|_| invalid())?,
        port_count,
        proto: proto.to_owned(),
        // §5.14 wants at least one format; an empty list is tolerated and simply matches nothing.
        formats: fields.map(str::to_owned).collect(),
        connection: None,
        attributes: Vec::new(),
        other_lines: Vec::new(),
    })
}

/// `a=<name>[:<value>]`; a known attribute whose value does not parse stays [`Attribute::Other`].
fn parse_attribute(text: &str) -> Attribute {
    let (name, value) = match text.split_once(':') {
        Some((n, v)) => (n, Some(v)),
        None => (text, None),
    };
    let typed = match (name, value) {
        ("rtpmap", Some(v)) => parse_rtpmap(v).map(Attribute::RtpMap),
        ("fmtp", Some(v)) => parse_fmtp(v).map(Attribute::Fmtp),
        ("ptime", Some(v)) => v.trim().parse().ok().map(Attribute::Ptime),
        ("maxptime", Some(v)) => v.trim().parse().ok().map(Attribute::MaxPtime),
        ("rtcp", Some(v)) => parse_rtcp(v).map(Attribute::Rtcp),
        (n, None) => Direction::from_name(n)
            .filter(|d| d.as_str() == n)
            .map(Attribute::Direction),
        _ => None,
    };
    typed.unwrap_or_else(|| Attribute::Other {
        name: name.to_owned(),
        value: value.map(str::to_owned),
    })
}

/// `<payload type> <encoding name>/<clock rate>[/<encoding parameters>]` (§6.6).
fn parse_rtpmap(value: &str) -> Option<RtpMap> {
    let (pt, rest) = value.trim().split_once(char::is_whitespace)?;
    let payload_type: u8 = pt.parse().ok().filter(|pt| *pt < 128)?;
    let mut parts = rest.trim().splitn(3, '/');
    let encoding = parts.next().filter(|e| !e.is_empty())?;
    let clock_rate = parts.next()?.trim().parse().ok()?;
    Some(RtpMap {
        payload_type,
        encoding: encoding.to_owned(),
        clock_rate,
        params: parts.next().map(str::to_owned),
    })
}

/// `<format> <format specific parameters>` (§6.15).
fn parse_fmtp(value: &str) -> Option<Fmtp> {
    let value = value.trim();
    let (format, params) = value.split_once(char::is_whitespace).unwrap_or((value, ""));
    (!format.is_empty()).then(|| Fmtp {
        format: format.to_owned(),
        params: params.trim_start().to_owned(),
    })
}

/// `<port> [<nettype> <addrtype> <connection-address>]` (RFC 3605 §2.1).
fn parse_rtcp(value: &str) -> Option<Rtcp> {
    let value = value.trim();
    let (port, rest) = value.split_once(char::is_whitespace).unwrap_or((value, ""));
    let connection = match rest.trim() {
        "" => None,
        rest => Some(connection_fields(rest)?),
    };
    Some(Rtcp {
        port: port.parse().ok()?,
        connection,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASIC: &str = "v=0\r\no=alice 2890844526 2890844526 IN IP4 host.atlanta.example.com\r\n\
        s=-\r\nc=IN IP4 192.0.2.10\r\nt=0 0\r\nm=audio 49170 RTP/AVP 0 8 97\r\n\
        a=rtpmap:0 PCMU/8000\r\na=rtpmap:97 iLBC/8000\r\na=fmtp:97 mode=30\r\n\
        a=ptime:30\r\na=sendonly\r\na=rtcp:53020 IN IP4 192.0.2.11\r\n";

    #[test]
    fn parses_session_and_media_fields() {
        let sdp: SessionDescription = BASIC.parse().unwrap();
        assert_eq!(sdp.origin.username, "alice");
        assert_eq!(sdp.origin.session_version, 2890844526);
        assert_eq!(sdp.connection.as_ref().unwrap().address, "192.0.2.10");
        let m = &sdp.media[0];
        assert_eq!(
            (m.media.as_str(), m.port, m.proto.as_str()),
            ("audio", 49170, "RTP/AVP")
        );
        assert_eq!(m.formats, ["0", "8", "97"]);
        assert_eq!(m.rtpmap(97).unwrap().encoding, "iLBC");
        assert_eq!(m.fmtp("97").unwrap().params, "mode=30");
        assert_eq!(m.ptime(), Some(30));
        assert_eq!(m.direction(), Some(Direction::SendOnly));
        let rtcp = m.rtcp().unwrap();
        assert_eq!(rtcp.port, 53020);
        assert_eq!(rtcp.connection.as_ref().unwrap().address, "192.0.2.11");
    }

    #[test]
    fn bare_newlines_and_missing_s_and_t_are_tolerated() {
        let sdp: SessionDescription = "v=0\no=- 1 1 IN IP4 10.0.0.1\nc=IN IP4 10.0.0.1\n\
            m=audio 4000 RTP/AVP 0\n\n"
            .parse()
            .unwrap();
        assert_eq!(sdp.session_name, "-");
        assert_eq!(sdp.timing, Timing { start: 0, stop: 0 });
        assert_eq!(sdp.media[0].port, 4000);
    }

    #[test]
    fn unknown_lines_and_attributes_are_kept() {
        let sdp: SessionDescription = "v=0\r\no=- 1 1 IN IP4 h\r\ns=x\r\nb=AS:64\r\ny=what\r\n\
            a=X-nat:0\r\nm=audio 1 RTP/AVP 0\r\nb=TIAS:64000\r\na=ptime:abc\r\n"
            .parse()
            .unwrap();
        assert_eq!(sdp.other_lines.len(), 2);
        assert_eq!(
            sdp.attributes[0],
            Attribute::Other {
                name: "X-nat".into(),
                value: Some("0".into())
            }
        );
        assert_eq!(sdp.media[0].other_lines[0].value, "TIAS:64000");
        assert_eq!(sdp.media[0].ptime(), None);
        assert!(sdp.media[0].has_attribute("ptime"));
    }

    #[test]
    fn missing_or_bad_mandatory_lines_are_typed_errors() {
        assert_eq!(
            "".parse::<SessionDescription>(),
            Err(SdpError::MissingVersion)
        );
        assert_eq!(
            "v=1\r\n".parse::<SessionDescription>(),
            Err(SdpError::UnsupportedVersion { value: "1".into() })
        );
        assert_eq!(
            "v=0\r\ns=-\r\n".parse::<SessionDescription>(),
            Err(SdpError::MissingOrigin)
        );
        assert!(matches!(
            "v=0\r\no=- 1 x IN IP4 h\r\n".parse::<SessionDescription>(),
            Err(SdpError::InvalidOrigin { line: 2, .. })
        ));
        assert!(matches!(
            "v=0\r\no=- 1 1 IN IP4 h\r\nm=audio port RTP/AVP 0\r\n".parse::<SessionDescription>(),
            Err(SdpError::InvalidMedia { line: 3, .. })
        ));
        assert_eq!(
            "v=0\r\no=- 1 1 IN IP4 h\r\ngarbage\r\n".parse::<SessionDescription>(),
            Err(SdpError::MalformedLine { line: 3 })
        );
    }

    #[test]
    fn ipv6_connection_and_port_count_parse() {
        let sdp: SessionDescription = "v=0\r\no=- 1 1 IN IP6 2001:db8::1\r\ns=-\r\n\
            c=IN IP6 2001:db8::1\r\nt=0 0\r\nm=audio 5004/2 RTP/AVP 8\r\n"
            .parse()
            .unwrap();
        let c = sdp.connection.as_ref().unwrap();
        assert_eq!(c.ip(), Some("2001:db8::1".parse().unwrap()));
        assert_eq!(sdp.media[0].port_count, Some(2));
    }

    #[test]
    fn malformed_known_attribute_value_falls_back_to_other() {
        for bad in [
            "rtpmap:x PCMU/8000",
            "rtpmap:0 PCMU",
            "rtcp:port",
            "fmtp:",
            "sendrecv:1",
        ] {
            let a = parse_attribute(bad);
            assert!(matches!(a, Attribute::Other { .. }), "{bad} -> {a:?}");
        }
    }
}
