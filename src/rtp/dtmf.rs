//! RFC 4733 telephone-events: the §2.3 payload and a detector that turns the packets of a key
//! press into one DTMF digit.
//!
//! A sender repeats an event's packets while the key is held (every packet carries the event's
//! start timestamp, §2.5.1.2, with a growing duration) and retransmits the final packet, with the
//! E bit, three times (§2.5.1.4). A receiver identifies an event by its RTP timestamp (§2.5.2.1),
//! so [`DtmfDetector`] reports a digit the first time it sees a timestamp and ignores every later
//! packet with that timestamp (updates, end, retransmitted ends) or an older one (reordering).
//! Reporting on the first packet, not the end, keeps a press whose end packets are all lost.
//!
//! Only the DTMF events 0–15 (§3.2: 0–9, `*`, `#`, A–D) become digits; other events (flash,
//! tones of RFC 4734) are deduplicated the same way but not reported. Multi-event packets
//! (RFC 2198 redundancy) are not decoded: the first event is read.

use thiserror::Error;

/// Why a telephone-event payload could not be read.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum DtmfError {
    #[error("telephone-event payload of {len} bytes (needs 4, RFC 4733 §2.3)")]
    TooShort { len: usize },
}

/// One telephone-event payload (RFC 4733 §2.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TelephoneEvent {
    /// The event code (§3.2 for DTMF).
    pub event: u8,
    /// The E bit: the last packet(s) of the event.
    pub end: bool,
    /// Power level in −dBm0 (0–63).
    pub volume: u8,
    /// Duration so far, in RTP timestamp units.
    pub duration: u16,
}

impl TelephoneEvent {
    /// Reads the first 4-byte event of `payload`.
    pub fn parse(payload: &[u8]) -> Result<TelephoneEvent, DtmfError> {
        let Some(p) = payload.first_chunk::<4>() else {
            return Err(DtmfError::TooShort { len: payload.len() });
        };
        Ok(TelephoneEvent {
            event: p[0],
            end: p[1] & 0x80 != 0,
            // The R bit (0x40) is reserved: ignored on receipt (§2.3).
            volume: p[1] & 0x3f,
            duration: u16::from_be_bytes([p[2], p[3]]),
        })
    }

    /// The DTMF digit of this event (§3.2), if it is one.
    pub fn digit(&self) -> Option<char> {
        match self.event {
            0..=9 => Some(char::from(b'0' + self.event)),
            10 => Some('*'),
            11 => Some('#'),
            12..=15 => Some(char::from(b'A' + self.event - 12)),
            _ => None,
        }
    }
}

/// A key press, reported once.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DtmfPress {
    pub digit: char,
    /// The event's RTP timestamp (its start, §2.5.1.2).
    pub timestamp: u32,
}

/// Turns telephone-event packets into one [`DtmfPress`] per key press.
#[derive(Clone, Debug, Default)]
pub struct DtmfDetector {
    /// The timestamp of the newest event seen.
    last: Option<u32>,
}

impl DtmfDetector {
    pub fn new() -> DtmfDetector {
        DtmfDetector::default()
    }

    /// Feeds one telephone-event packet (its RTP timestamp and payload). Returns the press the
    /// first time a new event is seen.
    pub fn on_packet(&mut self, timestamp: u32, payload: &[u8]) -> Option<DtmfPress> {
        let event = TelephoneEvent::parse(payload).ok()?;
        if let Some(last) = self.last {
            // §2.5.2.1: same timestamp = same event. An older one (serial-number comparison,
            // RFC 3550 timestamps wrap) is a late retransmission of a finished event.
            let ahead = timestamp.wrapping_sub(last) as i32;
            if ahead <= 0 {
                return None;
            }
        }
        self.last = Some(timestamp);
        event.digit().map(|digit| DtmfPress { digit, timestamp })
    }

    /// Forgets the event history: the sender changed (new SSRC), its timestamps are unrelated.
    pub fn reset(&mut self) {
        self.last = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn payload(event: u8, end: bool, duration: u16) -> [u8; 4] {
        let d = duration.to_be_bytes();
        [event, if end { 0x80 | 10 } else { 10 }, d[0], d[1]]
    }

    #[test]
    fn payload_fields_are_read() {
        let e = TelephoneEvent::parse(&[11, 0xca, 0x03, 0x20]).unwrap();
        assert_eq!(
            e,
            TelephoneEvent {
                event: 11,
                end: true,
                volume: 10,
                duration: 800
            }
        );
        assert_eq!(e.digit(), Some('#'));
        assert_eq!(
            TelephoneEvent::parse(&[1, 2, 3]),
            Err(DtmfError::TooShort { len: 3 })
        );
    }

    #[test]
    fn all_sixteen_dtmf_events_map_to_digits() {
        let digits: String = (0..16)
            .filter_map(|e| TelephoneEvent::parse(&[e, 0, 0, 0]).unwrap().digit())
            .collect();
        assert_eq!(digits, "0123456789*#ABCD");
        assert_eq!(TelephoneEvent::parse(&[16, 0, 0, 0]).unwrap().digit(), None);
    }

    #[test]
    fn dtmf_press_is_one_event_despite_retransmitted_end() {
        let mut d = DtmfDetector::new();
        let ts = 4000;
        let mut presses = Vec::new();
        for dur in [160, 320, 480, 640] {
            presses.extend(d.on_packet(ts, &payload(5, false, dur)));
        }
        for _ in 0..3 {
            presses.extend(d.on_packet(ts, &payload(5, true, 800)));
        }
        assert_eq!(
            presses,
            vec![DtmfPress {
                digit: '5',
                timestamp: ts
            }]
        );
    }

    #[test]
    fn same_digit_twice_is_two_presses_on_new_timestamp() {
        let mut d = DtmfDetector::new();
        assert!(d.on_packet(100, &payload(1, false, 160)).is_some());
        assert!(d.on_packet(100, &payload(1, true, 800)).is_none());
        assert!(d.on_packet(2000, &payload(1, false, 160)).is_some());
    }

    #[test]
    fn press_whose_start_was_lost_is_reported_from_its_end() {
        let mut d = DtmfDetector::new();
        let got = d.on_packet(8000, &payload(12, true, 800));
        assert_eq!(got.map(|p| p.digit), Some('A'));
    }

    #[test]
    fn late_end_of_older_event_is_ignored_across_wrap() {
        let mut d = DtmfDetector::new();
        assert!(d
            .on_packet(u32::MAX - 100, &payload(2, false, 160))
            .is_some());
        assert!(d.on_packet(500, &payload(3, false, 160)).is_some());
        assert!(d
            .on_packet(u32::MAX - 100, &payload(2, true, 800))
            .is_none());
    }

    #[test]
    fn short_payload_is_ignored() {
        let mut d = DtmfDetector::new();
        assert_eq!(d.on_packet(1, &[1, 2]), None);
        assert!(d.on_packet(1, &payload(0, false, 1)).is_some());
    }
}
