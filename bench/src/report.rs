//! The result of a bench run: call outcomes, set-up latency, signalling counters, RTP receive
//! statistics, and the CPU and memory of the server and of the tool itself, as a readable text
//! report (`Display`) and as JSON (`serde::Serialize`).
//!
//! Aggregation is pure: the driver hands in finished calls and process samples; nothing here
//! reads a clock or a file.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use serde::Serialize;

use crate::histogram::{Histogram, Summary};
use crate::procstat::ProcSample;
use crate::rtp_send::SendTotals;
use crate::rtp_stats::RtpSummary;
use crate::uac::{Outcome, SipCounters};

/// What was asked for, echoed in the report so a result names its command.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RunSettings {
    pub server: String,
    pub number: String,
    pub calls: u64,
    pub rate: f64,
    pub duration_s: f64,
    pub codec: String,
    pub ptime_ms: u32,
}

/// Call outcomes.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct CallSummary {
    pub attempted: u64,
    pub answered: u64,
    /// Answered, held, our BYE answered with 2xx.
    pub completed: u64,
    pub server_hangups: u64,
    pub bye_timed_out: u64,
    pub bye_rejected: u64,
    /// Non-2xx final responses to the INVITE, by status.
    pub failed: u64,
    pub failed_by_status: BTreeMap<u16, u64>,
    pub timed_out: u64,
    pub unfinished: u64,
    /// Most calls answered and not yet ended at one time.
    pub peak_concurrent: u64,
}

impl CallSummary {
    pub fn count(&mut self, outcome: Outcome) {
        self.attempted += 1;
        self.answered += u64::from(outcome.answered());
        match outcome {
            Outcome::Completed => self.completed += 1,
            Outcome::ServerHangup => self.server_hangups += 1,
            Outcome::ByeTimedOut => self.bye_timed_out += 1,
            Outcome::ByeRejected { .. } => self.bye_rejected += 1,
            Outcome::Failed { status } => {
                self.failed += 1;
                *self.failed_by_status.entry(status).or_insert(0) += 1;
            }
            Outcome::TimedOut => self.timed_out += 1,
            Outcome::Unfinished => self.unfinished += 1,
        }
    }

    /// Every call answered and ended by a BYE from either side with a 2xx.
    pub fn all_clean(&self) -> bool {
        self.attempted > 0 && self.completed + self.server_hangups == self.attempted
    }
}

/// One process reading with the number of answered calls up at that moment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sample {
    pub at: Duration,
    pub active_calls: u64,
    pub process: ProcSample,
}

/// CPU and memory of one process over the run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct ProcessSummary {
    pub cpu_seconds: f64,
    /// CPU over the whole run, in percent of one core.
    pub cpu_percent: f64,
    /// CPU while the most calls were up (the plateau), in percent of one core; `None` when
    /// the plateau did not span two samples.
    pub plateau_cpu_percent: Option<f64>,
    /// Plateau CPU per 1,000 concurrent calls, in percent of one core.
    pub cpu_percent_per_1000_calls: Option<f64>,
    pub rss_max_kib: u64,
    pub hwm_kib: u64,
}

impl ProcessSummary {
    /// From readings taken at regular intervals, the first before the first call.
    pub fn from_samples(samples: &[Sample], peak_concurrent: u64) -> Option<ProcessSummary> {
        let (first, last) = (samples.first()?, samples.last()?);
        let wall = (last.at - first.at).as_secs_f64();
        let cpu = (last.process.cpu.saturating_sub(first.process.cpu)).as_secs_f64();
        let (mut plateau_cpu, mut plateau_wall) = (0.0, 0.0);
        for pair in samples.windows(2) {
            if peak_concurrent > 0
                && pair[0].active_calls == peak_concurrent
                && pair[1].active_calls == peak_concurrent
            {
                plateau_cpu += pair[1]
                    .process
                    .cpu
                    .saturating_sub(pair[0].process.cpu)
                    .as_secs_f64();
                plateau_wall += (pair[1].at - pair[0].at).as_secs_f64();
            }
        }
        let plateau = (plateau_wall > 0.0).then(|| 100.0 * plateau_cpu / plateau_wall);
        Some(ProcessSummary {
            cpu_seconds: cpu,
            cpu_percent: if wall > 0.0 { 100.0 * cpu / wall } else { 0.0 },
            plateau_cpu_percent: plateau,
            cpu_percent_per_1000_calls: plateau.map(|p| p * 1000.0 / peak_concurrent as f64),
            rss_max_kib: samples.iter().map(|s| s.process.rss_kib).max().unwrap_or(0),
            hwm_kib: last.process.hwm_kib,
        })
    }
}

/// The whole result.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Report {
    pub settings: RunSettings,
    pub wall_seconds: f64,
    pub calls: CallSummary,
    /// INVITE sent → first 2xx received.
    pub setup_latency: Summary,
    pub sip: SipCounters,
    /// SIP datagrams that did not parse or matched no call.
    pub sip_unmatched: u64,
    pub rtp: RtpSummary,
    /// What `--send-rtp` sent; `None` without it.
    pub rtp_sent: Option<SendTotals>,
    pub server: Option<ProcessSummary>,
    pub tool: Option<ProcessSummary>,
}

/// Builds the set-up latency summary from per-call durations.
pub fn setup_summary(setups: impl IntoIterator<Item = Duration>) -> Summary {
    let mut h = Histogram::new();
    for d in setups {
        h.record(u64::try_from(d.as_micros()).unwrap_or(u64::MAX));
    }
    h.summary()
}

fn write_summary(f: &mut fmt::Formatter<'_>, name: &str, s: &Summary) -> fmt::Result {
    if s.count == 0 {
        return writeln!(f, "  {name:<22} no samples");
    }
    writeln!(
        f,
        "  {name:<22} p50 {:.1} ms  p99 {:.1} ms  p99.9 {:.1} ms  max {:.1} ms  (n={})",
        s.p50_ms, s.p99_ms, s.p999_ms, s.max_ms, s.count
    )
}

fn write_process(f: &mut fmt::Formatter<'_>, name: &str, p: &ProcessSummary) -> fmt::Result {
    write!(
        f,
        "  {name:<22} CPU {:.2} s = {:.1} % of one core",
        p.cpu_seconds, p.cpu_percent
    )?;
    if let (Some(plateau), Some(per)) = (p.plateau_cpu_percent, p.cpu_percent_per_1000_calls) {
        write!(f, "; at peak {plateau:.1} % ({per:.1} % per 1,000 calls)")?;
    }
    writeln!(
        f,
        "; RSS max {:.1} MiB, peak {:.1} MiB",
        p.rss_max_kib as f64 / 1024.0,
        p.hwm_kib as f64 / 1024.0
    )
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = &self.settings;
        writeln!(
            f,
            "holdline-bench: {} calls to {} at {} at {}/s, {} s each, {} ptime {} ms ({:.1} s)",
            s.calls,
            s.number,
            s.server,
            s.rate,
            s.duration_s,
            s.codec,
            s.ptime_ms,
            self.wall_seconds
        )?;
        let c = &self.calls;
        writeln!(
            f,
            "calls: {} attempted, {} answered, {} completed, {} server hang-ups, {} failed, \
             {} timed out, {} BYE timed out, {} BYE rejected, {} unfinished; peak {} concurrent",
            c.attempted,
            c.answered,
            c.completed,
            c.server_hangups,
            c.failed,
            c.timed_out,
            c.bye_timed_out,
            c.bye_rejected,
            c.unfinished,
            c.peak_concurrent
        )?;
        if !c.failed_by_status.is_empty() {
            let by: Vec<String> = c
                .failed_by_status
                .iter()
                .map(|(s, n)| format!("{s}×{n}"))
                .collect();
            writeln!(f, "  failed by status: {}", by.join(", "))?;
        }
        let sip = &self.sip;
        writeln!(
            f,
            "sip: {} INVITE and {} BYE retransmissions, {} provisional responses, {} server \
             requests, {} unmatched datagrams",
            sip.invite_retransmits,
            sip.bye_retransmits,
            sip.provisional,
            sip.server_requests,
            self.sip_unmatched
        )?;
        write_summary(f, "set-up latency", &self.setup_latency)?;
        let r = &self.rtp;
        let rc = &r.counters;
        writeln!(
            f,
            "rtp: {} of {} streams had media; {} packets received, {} expected, {} lost ({:.3} %), \
             {} duplicates, {} reordered, {} seq gaps, {} ts jumps, {} restarts, {} malformed",
            r.streams_with_media,
            r.streams,
            rc.received,
            rc.expected,
            r.lost,
            r.loss_percent,
            rc.duplicates,
            rc.reordered,
            rc.seq_gaps,
            rc.ts_jumps,
            rc.restarts,
            rc.malformed
        )?;
        write_summary(f, "inter-arrival", &r.inter_arrival)?;
        write_summary(f, "|inter-arrival − ptime|", &r.deviation)?;
        writeln!(
            f,
            "  RFC 3550 jitter        mean {:.2} ms  max {:.2} ms",
            r.jitter_mean_ms, r.jitter_max_ms
        )?;
        if !r.payload_types.is_empty() {
            let pts: Vec<String> = r
                .payload_types
                .iter()
                .map(|(pt, n)| format!("PT {pt}×{n}"))
                .collect();
            writeln!(f, "  payload types: {}", pts.join(", "))?;
        }
        if let Some(sent) = &self.rtp_sent {
            writeln!(
                f,
                "  sent: {} streams, {} packets, {} send errors",
                sent.streams, sent.packets_sent, sent.send_errors
            )?;
        }
        writeln!(f, "processes:")?;
        match &self.server {
            Some(p) => write_process(f, "server", p)?,
            None => writeln!(f, "  server                 not sampled (no --server-pid)")?,
        }
        if let Some(p) = &self.tool {
            write_process(f, "holdline-bench", p)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(at_s: u64, active: u64, cpu_ms: u64, rss: u64) -> Sample {
        Sample {
            at: Duration::from_secs(at_s),
            active_calls: active,
            process: ProcSample {
                cpu: Duration::from_millis(cpu_ms),
                rss_kib: rss,
                hwm_kib: 900,
            },
        }
    }

    #[test]
    fn outcomes_are_counted_by_kind_and_status() {
        let mut c = CallSummary::default();
        for o in [
            Outcome::Completed,
            Outcome::ServerHangup,
            Outcome::Failed { status: 486 },
            Outcome::Failed { status: 486 },
            Outcome::Failed { status: 503 },
            Outcome::TimedOut,
        ] {
            c.count(o);
        }
        assert_eq!(c.attempted, 6);
        assert_eq!(c.answered, 2);
        assert_eq!(c.failed, 3);
        assert_eq!(c.failed_by_status.get(&486), Some(&2));
        assert!(!c.all_clean());
    }

    #[test]
    fn plateau_cpu_counts_only_intervals_at_peak_concurrency() {
        // Ramp (0.5 s of CPU), plateau of 2 s at 500 calls using 0.6 s, ramp down.
        let samples = [
            sample(0, 0, 0, 100),
            sample(1, 250, 500, 200),
            sample(2, 500, 700, 300),
            sample(3, 500, 1000, 300),
            sample(4, 500, 1300, 300),
            sample(5, 0, 1400, 250),
        ];
        let p = ProcessSummary::from_samples(&samples, 500).unwrap();
        assert!((p.cpu_seconds - 1.4).abs() < 1e-9);
        assert!((p.cpu_percent - 28.0).abs() < 1e-9);
        assert!((p.plateau_cpu_percent.unwrap() - 30.0).abs() < 1e-9);
        assert!((p.cpu_percent_per_1000_calls.unwrap() - 60.0).abs() < 1e-9);
        assert_eq!(p.rss_max_kib, 300);
        assert_eq!(p.hwm_kib, 900);
        assert_eq!(ProcessSummary::from_samples(&[], 1), None);
    }

    #[test]
    fn setup_latency_summary_is_in_milliseconds() {
        let s = setup_summary([Duration::from_micros(1_250), Duration::from_micros(2_000)]);
        assert_eq!(s.count, 2);
        assert_eq!(s.max_ms, 2.0);
        assert_eq!(s.p50_ms, 1.3);
    }
}
