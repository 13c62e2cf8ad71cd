//! The `holdline` command: `serve`, `check-config`, the media tools, and the admin commands
//! (`queue`, `number`, `user`, `group`, `agent`) that talk to a running server's API.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// holdline: a SIP/RTP call-queue server.
#[derive(Parser)]
#[command(name = "holdline", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// Where the admin commands find the API (ignored by the others).
    #[command(flatten)]
    api: holdline::api::cli::ApiArgs,
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
        /// Serve the admin API here instead of the configuration's `[api] listen`, e.g.
        /// `--api-listen 127.0.0.1:0`.
        #[arg(long, value_name = "IP:PORT")]
        api_listen: Option<std::net::SocketAddr>,
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
    /// Read a password on stdin (its first line) and print its argon2 hash, the value of
    /// `[api] admin_password_hash` (the web console's admin sign-in).
    AdminPassword,
    #[command(flatten)]
    Api(holdline::api::cli::ApiCommand),
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
        Command::Serve {
            config,
            listen,
            api_listen,
        } => serve(config, &listen, api_listen),
        Command::CheckConfig { file } => check_config(&file),
        Command::Media { command } => media(command),
        Command::AdminPassword => admin_password(),
        Command::Api(command) => api(&command, &cli.api),
    }
}

/// `holdline admin-password`: the hash of the first line of stdin (without its line end).
fn admin_password() -> ExitCode {
    let mut line = String::new();
    if let Err(e) = std::io::stdin().read_line(&mut line) {
        eprintln!("cannot read the password from stdin: {e}");
        return ExitCode::FAILURE;
    }
    let password = line.trim_end_matches(['\n', '\r']);
    if password.is_empty() {
        eprintln!("the password is empty; give it on stdin (echo -n … | holdline admin-password)");
        return ExitCode::from(2);
    }
    match holdline::api::console::hash_password(password) {
        Ok(phc) => {
            println!("{phc}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{e}");
            ExitCode::FAILURE
        }
    }
}

/// An admin command: one or two API requests; the answer as a table or JSON on stdout, or the
/// API's refusal (every validation problem, one per line) on stderr.
fn api(command: &holdline::api::cli::ApiCommand, args: &holdline::api::cli::ApiArgs) -> ExitCode {
    match holdline::api::cli::run(command, args) {
        Ok(out) => {
            println!("{}", out.trim_end());
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("{err}");
            ExitCode::from(err.exit_code())
        }
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
    // The TLS files' contents: PEM, and a key that belongs to its certificate.
    let tls = holdline::runtime::tls::check(&config);
    if !tls.is_empty() {
        let err = holdline::config::ConfigError::Invalid(tls);
        eprintln!("{}: {err}", file.display());
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

fn serve(
    config: Option<PathBuf>,
    listen: &[String],
    api_listen: Option<std::net::SocketAddr>,
) -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "holdline=info".into()),
        )
        .with_writer(std::io::stderr)
        // Colours only for a terminal: journald and log files get plain text.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let parsed: Result<Vec<_>, _> = listen
        .iter()
        .map(|l| {
            holdline::config::validate::parse_served_listen(l)
                .map_err(|e| format!("--listen {l} {e}"))
        })
        .collect();
    let listen = match parsed {
        Ok(l) => l,
        Err(err) => {
            eprintln!("{err}");
            return ExitCode::from(2);
        }
    };
    holdline::runtime::serve::serve(holdline::runtime::serve::ServeOptions {
        config,
        listen,
        api_listen,
    })
}
