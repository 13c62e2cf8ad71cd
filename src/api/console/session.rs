//! The console's sessions, CSRF tokens and the sign-in rate limit: plain state over virtual
//! time ([`Time`]), so every expiry and every refusal is tested without a clock.
//!
//! A session id and its CSRF token are 32 random bytes each (OS randomness, drawn by the
//! caller), hex-encoded; the id is the cookie, the token goes into every form. A session lives
//! [`SESSION_IDLE`] after its last use and at most [`SESSION_MAX`] after sign-in; it is
//! forgotten on sign-out. Failed sign-ins are counted per source address like failed digests:
//! [`FAIL_LIMIT`] within [`FAIL_WINDOW`] and that source is refused for [`FAIL_BAN`], even with
//! the right credentials, so a guesser learns nothing while refused.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::Duration;

use crate::time::Time;

/// A session ends this long after its last request.
pub const SESSION_IDLE: Duration = Duration::from_secs(30 * 60);
/// … and this long after sign-in, however busy.
pub const SESSION_MAX: Duration = Duration::from_secs(12 * 3600);
/// Failed sign-ins from one source allowed within [`FAIL_WINDOW`].
pub const FAIL_LIMIT: u32 = 5;
pub const FAIL_WINDOW: Duration = Duration::from_secs(60);
/// How long a source that reached [`FAIL_LIMIT`] is refused.
pub const FAIL_BAN: Duration = Duration::from_secs(300);
/// Sessions kept at most; the oldest goes first (a flood of sign-ins cannot grow memory).
pub const MAX_SESSIONS: usize = 10_000;
/// Sources whose failures are tracked at most; expired entries are swept first.
const MAX_SOURCES: usize = 10_000;

/// Who a session belongs to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Role {
    /// Signed in with the API token: every page.
    Admin,
    /// Signed in with a user's SIP credentials: that user's own page only.
    Agent(String),
}

/// A live session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Session {
    pub role: Role,
    /// Goes into every form; a state-changing post must carry it.
    pub csrf: String,
    created: Time,
    last_used: Time,
}

/// Hex of `bytes`: ids and tokens as they travel in cookies and forms.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Every session by id.
#[derive(Debug, Default)]
pub struct Sessions {
    by_id: HashMap<String, Session>,
}

impl Sessions {
    /// Starts a session for `role` under `id` with `csrf` (both random, drawn by the caller).
    pub fn create(&mut self, id: String, csrf: String, role: Role, now: Time) {
        // Expired sessions go when room is needed (and when their id is next used).
        if self.by_id.len() >= MAX_SESSIONS {
            self.sweep(now);
        }
        if self.by_id.len() >= MAX_SESSIONS {
            if let Some(oldest) = self
                .by_id
                .iter()
                .min_by_key(|(_, s)| s.last_used)
                .map(|(k, _)| k.clone())
            {
                self.by_id.remove(&oldest);
            }
        }
        self.by_id.insert(
            id,
            Session {
                role,
                csrf,
                created: now,
                last_used: now,
            },
        );
    }

    /// The session `id` names, when it has not expired; using it keeps it alive.
    pub fn touch(&mut self, id: &str, now: Time) -> Option<Session> {
        let alive = self.by_id.get(id).is_some_and(|s| alive(s, now));
        if !alive {
            self.by_id.remove(id);
            return None;
        }
        let s = self.by_id.get_mut(id)?;
        s.last_used = now;
        Some(s.clone())
    }

    /// Sign-out: the id is worthless from now on.
    pub fn remove(&mut self, id: &str) {
        self.by_id.remove(id);
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }

    fn sweep(&mut self, now: Time) {
        self.by_id.retain(|_, s| alive(s, now));
    }
}

fn alive(s: &Session, now: Time) -> bool {
    now.saturating_since(s.last_used) < SESSION_IDLE
        && now.saturating_since(s.created) < SESSION_MAX
}

/// Whether a form's CSRF token is the session's (compared in constant time).
pub fn csrf_ok(session: &Session, given: &str) -> bool {
    !given.is_empty() && super::super::constant_time_eq(given.as_bytes(), session.csrf.as_bytes())
}

/// Whether a state-changing request comes from the console's own pages: its `Origin` (or,
/// without one, its `Referer`) names the host it was sent to. A browser always sends `Origin`
/// on a cross-site POST (Fetch standard), so a forged form from another site fails here even
/// before its missing CSRF token is looked at. A request with neither header (a non-browser
/// client) is left to the CSRF token.
pub fn same_origin(origin: Option<&str>, referer: Option<&str>, host: Option<&str>) -> bool {
    let Some(host) = host else {
        return false;
    };
    let authority = |url: &str| -> Option<String> {
        let rest = url
            .strip_prefix("http://")
            .or_else(|| url.strip_prefix("https://"))?;
        Some(rest.split('/').next().unwrap_or("").to_ascii_lowercase())
    };
    let host = host.to_ascii_lowercase();
    match (origin, referer) {
        // `Origin: null` (a sandboxed or file page) is never ours.
        (Some(o), _) => authority(o.trim()).is_some_and(|a| a == host),
        (None, Some(r)) => authority(r.trim()).is_some_and(|a| a == host),
        (None, None) => true,
    }
}

/// Failed sign-ins per source.
#[derive(Debug, Default)]
pub struct SignInLimit {
    sources: HashMap<IpAddr, Failures>,
}

#[derive(Debug, Clone, Copy)]
struct Failures {
    window_start: Time,
    count: u32,
    banned_until: Option<Time>,
}

impl SignInLimit {
    /// Whether `source` is refused now.
    pub fn refused(&self, source: IpAddr, now: Time) -> bool {
        self.sources
            .get(&source)
            .and_then(|f| f.banned_until)
            .is_some_and(|until| now < until)
    }

    /// Counts a failed sign-in from `source`; returns true when this one starts a ban.
    pub fn failed(&mut self, source: IpAddr, now: Time) -> bool {
        if self.sources.len() >= MAX_SOURCES && !self.sources.contains_key(&source) {
            self.sources.retain(|_, f| !expired(f, now));
            if self.sources.len() >= MAX_SOURCES {
                // Still full of live entries: forget the one whose window began first.
                if let Some(k) = self
                    .sources
                    .iter()
                    .min_by_key(|(_, f)| f.window_start)
                    .map(|(k, _)| *k)
                {
                    self.sources.remove(&k);
                }
            }
        }
        let f = self.sources.entry(source).or_insert(Failures {
            window_start: now,
            count: 0,
            banned_until: None,
        });
        if f.banned_until.is_some_and(|until| now >= until)
            || now.saturating_since(f.window_start) >= FAIL_WINDOW
        {
            *f = Failures {
                window_start: now,
                count: 0,
                banned_until: None,
            };
        }
        f.count += 1;
        if f.count >= FAIL_LIMIT && f.banned_until.is_none() {
            f.banned_until = Some(now + FAIL_BAN);
            return true;
        }
        false
    }

    /// A successful sign-in clears the source's count.
    pub fn succeeded(&mut self, source: IpAddr) {
        self.sources.remove(&source);
    }
}

fn expired(f: &Failures, now: Time) -> bool {
    match f.banned_until {
        Some(until) => now >= until,
        None => now.saturating_since(f.window_start) >= FAIL_WINDOW,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(secs: u64) -> Time {
        Time::from_millis(secs * 1000)
    }

    #[test]
    fn a_session_expires_when_idle_and_at_its_maximum_age() {
        let mut s = Sessions::default();
        s.create("a".into(), "c".into(), Role::Admin, t(0));
        assert!(s.touch("a", t(SESSION_IDLE.as_secs() - 1)).is_some());
        // Used just now: alive for another idle period.
        assert!(s.touch("a", t(2 * SESSION_IDLE.as_secs() - 2)).is_some());
        assert!(s.touch("a", t(3 * SESSION_IDLE.as_secs())).is_none());
        assert!(s.is_empty(), "an expired session is forgotten");

        s.create("b".into(), "c".into(), Role::Admin, t(0));
        let mut now = 0;
        while now + 60 < SESSION_MAX.as_secs() {
            now += 60;
            assert!(
                s.touch("b", t(now)).is_some(),
                "busy session alive at {now}s"
            );
        }
        assert!(s.touch("b", t(SESSION_MAX.as_secs())).is_none());
    }

    #[test]
    fn sign_out_and_unknown_ids_give_no_session() {
        let mut s = Sessions::default();
        s.create("id".into(), "tok".into(), Role::Agent("alice".into()), t(0));
        assert_eq!(
            s.touch("id", t(1)).unwrap().role,
            Role::Agent("alice".into())
        );
        assert!(s.touch("other", t(1)).is_none());
        s.remove("id");
        assert!(s.touch("id", t(2)).is_none());
    }

    #[test]
    fn sessions_are_capped() {
        let mut s = Sessions::default();
        for i in 0..MAX_SESSIONS + 10 {
            s.create(
                format!("{i}"),
                "c".into(),
                Role::Admin,
                Time::from_millis(i as u64),
            );
        }
        assert_eq!(s.len(), MAX_SESSIONS);
        let later = t(60);
        assert!(s.touch("0", later).is_none(), "the oldest went first");
        assert!(s.touch("9", later).is_none());
        assert!(s.touch("10", later).is_some());
        // Once they have expired, they all make room at once.
        s.create(
            "x".into(),
            "c".into(),
            Role::Admin,
            t(SESSION_IDLE.as_secs() + 120),
        );
        assert_eq!(s.len(), 1, "expired sessions swept when room was needed");
    }

    #[test]
    fn csrf_token_must_match_exactly() {
        let mut s = Sessions::default();
        s.create("id".into(), "token123".into(), Role::Admin, t(0));
        let session = s.touch("id", t(0)).unwrap();
        assert!(csrf_ok(&session, "token123"));
        assert!(!csrf_ok(&session, "token124"));
        assert!(!csrf_ok(&session, ""));
        assert!(!csrf_ok(&session, "token1234"));
    }

    #[test]
    fn origin_must_name_the_host() {
        let host = Some("127.0.0.1:8080");
        assert!(same_origin(Some("http://127.0.0.1:8080"), None, host));
        assert!(same_origin(Some("https://127.0.0.1:8080"), None, host));
        assert!(!same_origin(Some("http://evil.example"), None, host));
        assert!(!same_origin(Some("null"), None, host));
        // Origin wins over a matching Referer.
        assert!(!same_origin(
            Some("http://evil.example"),
            Some("http://127.0.0.1:8080/admin"),
            host
        ));
        assert!(same_origin(None, Some("http://127.0.0.1:8080/admin"), host));
        assert!(!same_origin(
            None,
            Some("http://127.0.0.1:8081/admin"),
            host
        ));
        assert!(same_origin(None, None, host));
        assert!(!same_origin(Some("http://127.0.0.1:8080"), None, None));
    }

    #[test]
    fn failed_sign_ins_ban_the_source_for_a_while() {
        let mut l = SignInLimit::default();
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "192.0.2.2".parse().unwrap();
        for i in 1..FAIL_LIMIT {
            assert!(!l.failed(a, t(i as u64)), "failure {i} does not ban");
            assert!(!l.refused(a, t(i as u64)));
        }
        assert!(l.failed(a, t(10)), "failure {FAIL_LIMIT} bans");
        assert!(l.refused(a, t(10)));
        assert!(l.refused(a, t(10 + FAIL_BAN.as_secs() - 1)));
        assert!(!l.refused(b, t(10)), "another source is not refused");
        assert!(!l.refused(a, t(10 + FAIL_BAN.as_secs())), "the ban ends");
        // Counting starts afresh after the ban.
        assert!(!l.failed(a, t(10 + FAIL_BAN.as_secs())));
    }

    #[test]
    fn failures_spread_over_windows_do_not_ban() {
        let mut l = SignInLimit::default();
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        // Just under FAIL_LIMIT failures in every window: never a ban.
        let step = FAIL_WINDOW.as_secs() / (FAIL_LIMIT as u64 - 1) + 1;
        for i in 0..(FAIL_LIMIT as u64 * 3) {
            assert!(!l.failed(a, t(i * step)), "failure {i}");
        }
        let mut l = SignInLimit::default();
        for _ in 0..FAIL_LIMIT - 1 {
            l.failed(a, t(1));
        }
        l.succeeded(a);
        assert!(!l.failed(a, t(2)), "a success clears the count");
    }
}
