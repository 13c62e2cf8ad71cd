//! The `holdline` command: `serve`, `check-config`, and the media tools.
#![allow(clippy::disallowed_methods)] // The binary is part of the IO edge.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// holdline: a SIP/RTP call-queue server.
#[derive(Parser)]
#[command(name = "holdline", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server (on the embedded default configuration when no file is given).
    Serve {
        /// The configuration file (TOML).
        #[arg(long, short)]
        config: Option<PathBuf>,
        /// Listen here instead of the configuration's `[sip] listen` (repeatable), e.g.
        /// `--listen udp:127.0.0.1:0 --listen tcp:127.0.0.1:0`.
        #[arg(long, value_name = "TRANSPORT:IP:PORT")]
        listen: Vec<String>,
    },
    /// Validate a configuration file; every problem names the field and the reason.
    CheckConfig {
        /// The configuration file (TOML).
        file: PathBuf,
    },
    /// Inspect and convert prompt audio files (greetings, music on hold).
    Media {
        #[command(subcommand)]
        command: MediaCommand,
    },
}

#[derive(Subcommand)]
enum MediaCommand {
    /// Show a file's container, codec, sample rate, channels and duration.
    Probe { file: PathBuf },
    /// Convert a file to an 8 kHz G.711 WAV, exactly as holdline plays it.
    Convert {
        file: PathBuf,
        /// The WAV file to write.
        #[arg(long, short)]
        output: PathBuf,
        /// ulaw (PCMU) or alaw (PCMA).
        #[arg(long, default_value = "ulaw")]
        law: holdline::audio::Law,
        /// Refuse files longer than this many seconds.
        #[arg(long, default_value_t = 600)]
        max_seconds: u64,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve { config, listen } => serve(config, &listen),
        Command::CheckConfig { file } => check_config(&file),
        Command::Media { command } => media(command),
    }
}

/// Validates the file, then decodes every prompt it names, exactly as `serve` would.
fn check_config(file: &std::path::Path) -> ExitCode {
    let summary = match holdline::config::check_config(file) {
        Ok(summary) => summary,
        Err(err) => {
            eprintln!("{}: {err}", file.display());
            return ExitCode::from(2);
        }
    };
    let config = match holdline::config::load(file) {
        Ok(c) => c,
        Err(err) => {
            eprintln!("{}: {err}", file.display());
            return ExitCode::from(2);
        }
    };
    if let Err(errors) = holdline::runtime::prompts::load(&config) {
        for e in errors {
            eprintln!("{}: {e}", file.display());
        }
        return ExitCode::from(2);
    }
    println!("{summary}");
    ExitCode::SUCCESS
}

fn media(command: MediaCommand) -> ExitCode {
    let result = match command {
        MediaCommand::Probe { file } => holdline::audio::probe(&file).map(|info| info.to_string()),
        MediaCommand::Convert {
            file,
            output,
            law,
            max_seconds,
        } => {
            let opts = holdline::audio::DecodeOptions {
                max_duration: std::time::Duration::from_secs(max_seconds),
            };
            holdline::audio::convert_with(&file, &output, law, &opts).map(|r| r.to_string())
        }
    };
    match result {
        Ok(text) => {
            println!("{}", text.trim_end());
            ExitCode::SUCCESS
        }
        // The error names the file and the reason.
        Err(err) => {
            eprintln!("{err}");
            ExitCode::from(2)
        }
    }
}

fn serve(config_path: Option<PathBuf>, listen: &[String]) -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "holdline=info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let config = match &config_path {
        Some(path) => match holdline::config::load(path) {
            Ok(c) => c,
            Err(err) => {
                eprintln!("{}: {err}", path.display());
                return ExitCode::from(2);
            }
        },
        None => holdline::config::embedded_default(),
    };
    let mut config = config;
    if !listen.is_empty() {
        let parsed: Result<Vec<_>, _> = listen
            .iter()
            .map(|l| {
                holdline::config::validate::parse_listen(l).map_err(|e| format!("--listen {l} {e}"))
            })
            .collect();
        match parsed {
            Ok(l) => config.sip.listen = l,
            Err(err) => {
                eprintln!("{err}");
                return ExitCode::from(2);
            }
        }
    }
    // Decode every prompt before taking calls: a corrupt file is reported now, by name.
    let prompts = match holdline::runtime::prompts::load(&config) {
        Ok(p) => p,
        Err(errors) => {
            for e in errors {
                eprintln!("{e}");
            }
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(err) => {
            eprintln!("cannot start the runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async move {
        let listeners = match holdline::runtime::bind_listeners(&config.sip.listen).await {
            Ok(l) => l,
            Err(err) => {
                eprintln!("cannot bind the SIP listeners: {err}");
                return ExitCode::FAILURE;
            }
        };
        // Machine-readable lines on stdout: tests and scripts read the bound ports here.
        for (transport, addr) in listeners.addresses() {
            let t = transport.as_via_str().to_ascii_lowercase();
            println!("listening sip {t} {addr}");
            tracing::info!(%transport, %addr, "listening");
        }
        println!("ready");
        match holdline::runtime::run(config, prompts, listeners, shutdown_signal()).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(err) => {
                eprintln!("holdline stopped: {err}");
                ExitCode::FAILURE
            }
        }
    })
}

/// Completes on SIGTERM or SIGINT.
async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = match signal(SignalKind::terminate()) {
        Ok(s) => s,
        Err(_) => return std::future::pending().await,
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}
