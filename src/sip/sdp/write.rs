//! [`SessionDescription`] → text, CRLF-terminated, in RFC 8866 §5 line order
//! (`v o s i u e p c b t r z k a`, then each `m i c b k a`).
//!
//! Writes what the model holds and nothing more; it does not check that the description is one
//! a peer would accept (that is the job of whoever builds it, see `answer` and `offer`).

use std::fmt::{self, Display, Formatter};

use super::model::{Attribute, Connection, Line, MediaDescription, Origin, SessionDescription};
use super::parse::{media_slot, session_slot};

impl SessionDescription {
    /// The body bytes for a SIP message (`Content-Type: application/sdp`).
    pub fn to_bytes(&self) -> Vec<u8> {
        self.to_string().into_bytes()
    }
}

impl Display for SessionDescription {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        let slot = |n: u8| {
            self.other_lines
                .iter()
                .filter(move |l| session_slot(l.kind) == n)
        };
        f.write_str("v=0\r\n")?;
        write!(f, "o={}\r\n", self.origin)?;
        write!(f, "s={}\r\n", self.session_name)?;
        write_lines(f, slot(0))?;
        if let Some(c) = &self.connection {
            write!(f, "c={c}\r\n")?;
        }
        write_lines(f, slot(1))?;
        write!(f, "t={} {}\r\n", self.timing.start, self.timing.stop)?;
        write_lines(f, slot(2))?;
        write_attributes(f, &self.attributes)?;
        self.media.iter().try_for_each(|m| write!(f, "{m}"))
    }
}

impl Display for MediaDescription {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        write!(f, "m={} {}", self.media, self.port)?;
        if let Some(n) = self.port_count {
            write!(f, "/{n}")?;
        }
        write!(f, " {}", self.proto)?;
        for format in &self.formats {
            write!(f, " {format}")?;
        }
        f.write_str("\r\n")?;
        let slot = |n: u8| {
            self.other_lines
                .iter()
                .filter(move |l| media_slot(l.kind) == n)
        };
        write_lines(f, slot(0))?;
        if let Some(c) = &self.connection {
            write!(f, "c={c}\r\n")?;
        }
        write_lines(f, slot(1))?;
        write_attributes(f, &self.attributes)
    }
}

impl Display for Origin {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} {} {} {} {}",
            self.username,
            self.session_id,
            self.session_version,
            self.nettype,
            self.addrtype,
            self.address
        )
    }
}

impl Display for Connection {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} {}", self.nettype, self.addrtype, self.address)
    }
}

impl Display for Attribute {
    /// The text after `a=`.
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Attribute::RtpMap(m) => {
                write!(
                    f,
                    "rtpmap:{} {}/{}",
                    m.payload_type, m.encoding, m.clock_rate
                )?;
                match &m.params {
                    Some(p) => write!(f, "/{p}"),
                    None => Ok(()),
                }
            }
            Attribute::Fmtp(p) if p.params.is_empty() => write!(f, "fmtp:{}", p.format),
            Attribute::Fmtp(p) => write!(f, "fmtp:{} {}", p.format, p.params),
            Attribute::Ptime(ms) => write!(f, "ptime:{ms}"),
            Attribute::MaxPtime(ms) => write!(f, "maxptime:{ms}"),
            Attribute::Direction(d) => f.write_str(d.as_str()),
            Attribute::Rtcp(r) => match &r.connection {
                Some(c) => write!(f, "rtcp:{} {c}", r.port),
                None => write!(f, "rtcp:{}", r.port),
            },
            Attribute::Other { name, value: None } => f.write_str(name),
            Attribute::Other {
                name,
                value: Some(v),
            } => write!(f, "{name}:{v}"),
        }
    }
}

fn write_lines<'a>(f: &mut Formatter<'_>, lines: impl Iterator<Item = &'a Line>) -> fmt::Result {
    lines
        .into_iter()
        .try_for_each(|l| write!(f, "{}={}\r\n", l.kind, l.value))
}

fn write_attributes(f: &mut Formatter<'_>, attributes: &[Attribute]) -> fmt::Result {
    attributes.iter().try_for_each(|a| write!(f, "a={a}\r\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_rfc_line_order_with_crlf() {
        // Lines arrive out of order; the writer puts i= before c= and b= after it.
        let text = "v=0\no=- 7 8 IN IP4 192.0.2.1\ns=call\nc=IN IP4 192.0.2.1\ni=info\nb=AS:80\n\
            t=0 0\na=tool:x\nm=audio 4000 RTP/AVP 0 101\nb=AS:64\nc=IN IP4 192.0.2.2\ni=mi\n\
            a=rtpmap:101 telephone-event/8000\na=fmtp:101 0-16\na=ptime:20\na=sendrecv\n\
            a=rtcp:4001\n";
        let sdp: SessionDescription = text.parse().unwrap();
        assert_eq!(
            sdp.to_string(),
            "v=0\r\no=- 7 8 IN IP4 192.0.2.1\r\ns=call\r\ni=info\r\nc=IN IP4 192.0.2.1\r\n\
             b=AS:80\r\nt=0 0\r\na=tool:x\r\nm=audio 4000 RTP/AVP 0 101\r\ni=mi\r\n\
             c=IN IP4 192.0.2.2\r\nb=AS:64\r\na=rtpmap:101 telephone-event/8000\r\n\
             a=fmtp:101 0-16\r\na=ptime:20\r\na=sendrecv\r\na=rtcp:4001\r\n"
        );
    }

    #[test]
    fn parse_of_written_text_gives_back_the_value() {
        let text = "v=0\r\no=user 1 2 IN IP6 ::1\r\ns=\r\nc=IN IP6 ::1\r\nt=0 0\r\n\
            m=audio 0 RTP/SAVP 0\r\nm=video 5000/2 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\n\
            a=fmtp:96\r\na=rtcp:5001 IN IP6 ::2\r\na=weird\r\n";
        let sdp: SessionDescription = text.parse().unwrap();
        let again: SessionDescription = sdp.to_string().parse().unwrap();
        assert_eq!(sdp, again);
        assert_eq!(sdp.to_string(), text);
    }
}
