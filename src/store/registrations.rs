//! Registered bindings, kept so they survive a restart (the registrar's, RFC 3261 §10.3).
//!
//! A user's bindings are one row each, written whole whenever they change (a REGISTER, an
//! expiry, a removal): the table holds the last state the server saw, and what expired in the
//! meantime is left out when it is read back. Times are Unix milliseconds (wall clock), since
//! the core's clock starts over with every process.

use rusqlite::params;
use serde::{Deserialize, Serialize};

use super::{Store, StoreError};

/// One binding as stored.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredBinding {
    /// The Contact as registered (name-addr, without `expires`).
    pub contact: String,
    pub instance: Option<String>,
    pub reg_id: Option<u32>,
    pub call_id: String,
    pub cseq: u32,
    pub expires_ms: i64,
    pub since_ms: i64,
    /// Where the REGISTER came from (`203.0.113.9:40000`) and over what (`UDP`).
    pub source: String,
    pub transport: String,
    #[serde(default)]
    pub path: Vec<String>,
    pub user_agent: Option<String>,
}

impl Store {
    /// Replaces `user`'s stored bindings with `bindings` (none: the user has none).
    pub fn set_registrations(
        &mut self,
        user: &str,
        bindings: &[StoredBinding],
    ) -> Result<(), StoreError> {
        self.set_many_registrations(&[(user.to_owned(), bindings.to_vec())])
    }

    /// [`Store::set_registrations`] for several users in one transaction: the registration
    /// writer gathers a tenth of a second of changes, and one commit for all of them costs
    /// far less than one per user.
    pub fn set_many_registrations(
        &mut self,
        changes: &[(String, Vec<StoredBinding>)],
    ) -> Result<(), StoreError> {
        let tx = self.conn_mut().transaction()?;
        for (user, bindings) in changes {
            let user = user.as_str();
            // Cached statements: every refresh of every phone comes here, and parsing the SQL
            // each time was a tenth of the server's CPU under 10,000 refreshing phones
            // (BENCHMARKS.md, registrar over UDP).
            tx.prepare_cached("DELETE FROM registrations WHERE user_id = ?1")?
                .execute([user])?;
            {
                let mut insert = tx.prepare_cached(
                    "INSERT INTO registrations (user_id, seq, body) VALUES (?1, ?2, ?3)",
                )?;
                for (seq, b) in bindings.iter().enumerate() {
                    let body = serde_json::to_string(b).map_err(|source| StoreError::Corrupt {
                        kind: "registration",
                        id: user.to_owned(),
                        source,
                    })?;
                    insert.execute(params![user, seq as i64, body])?;
                }
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// Every stored binding that has not expired by `now_ms`, by user, in order.
    pub fn registrations(
        &self,
        now_ms: i64,
    ) -> Result<Vec<(String, Vec<StoredBinding>)>, StoreError> {
        let mut stmt = self
            .conn()
            .prepare("SELECT user_id, body FROM registrations ORDER BY user_id, seq")?;
        let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?;
        let mut out: Vec<(String, Vec<StoredBinding>)> = Vec::new();
        for row in rows {
            let (user, body) = row?;
            let b: StoredBinding =
                serde_json::from_str(&body).map_err(|source| StoreError::Corrupt {
                    kind: "registration",
                    id: user.clone(),
                    source,
                })?;
            if b.expires_ms <= now_ms {
                continue;
            }
            match out.last_mut() {
                Some((u, list)) if *u == user => list.push(b),
                _ => out.push((user, vec![b])),
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn binding(contact: &str, expires_ms: i64) -> StoredBinding {
        StoredBinding {
            contact: contact.into(),
            instance: None,
            reg_id: None,
            call_id: "c".into(),
            cseq: 1,
            expires_ms,
            since_ms: 0,
            source: "203.0.113.9:40000".into(),
            transport: "UDP".into(),
            path: vec![],
            user_agent: Some("phone".into()),
        }
    }

    #[test]
    fn bindings_are_replaced_whole_and_expired_ones_not_read_back() {
        let mut s = Store::open_in_memory().unwrap();
        s.set_registrations(
            "amos",
            &[
                binding("<sip:a@10.0.0.1>", 100),
                binding("<sip:a@10.0.0.2>", 5000),
            ],
        )
        .unwrap();
        s.set_registrations("bea", &[binding("<sip:b@10.0.0.3>", 5000)])
            .unwrap();
        let got = s.registrations(1000).unwrap();
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].0, "amos");
        assert_eq!(got[0].1, [binding("<sip:a@10.0.0.2>", 5000)]);
        s.set_registrations("amos", &[]).unwrap();
        let got = s.registrations(1000).unwrap();
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].0, "bea");
    }
}
