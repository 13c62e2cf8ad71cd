//! What holdline's tests share, so that each helper exists once instead of a copy per test file:
//!
//! - [`paths`]: the `holdline` binary under test ([`holdline_bin`]), scratch directories under
//!   the target directory, the repository's fixtures.
//! - [`server`]: the real binary started on loopback with ephemeral ports ([`Server`]).
//! - [`sipp`]: SIPp as the callers ([`run_sipp`]) and as the agents' phones ([`AgentPhone`]).
//! - [`config`]: configuration files built from parts ([`ConfigToml`], [`QueueToml`]), with the
//!   two-agent set-up the virtual-time tests use ([`ConfigToml::two_agents`]).
//! - [`harness`]: the sans-IO call core on virtual time, driven by a scripted SIP peer
//!   ([`harness::Harness`]) with message builders for callers and agents.
//! - [`dns`]: a tiny DNS server for SRV and A records ([`DnsZone`]).
//! - [`sip`]: comparing parsed messages ([`sip::normalized`]).
//! - [`audio`]: sox and ffmpeg as the audio tests' oracles, and SNR after alignment.
//! - [`tls`]: certificates made in the test (rcgen), a TLS client and a TLS SBC/phone.
//! - [`bits`]: an MSB-first [`BitWriter`] for hand-made bitstreams.
//! - [`browser`]: a headless Chromium over WebDriver ([`Browser`]) for the web console's tests.
//!
//! It is a dev-dependency of the `holdline` package and of `holdline-bench`; it depends on the
//! `holdline` library only through its public API.

pub mod audio;
pub mod bits;
pub mod browser;
pub mod config;
pub mod dns;
pub mod harness;
pub mod paths;
pub mod server;
pub mod sip;
pub mod sipp;
pub mod tls;

pub use bits::BitWriter;
pub use browser::Browser;
pub use config::{ConfigToml, QueueToml};
pub use dns::{DnsServer, DnsZone, Srv};
pub use paths::{holdline_bin, repo_root, scratch_dir};
pub use server::{metric_value, raise_own_fd_limit, rss_kib, Server};
pub use sipp::{
    assert_sipp_ok, eventually, free_port, run_sipp, run_sipp_port, scenario, sipp_path,
    AgentPhone, SippRun,
};
