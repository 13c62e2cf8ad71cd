//! The registrar's state in the store: the nonce secret and the bindings kept across restarts.

use crate::store::{StoreError, StoredBinding};

use super::Provisioning;

impl Provisioning {
    /// The secret that keys the registrar's nonces: the one stored, or `generate`d and stored
    /// now, so nonces issued before a restart are still recognised after it.
    pub fn registrar_secret(
        &mut self,
        generate: impl FnOnce() -> String,
    ) -> Result<String, StoreError> {
        Ok(self.store.meta_or_insert("registrar_secret", generate)?.0)
    }

    /// Replaces `user`'s stored bindings.
    pub fn store_registrations(
        &mut self,
        user: &str,
        bindings: &[StoredBinding],
    ) -> Result<(), StoreError> {
        self.store.set_registrations(user, bindings)
    }

    /// Several users' bindings replaced in one transaction.
    pub fn store_many_registrations(
        &mut self,
        changes: &[(String, Vec<StoredBinding>)],
    ) -> Result<(), StoreError> {
        self.store.set_many_registrations(changes)
    }

    /// The stored bindings not expired by `now_ms` (Unix ms), by user.
    pub fn stored_registrations(
        &self,
        now_ms: i64,
    ) -> Result<Vec<(String, Vec<StoredBinding>)>, StoreError> {
        self.store.registrations(now_ms)
    }
}
