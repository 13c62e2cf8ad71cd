//! The `holdline-bench` command line: clap arguments mapped onto [`Options`], the run, and the
//! text or JSON report on stdout. Exit status 0 when every call was answered and ended cleanly,
//! 1 when some were not, 2 when the run could not take place.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, ValueEnum};

use crate::blast::{self, BlastPlan};
use crate::{procstat, run, Options, Spawn};
use holdline::sip::sdp::Codec;

/// holdline-bench: place N concurrent calls over SIP/UDP, receive their RTP, and report call
/// outcomes, set-up latency, RTP inter-arrival, jitter, loss, and the server's CPU and memory.
#[derive(Parser, Debug)]
#[command(name = "holdline-bench", version, about)]
pub struct Args {
    /// The server's SIP UDP address.
    #[arg(long, default_value = "127.0.0.1:5060")]
    pub server: SocketAddr,
    /// The number(s) to dial, comma-separated: calls go round-robin over them (a queue takes at
    /// most 200 calls, so 2,000 callers need ten queues).
    #[arg(long, value_delimiter = ',', default_value = "+14255550100")]
    pub number: Vec<String>,
    /// Calls to place; all are up at once when --duration ≥ calls / rate.
    #[arg(long, default_value_t = 100)]
    pub calls: u64,
    /// New calls per second.
    #[arg(long, default_value_t = 10.0)]
    pub rate: f64,
    /// Seconds each call stays up after it is answered.
    #[arg(long, default_value_t = 30.0)]
    pub duration: f64,
    /// The codec we prefer in the offer (both are offered).
    #[arg(long, value_enum, default_value_t = CodecArg::Pcmu)]
    pub codec: CodecArg,
    /// Packet time in milliseconds (a=ptime).
    #[arg(long, default_value_t = 20)]
    pub ptime: u32,
    /// Sample this process's CPU (/proc/PID/stat) and memory (VmRSS, VmHWM) during the run.
    #[arg(long)]
    pub server_pid: Option<u32>,
    /// Start `holdline serve --config FILE` ourselves and use its UDP listener and pid.
    #[arg(long, value_name = "FILE")]
    pub spawn: Option<PathBuf>,
    /// The holdline binary for --spawn (default: `holdline` next to this binary).
    #[arg(long)]
    pub holdline_bin: Option<PathBuf>,
    /// Our IP for SIP and RTP (default: the server's).
    #[arg(long)]
    pub local_ip: Option<IpAddr>,
    /// RTP port range for our receivers, FIRST-LAST (each call takes an even/odd pair).
    #[arg(long, default_value = "30000-39999", value_parser = parse_range)]
    pub rtp_ports: (u16, u16),
    /// Send G.711 silence on every answered call (two-way streams; keeps the server's RTP
    /// timeout from hanging up long calls).
    #[arg(long)]
    pub send_rtp: bool,
    /// RFC 3261 T1 in milliseconds.
    #[arg(long, default_value_t = 500)]
    pub t1_ms: u64,
    /// Seconds to wait for a final response to an INVITE.
    #[arg(long, default_value_t = 32.0)]
    pub setup_timeout: f64,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
    /// Calibration: instead of calling, send --calls paced RTP streams for --duration seconds
    /// to the even ports of --rtp-ports on --local-ip (or the server's IP), as a stand-in for
    /// the server's media plane while another holdline-bench receives them.
    #[arg(long)]
    pub blast: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum CodecArg {
    Pcmu,
    Pcma,
}

fn parse_range(s: &str) -> Result<(u16, u16), String> {
    let (a, b) = s
        .split_once('-')
        .ok_or_else(|| format!("{s:?} is not FIRST-LAST"))?;
    let port = |p: &str| {
        p.trim()
            .parse::<u16>()
            .map_err(|e| format!("{p:?} is not a port: {e}"))
    };
    Ok((port(a)?, port(b)?))
}

fn seconds(option: &'static str, s: f64) -> Result<Duration, String> {
    Duration::try_from_secs_f64(s).map_err(|_| format!("{option} {s} is not a duration"))
}

impl Args {
    /// The blast plan these arguments describe.
    pub fn blast_plan(&self) -> Result<BlastPlan, String> {
        Ok(BlastPlan {
            to: self.local_ip.unwrap_or(self.server.ip()),
            ports: self.rtp_ports,
            streams: self.calls,
            ptime: Duration::from_millis(u64::from(self.ptime.max(1))),
            codec: match self.codec {
                CodecArg::Pcmu => Codec::Pcmu,
                CodecArg::Pcma => Codec::Pcma,
            },
            duration: seconds("--duration", self.duration)?,
        })
    }

    pub fn into_options(self) -> Result<Options, String> {
        let mut o = Options::new(self.server);
        o.numbers = self.number;
        o.calls = self.calls;
        o.rate = self.rate;
        o.duration = seconds("--duration", self.duration)?;
        o.codec = match self.codec {
            CodecArg::Pcmu => Codec::Pcmu,
            CodecArg::Pcma => Codec::Pcma,
        };
        o.ptime_ms = self.ptime;
        o.server_pid = self.server_pid;
        o.local_ip = self.local_ip;
        o.rtp_ports = self.rtp_ports;
        o.send_rtp = self.send_rtp;
        o.t1 = Duration::from_millis(self.t1_ms);
        o.setup_timeout = seconds("--setup-timeout", self.setup_timeout)?;
        if let Some(config) = self.spawn {
            let binary = match self.holdline_bin {
                Some(b) => b,
                None => std::env::current_exe()
                    .map_err(|e| format!("cannot find holdline next to this binary: {e}"))?
                    .with_file_name("holdline"),
            };
            o.spawn = Some(Spawn { binary, config });
        }
        Ok(o)
    }
}

/// The `holdline-bench` program.
pub fn main() -> ExitCode {
    let args = Args::parse();
    let json = args.json;
    if args.blast {
        return blast_main(&args);
    }
    let options = match args.into_options() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("holdline-bench: {e}");
            return ExitCode::from(2);
        }
    };
    match run(options) {
        Ok(report) => {
            if json {
                match serde_json::to_string_pretty(&report) {
                    Ok(text) => println!("{text}"),
                    Err(e) => {
                        eprintln!("holdline-bench: cannot write JSON: {e}");
                        return ExitCode::from(2);
                    }
                }
            } else {
                print!("{report}");
            }
            if report.calls.all_clean() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            }
        }
        Err(e) => {
            eprintln!("holdline-bench: {e}");
            ExitCode::from(2)
        }
    }
}

fn blast_main(args: &Args) -> ExitCode {
    let plan = match args.blast_plan() {
        Ok(p) => p,
        Err(e) => {
            eprintln!("holdline-bench: {e}");
            return ExitCode::from(2);
        }
    };
    let before = procstat::sample("self");
    let report = match blast::run(&plan) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("holdline-bench: {e}");
            return ExitCode::from(2);
        }
    };
    let cpu = match (before, procstat::sample("self")) {
        (Some(a), Some(b)) => b.cpu.saturating_sub(a.cpu).as_secs_f64(),
        _ => 0.0,
    };
    if args.json {
        let value = serde_json::json!({ "blast": report, "cpu_seconds": cpu });
        println!("{value:#}");
    } else {
        println!(
            "blast: {} streams, {} packets sent, {} send errors, max lateness {:.2} ms, \
             {:.1} s; CPU {:.2} s = {:.1} % of one core",
            report.streams,
            report.packets_sent,
            report.send_errors,
            report.max_lateness_ms,
            report.wall_seconds,
            cpu,
            100.0 * cpu / report.wall_seconds.max(1e-9)
        );
    }
    ExitCode::SUCCESS
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_map_onto_options() {
        let args = Args::try_parse_from([
            "holdline-bench",
            "--calls",
            "2000",
            "--rate",
            "50",
            "--duration",
            "60",
            "--codec",
            "pcma",
            "--rtp-ports",
            "40000-44999",
            "--server-pid",
            "77",
            "--number",
            "+14255550100,+14255550101",
        ])
        .unwrap();
        let o = args.into_options().unwrap();
        assert_eq!(o.calls, 2000);
        assert_eq!(o.rate, 50.0);
        assert_eq!(o.duration, Duration::from_secs(60));
        assert_eq!(o.codec, Codec::Pcma);
        assert_eq!(o.rtp_ports, (40000, 44999));
        assert_eq!(o.server_pid, Some(77));
        assert_eq!(o.numbers, ["+14255550100", "+14255550101"]);
        assert_eq!(o.server, "127.0.0.1:5060".parse().unwrap());
    }

    #[test]
    fn bad_ranges_and_durations_are_refused() {
        assert!(parse_range("40000").is_err());
        assert!(parse_range("a-b").is_err());
        let args = Args::try_parse_from(["holdline-bench", "--duration=-1"]).unwrap();
        assert!(args.into_options().is_err());
    }
}
