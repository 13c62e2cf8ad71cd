//! The registrar (RFC 3261 §10.3) for users with a `password`: digest authentication, bindings
//! with expiry, RFC 5626 instance ids and flows, RFC 3327 Path, and the per-source limit on
//! failed authentications. Sans-IO: it takes a REGISTER with `now` and its source, and returns
//! the answer and what changed; the core carries that out (responses, bans, locations).
//!
//! A scanner learns nothing: every REGISTER without valid credentials (unknown user, user
//! without a password, wrong password, wrong domain) gets the same 401 with the same realm and
//! a nonce that depends only on the time and how many were issued. Only after the credentials check out does anything
//! depend on who the user is.
//!
//! NAT (RFC 3581, RFC 5626 §5): a binding is always reached at the address, port and transport
//! the REGISTER came from, over the same connection on TCP, whatever its Contact says: a phone
//! behind NAT writes a private address there, and even a public one may be a port the NAT does
//! not forward. The Contact URI stays the Request-URI of INVITEs to it.
//!
//! What this does not do: know queues (it says which users' bindings changed), GRUU (RFC 5627),
//! or outbound keep-alive negotiation beyond answering CRLF pings (the runtime does).

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::time::Duration;

use crate::config::registrar::RegistrarConfig;
use crate::config::{Config, UserId};
use crate::sip::digest::server::{ha1, Credentials, Verdict, Verifier};
use crate::sip::digest::Algorithm;
use crate::sip::header::HeaderName;
use crate::sip::message::Request;
use crate::sip::transport::{ConnId, Peer};
use crate::sip::typed::NameAddr;
use crate::sip::uri::{Host, Uri};
use crate::time::Time;

/// How many source addresses' failure counts are kept at once; beyond it, new addresses are
/// not tracked until old windows end (the rate limits of admission still apply to them).
const MAX_FAILURE_SOURCES: usize = 65_536;

/// One registered contact of a user.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Binding {
    /// The Contact as registered (its URI is the Request-URI of INVITEs), without `expires`.
    pub contact: NameAddr,
    /// RFC 5626 `+sip.instance` and `reg-id`.
    pub instance: Option<String>,
    pub reg_id: Option<u32>,
    /// §10.3 step 7: the Call-ID and CSeq of the REGISTER that last updated it.
    pub call_id: String,
    pub cseq: u32,
    pub expires: Time,
    /// Where the REGISTER came from: where INVITEs to this binding go (its connection on TCP).
    pub source: Peer,
    /// RFC 3327: the Path of the REGISTER, used as the Route of requests to the binding.
    pub path: Vec<String>,
    pub user_agent: Option<String>,
    /// When it was first registered (the oldest goes first when a user has too many).
    pub since: Time,
}

/// What a REGISTER led to.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Answer {
    pub status: u16,
    pub headers: Vec<(HeaderName, String)>,
    /// The user whose bindings changed.
    pub changed: Option<UserId>,
    /// The source passed the failure limit: ban it for `auth_ban`.
    pub ban: Option<(IpAddr, Duration)>,
    /// A user authenticated from this source.
    pub authenticated: Option<IpAddr>,
}

impl Answer {
    fn status(status: u16) -> Answer {
        Answer {
            status,
            ..Answer::default()
        }
    }
}

/// Counters for `/metrics`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RegistrarStats {
    /// REGISTERs and users' INVITEs whose credentials failed.
    pub auth_failures_total: u64,
    /// Sources banned for failing too often.
    pub auth_bans_total: u64,
    /// REGISTERs accepted (200).
    pub registrations_total: u64,
}

/// A user who may register: HA1 per algorithm (the password itself is not kept).
#[derive(Clone, Debug)]
struct Account {
    id: UserId,
    ha1_md5: String,
    ha1_sha256: String,
    /// The user's numbers' digits, so `sip:+14255550123@…` names the user too.
    numbers: Vec<String>,
}

/// Failed authentications from one source in the current window.
#[derive(Clone, Copy, Debug)]
struct Failures {
    since: Time,
    count: u32,
}

/// Who challenges: the registrar (401, RFC 3261 §22.2, user to user) or, for INVITEs from
/// users, holdline as their proxy (407 with Proxy-Authenticate, §22.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Challenge {
    Registrar,
    Proxy,
}

impl Challenge {
    fn status(self) -> u16 {
        match self {
            Challenge::Registrar => 401,
            Challenge::Proxy => 407,
        }
    }

    fn challenge_header(self) -> HeaderName {
        match self {
            Challenge::Registrar => HeaderName::WwwAuthenticate,
            Challenge::Proxy => HeaderName::ProxyAuthenticate,
        }
    }

    fn credentials_header(self) -> HeaderName {
        match self {
            Challenge::Registrar => HeaderName::Authorization,
            Challenge::Proxy => HeaderName::ProxyAuthorization,
        }
    }
}

/// The registrar's state: accounts from the configuration, bindings, nonces, failure counts.
#[derive(Debug)]
pub struct Registrar {
    config: RegistrarConfig,
    /// `[sip] domains` and `public_host`, lower-cased; empty: any domain is ours.
    domains: Vec<String>,
    accounts: HashMap<String, Account>,
    verifier: Verifier,
    bindings: HashMap<UserId, Vec<Binding>>,
    /// No binding expires before this: a lower bound, kept by every insert and refresh and made
    /// exact by each expiry scan. The core asks for its timeout after every input and fires
    /// timers for every transaction; scanning 10,000 bindings each time cost more than the
    /// REGISTER itself (see BENCHMARKS.md, registrar).
    next_expiry: Option<Time>,
    /// Every source address a binding came from, and perhaps some whose bindings are gone: a
    /// superset, added to by every REGISTER and restore, made exact by each expiry scan. The
    /// inbound policy asks [`Registrar::registered_from`] for INVITEs a flood may send, which
    /// must not scan every binding (as `next_expiry` keeps the timeout from doing).
    sources: HashSet<IpAddr>,
    failures: HashMap<IpAddr, Failures>,
    stats: RegistrarStats,
}

impl Registrar {
    /// `secret` keys the nonces' MAC (the runtime keeps one in the store's meta table).
    pub fn new(config: &Config, secret: &[u8]) -> Registrar {
        let mut r = Registrar {
            config: config.registrar.clone(),
            domains: Vec::new(),
            accounts: HashMap::new(),
            verifier: Verifier::new(secret, config.registrar.nonce_lifetime),
            bindings: HashMap::new(),
            next_expiry: None,
            sources: HashSet::new(),
            failures: HashMap::new(),
            stats: RegistrarStats::default(),
        };
        r.reconfigure(config);
        r
    }

    pub fn set_secret(&mut self, secret: &[u8]) {
        self.verifier.set_secret(secret);
    }

    /// Names this run of the server, so nonces from before a restart are not taken as fresh.
    pub fn set_boot(&mut self, boot: u64) {
        self.verifier.set_boot(boot);
    }

    /// Takes new accounts and settings; returns the users whose bindings were dropped because
    /// they no longer have a password (or no longer exist).
    pub fn reconfigure(&mut self, config: &Config) -> Vec<UserId> {
        self.config = config.registrar.clone();
        self.verifier.set_lifetime(self.config.nonce_lifetime);
        let realm = &self.config.realm;
        self.domains = config
            .sip
            .domains
            .iter()
            .chain(config.sip.public_host.as_ref())
            .map(|d| d.to_ascii_lowercase())
            .collect();
        if config.sip.domains.is_empty() {
            // `[sip] domains` empty means any domain (the public host alone does not narrow).
            self.domains.clear();
        }
        self.accounts = config
            .users
            .iter()
            .filter_map(|u| {
                let pw = u.password.as_deref()?;
                let id = u.id.as_str();
                Some((
                    id.to_owned(),
                    Account {
                        id: u.id.clone(),
                        ha1_md5: ha1(Algorithm::Md5, id, realm, pw),
                        ha1_sha256: ha1(Algorithm::Sha256, id, realm, pw),
                        numbers: u.numbers.iter().map(|n| n.digits().to_owned()).collect(),
                    },
                ))
            })
            .collect();
        let gone: Vec<UserId> = self
            .bindings
            .keys()
            .filter(|u| !self.accounts.contains_key(u.as_str()))
            .cloned()
            .collect();
        for u in &gone {
            self.bindings.remove(u);
        }
        gone
    }

    /// Whether any user can authenticate (has a password).
    pub fn has_accounts(&self) -> bool {
        !self.accounts.is_empty()
    }

    pub fn stats(&self) -> RegistrarStats {
        self.stats
    }

    /// The live bindings of `user` at `now`.
    pub fn bindings(&self, user: &UserId, now: Time) -> Vec<&Binding> {
        self.bindings
            .get(user)
            .map(|b| b.iter().filter(|b| b.expires > now).collect())
            .unwrap_or_default()
    }

    /// Every user with a live binding, and their bindings.
    pub fn all(&self) -> impl Iterator<Item = (&UserId, &[Binding])> {
        self.bindings.iter().map(|(u, b)| (u, b.as_slice()))
    }

    /// Whether a live binding was registered from `ip`: the inbound policy lets such a source
    /// authenticate an INVITE for a service number. A source that never registered costs one
    /// set lookup; one that did, a scan of the bindings to confirm one is still live.
    pub fn registered_from(&self, now: Time, ip: IpAddr) -> bool {
        self.sources.contains(&ip)
            && self
                .bindings
                .values()
                .flatten()
                .any(|b| b.expires > now && b.source.addr.ip() == ip)
    }

    /// Users with at least one binding, and bindings in all.
    pub fn counts(&self) -> (usize, usize) {
        (
            self.bindings.len(),
            self.bindings.values().map(Vec::len).sum(),
        )
    }

    /// Puts back bindings kept from before a restart (those expired by `now` are left out);
    /// returns the users who have some.
    pub fn restore(&mut self, now: Time, user: &UserId, bindings: Vec<Binding>) -> bool {
        if !self.accounts.contains_key(user.as_str()) {
            return false;
        }
        let mut live: Vec<Binding> = bindings.into_iter().filter(|b| b.expires > now).collect();
        live.truncate(self.config.max_contacts);
        if live.is_empty() {
            return false;
        }
        let earliest = live.iter().map(|b| b.expires).min();
        self.note_expiry(earliest);
        self.sources.extend(live.iter().map(|b| b.source.addr.ip()));
        self.bindings.insert(user.clone(), live);
        true
    }

    /// Removes binding number `index` (in [`Registrar::bindings`] order) of `user`.
    pub fn remove(&mut self, now: Time, user: &UserId, index: usize) -> bool {
        let Some(list) = self.bindings.get_mut(user) else {
            return false;
        };
        list.retain(|b| b.expires > now);
        if index >= list.len() {
            return false;
        }
        list.remove(index);
        if list.is_empty() {
            self.bindings.remove(user);
        }
        true
    }

    /// When the next binding expires, or earlier (a refresh moves a binding's expiry later
    /// without a scan; waking early only makes [`Registrar::expire`] find the exact time).
    pub fn poll_timeout(&self) -> Option<Time> {
        self.next_expiry
    }

    fn note_expiry(&mut self, at: Option<Time>) {
        if let Some(at) = at {
            self.next_expiry = Some(self.next_expiry.map_or(at, |t| t.min(at)));
        }
    }

    /// Drops bindings expired at `now`; returns the users whose bindings changed.
    pub fn expire(&mut self, now: Time) -> Vec<UserId> {
        self.verifier.expire(now, &self.config.realm);
        let window = self.config.auth_failure_window;
        self.failures
            .retain(|_, f| now.saturating_since(f.since) < window);
        if self.next_expiry.is_none_or(|t| t > now) {
            // Nothing can have expired: no scan (this runs for every transaction timer).
            return Vec::new();
        }
        let changed = self.drop_where(|b| b.expires <= now);
        self.next_expiry = self
            .bindings
            .values()
            .flat_map(|b| b.iter().map(|b| b.expires))
            .min();
        self.sources = self
            .bindings
            .values()
            .flat_map(|b| b.iter().map(|b| b.source.addr.ip()))
            .collect();
        changed
    }

    /// A connection closed: the bindings that came on it can no longer be reached (RFC 5626
    /// §5.3: a flow that failed is not used again); returns the users whose bindings changed.
    pub fn flow_closed(&mut self, conn: ConnId) -> Vec<UserId> {
        self.drop_where(|b| b.source.conn == Some(conn))
    }

    fn drop_where(&mut self, gone: impl Fn(&Binding) -> bool) -> Vec<UserId> {
        let mut changed = Vec::new();
        self.bindings.retain(|user, list| {
            let before = list.len();
            list.retain(|b| !gone(b));
            if list.len() != before {
                tracing::info!(user = %user, dropped = before - list.len(), "registrations ended");
                changed.push(user.clone());
            }
            !list.is_empty()
        });
        changed.sort();
        changed
    }

    /// Answers a REGISTER from `from` (RFC 3261 §10.3, in the order of its steps).
    pub fn handle(&mut self, now: Time, req: &Request, from: Peer) -> Answer {
        let account = match self.authenticate(now, req, from, Challenge::Registrar) {
            Ok(account) => account,
            Err(answer) => return answer,
        };
        // Steps 5–6: the To URI is the address of record; the authenticated user may only
        // change their own (by id or by one of their numbers).
        let Some(to) = req.headers.to() else {
            return Answer::status(400);
        };
        if !self.is_ours(&to.uri) || !names(&to.uri, &account) {
            tracing::info!(user = %account.id, "REGISTER for another address of record refused");
            return Answer::status(403);
        }
        let mut answer = self.bind(now, req, from, &account.id);
        if answer.status == 200 {
            self.stats.registrations_total += 1;
            answer.authenticated = Some(from.addr.ip());
            self.failures.remove(&from.addr.ip());
        }
        answer
    }

    /// Who sent an INVITE that needs a user (a feature code, a call to a user): RFC 3261
    /// §22.3, the proxy's 407 with the same nonces, algorithms, replay checks and failure
    /// limit as REGISTER's 401. `Err` is the answer to send (the challenge, a ban).
    pub fn authenticate_invite(
        &mut self,
        now: Time,
        req: &Request,
        from: Peer,
    ) -> Result<UserId, Answer> {
        let account = self.authenticate(now, req, from, Challenge::Proxy)?;
        self.failures.remove(&from.addr.ip());
        Ok(account.id)
    }

    /// Steps 1–4 of §10.3 (and §22.3 for holdline as the users' proxy): the credentials in
    /// `req` for our realm, checked against the account they name. Every failure gets the same
    /// challenge.
    fn authenticate(
        &mut self,
        now: Time,
        req: &Request,
        from: Peer,
        kind: Challenge,
    ) -> Result<Account, Answer> {
        // Before the credentials, every request gets the same challenge.
        let realm = self.config.realm.clone();
        let creds = req
            .headers
            .get_all(&kind.credentials_header())
            .filter_map(Credentials::parse)
            .find(|c| c.realm == realm);
        let Some(creds) = creds else {
            return Err(self.challenge(now, false, kind));
        };
        let ip = from.addr.ip();
        // Only an offered algorithm is taken (RFC 8760 §2.4: the client picks among the
        // challenges it got): a configuration that offers MD5 alone accepts no SHA-256 answer.
        if !self.config.digest_algorithms.contains(&creds.algorithm) {
            let why = "digest algorithm not offered";
            return Err(self.failed(now, ip, &creds.username, why, kind));
        }
        let account = self.accounts.get(&creds.username).cloned();
        let ha1 = account.as_ref().map(|a| match creds.algorithm {
            Algorithm::Sha256 => a.ha1_sha256.as_str(),
            _ => a.ha1_md5.as_str(),
        });
        let verdict = self
            .verifier
            .verify(now, &realm, req.method.as_str(), &creds, ha1);
        let account = match (verdict, account) {
            (Verdict::Ok, Some(a)) => a,
            (Verdict::Stale, _) => return Err(self.challenge(now, true, kind)),
            (Verdict::Fail(why), _) => {
                return Err(self.failed(now, ip, &creds.username, why, kind))
            }
            // verify fails without an HA1; kept for completeness.
            (Verdict::Ok, None) => {
                return Err(self.failed(now, ip, &creds.username, "unknown user", kind))
            }
        };
        // Step 1: the Request-URI's domain is ours. A wrong one is answered like a wrong
        // password, so a scanner cannot tell which part was wrong.
        if !self.is_ours(&req.uri) {
            return Err(self.failed(now, ip, &creds.username, "not our domain", kind));
        }
        Ok(account)
    }

    /// Step 7 onwards: the Contact header fields.
    fn bind(&mut self, now: Time, req: &Request, from: Peer, user: &UserId) -> Answer {
        let call_id = req.headers.call_id().unwrap_or_default().to_owned();
        let cseq = req.headers.cseq().map(|c| c.seq).unwrap_or(0);
        let header_expires = req
            .headers
            .get(&HeaderName::Expires)
            .and_then(|v| v.trim().parse::<u64>().ok());
        let mut changed = false;
        if req.headers.contact_is_wildcard() {
            // §10.3 step 6: `*` only with Expires: 0 and no other Contact.
            if header_expires != Some(0) || !req.headers.contacts().is_empty() {
                return Answer::status(400);
            }
            if let Some(list) = self.bindings.get_mut(user) {
                let before = list.len();
                // Step 7: a binding last updated by this Call-ID at a CSeq not lower stays.
                list.retain(|b| b.call_id == call_id && cseq <= b.cseq);
                changed = list.len() != before;
                if list.is_empty() {
                    self.bindings.remove(user);
                }
            }
            return self.ok(now, req, user, changed);
        }
        let contacts = req.headers.contacts();
        // Expiry of each contact: its `expires` param, else the Expires header, else the
        // default; 0 removes. Any between 0 and min_expires refuses the whole request (423).
        let mut wanted = Vec::with_capacity(contacts.len());
        for c in contacts {
            let secs = c
                .params
                .value("expires")
                .and_then(|v| v.trim().parse::<u64>().ok())
                .or(header_expires)
                .unwrap_or(self.config.default_expires.as_secs());
            if secs != 0 && secs < self.config.min_expires.as_secs() {
                let mut a = Answer::status(423);
                a.headers.push((
                    HeaderName::MinExpires,
                    self.config.min_expires.as_secs().to_string(),
                ));
                return a;
            }
            let secs = secs.min(self.config.max_expires.as_secs());
            wanted.push((c, secs));
        }
        let path: Vec<String> = req
            .headers
            .get_all(&HeaderName::Path)
            .map(|v| v.trim().to_owned())
            .collect();
        let user_agent = req
            .headers
            .get(&HeaderName::UserAgent)
            .map(|v| v.chars().take(128).collect());
        let mut earliest = None;
        self.sources.insert(from.addr.ip());
        let list = self.bindings.entry(user.clone()).or_default();
        list.retain(|b| b.expires > now);
        for (mut contact, secs) in wanted {
            let instance = contact.params.value("+sip.instance").map(str::to_owned);
            let reg_id = contact
                .params
                .value("reg-id")
                .and_then(|v| v.parse::<u32>().ok());
            contact.params.remove("expires");
            // RFC 5626 §6: the same instance (and reg-id) is the same flow of the same phone,
            // wherever it registers from now; without an instance, the same Contact URI.
            let existing = list.iter().position(|b| match &instance {
                Some(i) => b.instance.as_deref() == Some(i) && b.reg_id == reg_id,
                None => b.instance.is_none() && b.contact.uri == contact.uri,
            });
            if let Some(i) = existing {
                // §10.3 step 7: the same Call-ID with a CSeq not higher is out of order.
                if list[i].call_id == call_id && cseq <= list[i].cseq {
                    continue;
                }
                changed = true;
                if secs == 0 {
                    list.remove(i);
                    continue;
                }
                let b = &mut list[i];
                b.contact = contact;
                b.call_id = call_id.clone();
                b.cseq = cseq;
                b.expires = now + Duration::from_secs(secs);
                earliest = Some(earliest.map_or(b.expires, |e: Time| e.min(b.expires)));
                b.source = from;
                b.path = path.clone();
                b.user_agent = user_agent.clone();
                continue;
            }
            if secs == 0 {
                continue;
            }
            changed = true;
            if list.len() >= self.config.max_contacts {
                // The oldest goes, so a phone that keeps re-registering from new addresses
                // without an instance id cannot lock its user out.
                if let Some((oldest, _)) = list.iter().enumerate().min_by_key(|(_, b)| b.since) {
                    list.remove(oldest);
                }
            }
            let at = now + Duration::from_secs(secs);
            earliest = Some(earliest.map_or(at, |e: Time| e.min(at)));
            list.push(Binding {
                contact,
                instance,
                reg_id,
                call_id: call_id.clone(),
                cseq,
                expires: at,
                source: from,
                path: path.clone(),
                user_agent: user_agent.clone(),
                since: now,
            });
        }
        if list.is_empty() {
            self.bindings.remove(user);
        }
        self.note_expiry(earliest);
        if changed {
            // Debug, not info: every refresh changes the expiry, and 10,000 phones refreshing
            // each minute would write 170 log lines a second; new, moved and removed bindings
            // are in the event log.
            tracing::debug!(user = %user, source = %from.addr, "registration updated");
        }
        self.ok(now, req, user, changed)
    }

    /// §10.3 step 8: 200 listing every current binding with its remaining time.
    fn ok(&self, now: Time, req: &Request, user: &UserId, changed: bool) -> Answer {
        let mut a = Answer::status(200);
        let bindings = self.bindings(user, now);
        for b in &bindings {
            let mut c = b.contact.clone();
            let left = b.expires.saturating_since(now).as_secs();
            c.params.set("expires", Some(&left.to_string()));
            a.headers.push((HeaderName::Contact, c.to_string()));
        }
        let supported = |tag: &str| {
            req.headers
                .list(&HeaderName::Supported)
                .any(|t| t.eq_ignore_ascii_case(tag))
        };
        // RFC 3327 §5.3: the Path is echoed only to a UA that said it supports it.
        if supported("path") {
            if let Some(b) = bindings.iter().find(|b| !b.path.is_empty()) {
                for p in &b.path {
                    a.headers.push((HeaderName::Path, p.clone()));
                }
            }
        }
        // RFC 5626 §6: a registrar that honoured reg-id says so with `Require: outbound`.
        if bindings.iter().any(|b| b.reg_id.is_some()) && supported("outbound") {
            a.headers.push((HeaderName::Require, "outbound".into()));
        }
        if changed {
            a.changed = Some(user.clone());
        }
        a
    }

    /// The 401 every REGISTER without valid credentials gets (407 for an INVITE).
    fn challenge(&mut self, now: Time, stale: bool, kind: Challenge) -> Answer {
        let mut a = Answer::status(kind.status());
        let offered = &self.config.digest_algorithms;
        for c in self
            .verifier
            .challenges_for(now, &self.config.realm, stale, offered)
        {
            a.headers.push((kind.challenge_header(), c));
        }
        a
    }

    /// A failed authentication: counted per source, the source banned at the limit, and the
    /// same challenge as ever. Logged with the username and why, never the credentials.
    fn failed(
        &mut self,
        now: Time,
        addr: IpAddr,
        username: &str,
        why: &str,
        kind: Challenge,
    ) -> Answer {
        self.stats.auth_failures_total += 1;
        let user: String = username
            .chars()
            .filter(|c| c.is_ascii_graphic())
            .take(64)
            .collect();
        tracing::info!(%addr, user = %user, reason = why, "authentication failed");
        let mut answer = self.challenge(now, false, kind);
        let window = self.config.auth_failure_window;
        if !self.failures.contains_key(&addr) && self.failures.len() >= MAX_FAILURE_SOURCES {
            self.failures
                .retain(|_, f| now.saturating_since(f.since) < window);
            if self.failures.len() >= MAX_FAILURE_SOURCES {
                return answer;
            }
        }
        let f = self.failures.entry(addr).or_insert(Failures {
            since: now,
            count: 0,
        });
        if now.saturating_since(f.since) >= window {
            *f = Failures {
                since: now,
                count: 0,
            };
        }
        f.count += 1;
        if f.count >= self.config.auth_failures {
            self.failures.remove(&addr);
            self.stats.auth_bans_total += 1;
            answer.ban = Some((addr, self.config.auth_ban));
        }
        answer
    }

    /// Whether `uri`'s host is one of our domains (any, when none is configured; an IP
    /// literal always, as the request reached us on it).
    fn is_ours(&self, uri: &Uri) -> bool {
        let Some(sip) = uri.as_sip() else {
            return false;
        };
        match &sip.host {
            Host::V4(_) | Host::V6(_) => true,
            Host::Name(name) => {
                self.domains.is_empty() || self.domains.iter().any(|d| d.eq_ignore_ascii_case(name))
            }
        }
    }
}

/// Whether `aor` names `account`: by id, or by one of its numbers (`+1425…` or `1425…`).
fn names(aor: &Uri, account: &Account) -> bool {
    let Some(user) = aor.as_sip().and_then(|s| s.user.as_deref()) else {
        return false;
    };
    if user == account.id.as_str() {
        return true;
    }
    let digits = user.strip_prefix('+').unwrap_or(user);
    account.numbers.iter().any(|n| n == digits)
}
