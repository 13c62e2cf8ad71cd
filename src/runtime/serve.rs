//! `holdline serve`: the store, the admin API and the SIP server, started in that order and
//! stopped together.
//!
//! Start-up: read the configuration file (or the embedded default), open the store next to it,
//! apply the file's objects (config as code) and settle the API token; decode every prompt of
//! the effective configuration (a bad file of the config file's own queues stops the start; one
//! named only by an API-created queue is reported and skipped, so a prompt that went away never
//! keeps the server, and so the API, down); bind the SIP listeners and the API; then serve.
//!
//! On stdout, for scripts and tests: `listening sip udp IP:PORT` per SIP listener,
//! `listening api IP:PORT`, `api token TOKEN` once when the token was generated just now (it is
//! kept in the store and never shown again), and `ready`. Logs go to stderr.
//!
//! SIGTERM or SIGINT: the SIP side refuses new calls and hangs up (see [`super::run`]), the
//! event log is written out, and the API stops. SIGHUP: every prompt file is decoded again
//! (see `follow_config` in [`super`]).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use crate::api::boot::{boot, read_error, start, token_from_bytes};
use crate::api::FileSource;
use crate::config::{from_toml_str, Listen};

use super::live::RuntimeLive;
use super::Provisioned;

/// How long the API may take to finish its requests after the SIP side has stopped (an open
/// live feed never finishes by itself).
const API_GRACE: Duration = Duration::from_secs(2);

/// What `holdline serve` was asked to do.
#[derive(Clone, Debug, Default)]
pub struct ServeOptions {
    /// The configuration file; `None`: the embedded default.
    pub config: Option<PathBuf>,
    /// Replaces `[sip] listen` when not empty.
    pub listen: Vec<Listen>,
    /// Replaces `[api] listen`.
    pub api_listen: Option<SocketAddr>,
}

/// Runs the server until SIGTERM/SIGINT. Exit code 2 for a configuration or store problem
/// found before serving, 1 for a failure to bind or run.
pub fn serve(opts: ServeOptions) -> ExitCode {
    let file = match &opts.config {
        Some(path) => match FileSource::read(path) {
            Ok(f) => f,
            Err(err) => {
                eprintln!("{}", read_error(path, err));
                return ExitCode::from(2);
            }
        },
        None => FileSource::embedded_default(),
    };
    // The file alone, for its own prompts (boot validates it again, with the store).
    let file_config = match from_toml_str(&file.text, &file.base_dir) {
        Ok(c) => c,
        Err(err) => {
            eprintln!("{}: {err}", file.label);
            return ExitCode::from(2);
        }
    };
    // `--api-listen` obeys the rule `[api] listen` does, before anything is opened.
    if let Some(addr) = opts.api_listen {
        let token = file_config.api.token.as_deref();
        if let Err(why) = crate::config::validate::api_listen_allowed(addr, token) {
            eprintln!("--api-listen {why} (set [api] token in the configuration file)");
            return ExitCode::from(2);
        }
    }
    // Held until serve returns: the lock is released when the process exits, however it ends.
    let _store_lock = match lock_store(&file_config.store.path) {
        Ok(lock) => lock,
        Err(err) => {
            eprintln!("{err}");
            return ExitCode::from(2);
        }
    };
    let (live, live_requests) = RuntimeLive::channel();
    let booted = match boot(file, Arc::new(live), || {
        token_from_bytes(&rand::random::<[u8; 16]>())
    }) {
        Ok(b) => b,
        Err(err) => {
            eprintln!("{err}");
            return ExitCode::from(2);
        }
    };
    // Uploaded prompts are stamped with the wall clock, which only the runtime reads.
    booted
        .state
        .prov()
        .set_wall_clock(super::clock::wall_now_ms);
    let sync = &booted.sync;
    tracing::info!(
        written = sync.written,
        removed = sync.removed.len(),
        "config file applied to the store"
    );
    for (kind, id) in &sync.taken_over {
        tracing::warn!(
            kind = kind.as_str(),
            %id,
            "an object created through the API is now declared in the config file; the file's wins"
        );
    }
    let (generation, effective) = {
        let p = booted.state.prov();
        (p.generation(), p.config())
    };
    let mut config = (*effective).clone();
    if !opts.listen.is_empty() {
        config.sip.listen = opts.listen.clone();
    }
    // A `--listen tls:…` needs the certificate the file gives only with a tls: listener of its
    // own; without one it would accept connections it cannot serve.
    let tls_listen = config
        .sip
        .listen
        .iter()
        .any(|l| l.transport == crate::sip::transport::Transport::Tls);
    if tls_listen && config.sip.tls.is_none() {
        eprintln!(
            "--listen tls:… needs a tls: listener with tls_cert and tls_key in the \
             configuration file's [sip]"
        );
        return ExitCode::from(2);
    }
    if let Some(addr) = opts.api_listen {
        config.api.listen = addr;
    }

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
    // SIGHUP is taken over before anything slow: its default action would end the server
    // (`systemctl reload` is allowed at once). One that comes during start-up reloads the
    // prompts once serving.
    let hangups = {
        let _context = runtime.enter();
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) {
            Ok(s) => Some(s),
            Err(err) => {
                tracing::warn!(%err, "cannot watch for SIGHUP; prompts reload only on a restart");
                None
            }
        }
    };

    // The TLS certificates and keys, read now so a bad file stops the start with its field.
    let tls = super::tls::check(&config);
    if !tls.is_empty() {
        eprintln!("{}", crate::config::ConfigError::Invalid(tls));
        return ExitCode::from(2);
    }
    // Decode every prompt before taking calls: a corrupt file is reported now, by name.
    let mut prompts = match super::prompts::load(&file_config) {
        Ok(p) => p,
        Err(errors) => {
            for e in errors {
                eprintln!("{e}");
            }
            return ExitCode::from(2);
        }
    };
    let known = prompts.files.keys().cloned().collect();
    let (more, errors) = super::prompts::load_new(&config, &known);
    for e in errors {
        tracing::warn!("{e} (the queue was created through the API; it plays without it)");
    }
    prompts.files.extend(more);

    runtime.block_on(async move {
        let (stop_tx, stop_rx) = watch::channel(false);
        tokio::spawn(async move {
            shutdown_signal().await;
            let _ = stop_tx.send(true);
        });
        let listeners = match super::bind_listeners(&config.sip.listen).await {
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
        let (api_addr, api_task) = match start(
            booted.state.clone(),
            config.api.listen,
            stopped(stop_rx.clone()),
        )
        .await
        {
            Ok(a) => a,
            Err(err) => {
                eprintln!("cannot bind the admin API on {}: {err}", config.api.listen);
                return ExitCode::FAILURE;
            }
        };
        println!("listening api {api_addr}");
        tracing::info!(addr = %api_addr, "admin API listening");
        if booted.token_generated {
            // Shown once: it is kept in the store, and never logged.
            println!("api token {}", booted.token);
            tracing::warn!(
                "generated an API token and printed it on stdout; it is not shown again \
                 (set [api] token to choose one)"
            );
        }
        println!("ready");
        let provisioned = Provisioned {
            api: booted.state,
            live: live_requests,
            generation,
            hangups,
        };
        // The SIP core runs as a task on a worker, not in `block_on` on the main thread: the
        // worker that takes a datagram off epoll then runs the core itself, where the main
        // thread had to be woken for every datagram (two threads and a futex per REGISTER;
        // BENCHMARKS.md "Registrar over UDP").
        let core = tokio::spawn(super::run_provisioned(
            config,
            prompts,
            listeners,
            stopped(stop_rx),
            Some(provisioned),
        ));
        let result = match core.await {
            Ok(result) => result,
            Err(err) => Err(std::io::Error::other(format!("the SIP core failed: {err}"))),
        };
        // The API was told to stop with the SIP side; an open live feed would hold it forever.
        let abort = api_task.abort_handle();
        if tokio::time::timeout(API_GRACE, api_task).await.is_err() {
            abort.abort();
        }
        match result {
            Ok(()) => ExitCode::SUCCESS,
            Err(err) => {
                eprintln!("holdline stopped: {err}");
                ExitCode::FAILURE
            }
        }
    })
}

/// Completes once the stop flag is set.
async fn stopped(mut rx: watch::Receiver<bool>) {
    let _ = rx.wait_for(|stop| *stop).await;
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

/// Takes `<store>.lock` for the life of this server (an advisory `flock`, released by the
/// kernel when the process ends, even by SIGKILL). A second `holdline serve` on the same store
/// would apply its own file, keep its own agents' state in memory and drift from the first, so
/// it is refused with the reason. The CLI and other readers of the store never take the lock.
fn lock_store(store: &std::path::Path) -> Result<Option<std::fs::File>, String> {
    if store.as_os_str().to_string_lossy().ends_with(":memory:") {
        return Ok(None);
    }
    let mut name = store.as_os_str().to_owned();
    name.push(".lock");
    let path = std::path::PathBuf::from(name);
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| format!("cannot open the store lock {}: {e}", path.display()))?;
    if super::sys::try_lock_exclusive(&file) {
        Ok(Some(file))
    } else {
        Err(format!(
            "the store {} is in use by another holdline serve (it holds {}); \
             stop that one, or give this one its own [store] path",
            store.display(),
            path.display()
        ))
    }
}
