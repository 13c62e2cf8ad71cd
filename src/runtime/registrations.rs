//! Registered bindings kept in the store: restored when the server starts, written whenever
//! they change, by a writer task so the core task never waits for SQLite.
//!
//! Only bindings over UDP are kept: one that came over a TCP connection is reached only on
//! that connection (RFC 5626 flows), which does not outlive the process; its phone registers
//! again when it reconnects. Times are stored as Unix milliseconds and mapped onto the new
//! process's clock on start; bindings that expired meanwhile are never rung.

use std::time::Duration;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::api::ApiState;
use crate::b2bua::registrar::Binding;
use crate::b2bua::Core;
use crate::config::UserId;
use crate::sip::parse::name_addr_of;
use crate::sip::transport::{Peer, Transport};
use crate::store::StoredBinding;
use crate::time::Time;

use super::clock::Clock;

/// How long the writer gathers changes before it writes them.
const COALESCE: Duration = Duration::from_millis(100);

/// One user's bindings as they are now.
pub(crate) type Change = (UserId, Vec<StoredBinding>);

/// Keys the registrar's nonces with the stored secret (made once) and puts the stored
/// bindings back into `core`.
pub(crate) fn restore(core: &mut Core, api: &ApiState, clock: &Clock) {
    let secret = api.prov().registrar_secret(|| {
        let bytes: [u8; 32] = rand::random();
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    });
    match secret {
        Ok(secret) => core.set_registrar_secret(secret.as_bytes()),
        Err(err) => tracing::error!(%err, "no registrar secret in the store; using a fresh one"),
    }
    let now = clock.now();
    let stored = match api.prov().stored_registrations(clock.unix_ms(now)) {
        Ok(s) => s,
        Err(err) => {
            tracing::error!(%err, "could not read the stored registrations");
            return;
        }
    };
    let mut restored = 0;
    for (user, list) in stored {
        let bindings: Vec<Binding> = list
            .iter()
            .filter_map(|b| from_stored(b, clock, now))
            .collect();
        restored += bindings.len();
        core.restore_registrations(now, &UserId(user), bindings);
    }
    if restored > 0 {
        tracing::info!(bindings = restored, "registrations restored from the store");
    }
}

/// The bindings of `user` to store.
pub(crate) fn change(core: &Core, clock: &Clock, now: Time, user: UserId) -> Change {
    let list = core
        .registrations(now, &user)
        .iter()
        .filter_map(|b| to_stored(b, clock))
        .collect();
    (user, list)
}

/// Starts the writer: send changes on the returned channel, drop it to stop, await the handle
/// to know every change is written.
pub(crate) fn start(api: ApiState) -> (mpsc::UnboundedSender<Change>, JoinHandle<()>) {
    let (tx, mut rx) = mpsc::unbounded_channel::<Change>();
    let task = tokio::spawn(async move {
        let mut batch = Vec::new();
        while rx.recv_many(&mut batch, 256).await > 0 {
            // Changes that come within COALESCE go into the same pass: phones refreshing one
            // after another (10,000 a minute is 170 a second) would otherwise cost a wake-up of
            // this task and of a blocking thread each (BENCHMARKS.md, registrar over UDP). A
            // SIGKILL loses at most that much more; SIGTERM drains the channel.
            super::clock::sleep(COALESCE).await;
            while let Ok(change) = rx.try_recv() {
                batch.push(change);
            }
            // The last state of each user is what counts.
            let mut seen = std::collections::HashSet::new();
            let mut last: Vec<(String, Vec<StoredBinding>)> = Vec::new();
            for (user, list) in batch.drain(..).rev() {
                if seen.insert(user.clone()) {
                    last.push((user.0, list));
                }
            }
            let api = api.clone();
            let written =
                tokio::task::spawn_blocking(move || api.prov().store_many_registrations(&last))
                    .await;
            match written {
                Ok(Ok(())) => {}
                Ok(Err(err)) => tracing::error!(%err, "could not store registrations"),
                Err(err) => tracing::error!(%err, "the registration writer failed"),
            }
        }
    });
    (tx, task)
}

fn to_stored(b: &Binding, clock: &Clock) -> Option<StoredBinding> {
    if b.source.transport != Transport::Udp {
        return None;
    }
    Some(StoredBinding {
        contact: b.contact.to_string(),
        instance: b.instance.clone(),
        reg_id: b.reg_id,
        call_id: b.call_id.clone(),
        cseq: b.cseq,
        expires_ms: clock.unix_ms(b.expires),
        since_ms: clock.unix_ms(b.since),
        source: b.source.addr.to_string(),
        transport: "UDP".into(),
        path: b.path.clone(),
        user_agent: b.user_agent.clone(),
    })
}

/// A stored binding on this process's time line (`None`: unreadable or not UDP).
fn from_stored(s: &StoredBinding, clock: &Clock, now: Time) -> Option<Binding> {
    if s.transport != "UDP" {
        return None;
    }
    let now_ms = clock.unix_ms(now);
    let at = |ms: i64| {
        let delta = ms.saturating_sub(now_ms);
        if delta >= 0 {
            now + Duration::from_millis(delta.unsigned_abs())
        } else {
            Time::from_epoch(
                now.since_epoch()
                    .saturating_sub(Duration::from_millis(delta.unsigned_abs())),
            )
        }
    };
    Some(Binding {
        contact: name_addr_of(&s.contact)?,
        instance: s.instance.clone(),
        reg_id: s.reg_id,
        call_id: s.call_id.clone(),
        cseq: s.cseq,
        expires: at(s.expires_ms),
        source: Peer::udp(s.source.parse().ok()?),
        path: s.path.clone(),
        user_agent: s.user_agent.clone(),
        since: at(s.since_ms),
    })
}
