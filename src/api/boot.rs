//! Starting the store and the API for `holdline serve`: open the database the configuration
//! names, apply the file's objects, settle the token, and build the [`ApiState`].
//!
//! The caller (the runtime) binds the listener and serves [`super::serve`]; it also supplies the
//! randomness for a generated token, since only the runtime reads OS randomness.

use std::future::Future;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use crate::config::{from_toml_str, ConfigError};
use crate::store::objects::SyncReport;
use crate::store::Store;

use super::live::LiveState;
use super::provision::{FileSource, ProvisionError, Provisioning};
use super::ApiState;

/// What [`boot`] started.
pub struct Booted {
    pub state: ApiState,
    /// The bearer token clients must send.
    pub token: String,
    /// The token was generated just now: print it once (it is not shown again).
    pub token_generated: bool,
    /// What applying the config file changed in the store (log it).
    pub sync: SyncReport,
}

/// Opens the store at the configuration's `[store] path` (`:memory:` keeps nothing, for tests),
/// applies the file's objects, and builds the API state. `random_token` is called only when
/// neither the file nor the store has a token yet.
pub fn boot(
    file: FileSource,
    live: Arc<dyn LiveState>,
    random_token: impl FnOnce() -> String,
) -> Result<Booted, ProvisionError> {
    let config =
        from_toml_str(&file.text, &file.base_dir).map_err(|source| ProvisionError::File {
            label: file.label.clone(),
            source,
        })?;
    let store = if config.store.path.ends_with(":memory:") {
        Store::open_in_memory()?
    } else {
        Store::open(&config.store.path)?
    };
    let (mut prov, sync) = Provisioning::open(store, file)?;
    let (token, token_generated) = prov.api_token(config.api.token.as_deref(), random_token)?;
    let state = ApiState::new(prov, live, Some(token.clone()));
    Ok(Booted {
        state,
        token,
        token_generated,
        sync,
    })
}

/// Binds `addr` (port 0 picks a free port) and serves the API on it until `shutdown`
/// completes. Returns the bound address (print it: tests read it) and the server task.
pub async fn start(
    state: ApiState,
    addr: SocketAddr,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<(SocketAddr, JoinHandle<std::io::Result<()>>)> {
    let listener = TcpListener::bind(addr).await?;
    let bound = listener.local_addr()?;
    let task = tokio::spawn(super::serve(listener, state, shutdown));
    Ok((bound, task))
}

/// A token from random bytes: 32 lowercase hex digits per 16 bytes.
pub fn token_from_bytes(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// `ConfigError` for a file that could not be read, in the shape `boot` reports.
pub fn read_error(path: &Path, source: std::io::Error) -> ProvisionError {
    ProvisionError::File {
        label: path.display().to_string(),
        source: ConfigError::Read {
            path: path.to_owned(),
            source,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::MemoryLive;

    fn file(extra: &str) -> FileSource {
        let text = format!("[store]\npath = \":memory:\"\n{extra}");
        FileSource {
            text,
            label: "test.toml".into(),
            base_dir: Default::default(),
        }
    }

    #[test]
    fn token_is_generated_when_the_file_sets_none() {
        let b = boot(file(""), Arc::new(MemoryLive::default()), || "abc".into()).unwrap();
        assert_eq!((b.token.as_str(), b.token_generated), ("abc", true));
    }

    #[test]
    fn token_from_the_file_wins_and_nothing_is_generated() {
        let b = boot(
            file("[api]\ntoken = \"from-file\"\n"),
            Arc::new(MemoryLive::default()),
            || panic!("must not generate"),
        )
        .unwrap();
        assert_eq!((b.token.as_str(), b.token_generated), ("from-file", false));
    }

    #[tokio::test]
    async fn started_api_answers_with_the_token_and_stops_on_shutdown() {
        let b = boot(file(""), Arc::new(MemoryLive::default()), || "tok".into()).unwrap();
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let addr = SocketAddr::from(([127, 0, 0, 1], 0));
        let (bound, task) = start(b.state, addr, async {
            let _ = stop_rx.await;
        })
        .await
        .unwrap();
        let client = crate::api::client::Client::new(bound.to_string(), Some(b.token));
        let reply =
            tokio::task::spawn_blocking(move || client.request("GET", "/api/v1/queues", None))
                .await
                .unwrap()
                .unwrap();
        assert_eq!(reply.status, 200);
        assert_eq!(reply.body.as_array().map(Vec::len), Some(0));
        stop_tx.send(()).unwrap();
        task.await.unwrap().unwrap();
    }

    #[test]
    fn token_from_bytes_is_hex() {
        assert_eq!(token_from_bytes(&[0, 15, 255]), "000fff");
    }
}
