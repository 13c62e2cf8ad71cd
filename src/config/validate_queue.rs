//! Checking `[[queue]]` tables: limits, numbers and addresses, agents, actions and loops.
//!
//! The limits are the cloud call-queue ones (DESIGN.md §1). A queue's numbers must be declared
//! service numbers and belong to one queue only; a user number can never reach a queue. Forward
//! targets are checked by [`super::targets`], which also finds forwarding loops.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use crate::number::E164;

use super::directory::address_key;
use super::model::{
    Group, GroupId, Music, NoAgentsAction, Number, OfferMode, OverflowAction, Queue, QueueId,
    Routing, SipConfig, Target, TimeoutAction, Trunk, User, UserId, DEFAULT_SERVICE_LEVEL_SECS,
    MAX_AGENTS_PER_QUEUE, MAX_AUTHORIZED_USERS, MAX_QUEUE_NAME_CHARS, MAX_SERVICE_LEVEL_SECS,
};
use super::prompt_ref::{prompt_dir, resolve_media};
use super::raw::{RawAction, RawConfig, RawQueue};
use super::targets::{forwarding_loops, parse_target, Edge, Known};
use super::uri::parse_sip_uri;
use super::validate::{check_id, in_range, seconds, subject, Problems};

const SERVICE_KINDS: &str = "(with kind service-toll or service-toll-free)";

/// Checks every `[[queue]]`. Queues are returned even when they have problems; the caller
/// keeps them only when no problem was found at all.
// Each argument is a section of the file already checked (sip, numbers, users, groups, trunks)
// that queues refer to; a struct bundling them would exist for this call alone.
#[allow(clippy::too_many_arguments)]
pub(crate) fn queues(
    raw: &RawConfig,
    base_dir: &Path,
    sip: &SipConfig,
    numbers: &[Number],
    users: &[User],
    groups: &[Group],
    trunks: &[Trunk],
    p: &mut Problems,
) -> Vec<Queue> {
    // What targets may refer to, from the whole file, before any queue is checked.
    let user_ids: HashSet<String> = users.iter().map(|u| u.id.0.clone()).collect();
    let queue_ids: HashSet<String> = raw.queue.iter().map(|q| q.id.clone()).collect();
    let mut own_numbers: HashSet<E164> = numbers.iter().map(|n| n.e164.clone()).collect();
    own_numbers.extend(users.iter().flat_map(|u| u.numbers.iter().cloned()));
    let mut own_addresses: HashMap<(String, String), String> = HashMap::new();
    for q in &raw.queue {
        for a in &q.addresses {
            if let Some(key) = parse_sip_uri(a).ok().as_ref().and_then(address_key) {
                own_addresses.entry(key).or_insert_with(|| q.id.clone());
            }
        }
    }
    let known = Known {
        users: &user_ids,
        queues: &queue_ids,
        trunks,
        own_numbers: &own_numbers,
        own_addresses: &own_addresses,
    };

    let prompts = prompt_dir(
        raw.media.dir.as_deref(),
        raw.store.path.as_deref(),
        base_dir,
    );
    let mut seen = HashSet::new();
    let mut number_owner: HashMap<E164, String> = HashMap::new();
    let mut address_owner: HashMap<(String, String), String> = HashMap::new();
    let mut out = Vec::new();
    for (i, q) in raw.queue.iter().enumerate() {
        let subj = subject("queue", &q.id, i);
        check_id(&subj, &q.id, "queue", &mut seen, p);
        let numbers = queue_numbers(q, &subj, numbers, users, &mut number_owner, p);
        let addresses = queue_addresses(q, &subj, sip, &mut address_owner, p);
        let (agents, groups_listed, members) = queue_agents(q, &subj, users, groups, p);
        let name = queue_name(q, &subj, p);
        let (greeting, music_on_hold) = queue_media(q, &subj, base_dir, prompts.as_deref(), p);
        let (routing, offer) = queue_routing(q, &subj, p);
        let agent_alert_time = in_range(
            &subj,
            "agent_alert_time",
            q.agent_alert_time,
            30,
            15..=180,
            " s",
            p,
        );
        let wrap_up = in_range(&subj, "wrap_up", q.wrap_up, 0, 0..=3600, " s", p);
        let max_calls = in_range(&subj, "max_calls", q.max_calls, 50, 0..=200, "", p);
        let (on_overflow, max_wait, on_timeout, no_agents) = queue_actions(q, &subj, &known, p);
        let queue = Queue {
            id: QueueId(q.id.clone()),
            name,
            numbers,
            addresses,
            greeting,
            music_on_hold,
            routing,
            offer,
            agents,
            groups: groups_listed,
            members,
            allow_opt_out: q.allow_opt_out.unwrap_or(true),
            agent_alert_time: seconds(agent_alert_time),
            wrap_up: seconds(wrap_up),
            answer_delay: std::time::Duration::from_millis(
                u64::try_from(in_range(
                    &subj,
                    "answer_delay_ms",
                    q.answer_delay_ms,
                    0,
                    0..=30_000,
                    " ms",
                    p,
                ))
                .unwrap_or(0),
            ),
            max_calls: u32::try_from(max_calls).unwrap_or(50),
            on_overflow,
            max_wait: seconds(max_wait),
            on_timeout,
            no_agents,
            service_level: queue_service_level(q, &subj, p),
            authorized_users: queue_authorized_users(q, &subj, users, p),
        };
        out.push(queue);
    }
    // Queues with other problems are still in `out` (the caller discards everything when any
    // problem is reported), so loops are reported together with the rest.
    report_loops(&out, p);
    out
}

/// `authorized_users`: known users, each once, at most [`MAX_AUTHORIZED_USERS`].
fn queue_authorized_users(
    q: &RawQueue,
    subj: &str,
    users: &[User],
    p: &mut Problems,
) -> Vec<UserId> {
    let mut out: Vec<UserId> = Vec::new();
    for a in &q.authorized_users {
        let id = UserId(a.clone());
        if !users.iter().any(|u| u.id == id) {
            p.add(
                subj,
                "authorized_users",
                format!("authorized_users names {a:?}, which is not a [[user]]"),
            );
        } else if out.contains(&id) {
            p.add(
                subj,
                "authorized_users",
                format!("authorized_users lists {a:?} twice"),
            );
        } else {
            out.push(id);
        }
    }
    if out.len() > MAX_AUTHORIZED_USERS {
        p.add(
            subj,
            "authorized_users",
            format!(
                "authorized_users lists {} users; the limit is {MAX_AUTHORIZED_USERS}",
                out.len()
            ),
        );
    }
    out
}

/// `service_level`: the threshold in seconds, 0–2400 (0: only calls answered at once count).
fn queue_service_level(q: &RawQueue, subj: &str, p: &mut Problems) -> std::time::Duration {
    let secs = in_range(
        subj,
        "service_level",
        q.service_level,
        DEFAULT_SERVICE_LEVEL_SECS as i64,
        0..=MAX_SERVICE_LEVEL_SECS as i64,
        " s",
        p,
    );
    seconds(secs)
}

/// (greeting, music_on_hold), paths resolved against the config file's directory, and
/// `prompt:ID` to the uploaded prompt's file in `prompts`.
fn queue_media(
    q: &RawQueue,
    subj: &str,
    base_dir: &Path,
    prompts: Option<&Path>,
    p: &mut Problems,
) -> (Option<PathBuf>, Music) {
    let resolved = |field: &str, value: &str, p: &mut Problems| {
        resolve_media(value, base_dir, prompts)
            .map_err(|why| p.add(subj, field, format!("{field} {why}")))
            .ok()
    };
    let greeting = match q.greeting.as_deref() {
        Some("") => {
            p.add(
                subj,
                "greeting",
                "greeting is empty; remove it or give a file".into(),
            );
            None
        }
        Some(g) => resolved("greeting", g, p),
        None => None,
    };
    let music = match q.music_on_hold.as_deref() {
        None | Some("default") => Music::Default,
        Some("") => {
            let why = "music_on_hold is empty; write \"default\" or give a file";
            p.add(subj, "music_on_hold", why.into());
            Music::Default
        }
        Some(path) => resolved("music_on_hold", path, p).map_or(Music::Default, Music::File),
    };
    (greeting, music)
}

fn queue_routing(q: &RawQueue, subj: &str, p: &mut Problems) -> (Routing, OfferMode) {
    let routing = match q.routing.as_deref().unwrap_or("attendant") {
        "attendant" => Routing::Attendant,
        "serial" => Routing::Serial,
        "round-robin" => Routing::RoundRobin,
        "longest-idle" => Routing::LongestIdle,
        other => {
            let one_of = "attendant, serial, round-robin, longest-idle";
            p.add(
                subj,
                "routing",
                format!("routing {other:?} is not one of {one_of}"),
            );
            Routing::Attendant
        }
    };
    let offer = match q.offer.as_deref().unwrap_or("head") {
        "head" => OfferMode::Head,
        "parallel" => OfferMode::Parallel,
        other => {
            p.add(
                subj,
                "offer",
                format!("offer {other:?} is not one of head, parallel"),
            );
            OfferMode::Head
        }
    };
    (routing, offer)
}

/// (on_overflow, max_wait seconds, on_timeout, no_agents), in the file's reading order.
fn queue_actions(
    q: &RawQueue,
    subj: &str,
    known: &Known<'_>,
    p: &mut Problems,
) -> (OverflowAction, i64, TimeoutAction, NoAgentsAction) {
    let overflow_actions = ["busy", "forward"];
    let on_overflow = match action(
        &q.on_overflow,
        "on_overflow",
        &overflow_actions,
        subj,
        known,
        p,
    ) {
        Some(Action::Forward(t)) => OverflowAction::Forward(t),
        _ => OverflowAction::Busy,
    };
    let max_wait = max_wait(q.max_wait, subj, p);
    let timeout_actions = ["disconnect", "forward"];
    let on_timeout = match action(
        &q.on_timeout,
        "on_timeout",
        &timeout_actions,
        subj,
        known,
        p,
    ) {
        Some(Action::Forward(t)) => TimeoutAction::Forward(t),
        _ => TimeoutAction::Disconnect,
    };
    let no_agents_actions = ["queue", "disconnect", "forward"];
    let no_agents = match action(
        &q.no_agents,
        "no_agents",
        &no_agents_actions,
        subj,
        known,
        p,
    ) {
        Some(Action::Forward(t)) => NoAgentsAction::Forward(t),
        Some(Action::Named("disconnect")) => NoAgentsAction::Disconnect,
        _ => NoAgentsAction::Queue,
    };
    (on_overflow, max_wait, on_timeout, no_agents)
}

fn queue_name(q: &RawQueue, subj: &str, p: &mut Problems) -> String {
    let name = q.name.clone().unwrap_or_else(|| q.id.clone());
    let chars = name.chars().count();
    if chars > MAX_QUEUE_NAME_CHARS {
        p.add(
            subj,
            "name",
            format!("name is {chars} characters; the limit is {MAX_QUEUE_NAME_CHARS}"),
        );
    }
    // It becomes the From display name (RFC 3261 §25.1 quoted-string): one line of text.
    if name.trim().is_empty() || name.chars().any(char::is_control) {
        p.add(
            subj,
            "name",
            "name must be non-empty text on one line".into(),
        );
    }
    name
}

/// 0–2700 s in steps of 15 s.
fn max_wait(value: Option<i64>, subj: &str, p: &mut Problems) -> i64 {
    let v = in_range(subj, "max_wait", value, 1200, 0..=2700, " s", p);
    if v % 15 != 0 {
        p.add(
            subj,
            "max_wait",
            format!("max_wait {v} is not a multiple of 15"),
        );
        return 1200;
    }
    v
}

fn queue_numbers(
    q: &RawQueue,
    subj: &str,
    declared: &[Number],
    users: &[User],
    owner: &mut HashMap<E164, String>,
    p: &mut Problems,
) -> Vec<E164> {
    let mut out = Vec::new();
    for text in &q.numbers {
        let n = match E164::parse(text) {
            Ok(n) => n,
            Err(why) => {
                p.add(subj, "numbers", format!("number {text:?} {why}"));
                continue;
            }
        };
        if out.contains(&n) {
            p.add(subj, "numbers", format!("number {n} is listed twice"));
            continue;
        }
        // A user number never reaches a queue (DESIGN.md §1), whether the user lists it or
        // it is declared with kind user.
        let number_subject = format!("number {:?}", n.as_str());
        let kind = declared.iter().find(|d| d.e164 == n).map(|d| d.kind);
        if let Some(user) = users.iter().find(|u| u.numbers.contains(&n)) {
            let why = format!(
                "{number_subject} is user {:?}'s number and cannot be assigned to queue {:?}",
                user.id.as_str(),
                q.id
            );
            p.add(&number_subject, "numbers", why);
        } else {
            match kind {
                None => p.add(
                    subj,
                    "numbers",
                    format!("number {n} is not declared in [[number]] {SERVICE_KINDS}"),
                ),
                Some(kind) if !kind.is_service() => {
                    let why = format!(
                        "{number_subject} is of kind {kind} and cannot be assigned to queue {:?}",
                        q.id
                    );
                    p.add(&number_subject, "numbers", why);
                }
                Some(_) => {}
            }
        }
        if let Some(other) = owner.get(&n) {
            p.add(
                &number_subject,
                "numbers",
                format!(
                    "number {:?} is assigned to both queue {other:?} and queue {:?}",
                    n.as_str(),
                    q.id
                ),
            );
        } else {
            owner.insert(n.clone(), q.id.clone());
        }
        out.push(n);
    }
    out
}

fn queue_addresses(
    q: &RawQueue,
    subj: &str,
    sip: &SipConfig,
    owner: &mut HashMap<(String, String), String>,
    p: &mut Problems,
) -> Vec<crate::sip::uri::SipUri> {
    let mut out = Vec::new();
    for text in &q.addresses {
        let uri = match parse_sip_uri(text) {
            Ok(u) => u,
            Err(why) => {
                p.add(subj, "addresses", format!("address {text:?} {why}"));
                continue;
            }
        };
        let Some(key) = address_key(&uri) else {
            p.add(
                subj,
                "addresses",
                format!("address {text:?} has no user part; write sip:USER@HOST"),
            );
            continue;
        };
        let ours = sip.domains.is_empty()
            || sip.domains.contains(&key.1)
            || sip
                .public_host
                .as_deref()
                .is_some_and(|h| h.eq_ignore_ascii_case(&key.1));
        if !ours {
            p.add(
                subj,
                "addresses",
                format!(
                    "address {text:?} is not in [sip] domains, so no request for it would arrive"
                ),
            );
        }
        match owner.get(&key) {
            Some(other) if other == &q.id => {
                p.add(
                    subj,
                    "addresses",
                    format!("address {text:?} is listed twice"),
                );
            }
            Some(other) => p.add(
                subj,
                "addresses",
                format!(
                    "address {text:?} is assigned to both queue {other:?} and queue {:?}",
                    q.id
                ),
            ),
            None => {
                owner.insert(key, q.id.clone());
            }
        }
        out.push(uri);
    }
    out
}

/// (agents, groups, members): the lists as given and the deduplicated agent pool.
fn queue_agents(
    q: &RawQueue,
    subj: &str,
    users: &[User],
    groups: &[Group],
    p: &mut Problems,
) -> (Vec<UserId>, Vec<GroupId>, Vec<UserId>) {
    let mut agents: Vec<UserId> = Vec::new();
    let mut members: Vec<UserId> = Vec::new();
    for a in &q.agents {
        let id = UserId(a.clone());
        if !users.iter().any(|u| u.id == id) {
            p.add(subj, "agents", format!("agent {a:?} is not a [[user]]"));
        } else if agents.contains(&id) {
            p.add(subj, "agents", format!("agent {a:?} is listed twice"));
        } else {
            agents.push(id.clone());
            members.push(id);
        }
    }
    let mut listed: Vec<GroupId> = Vec::new();
    for g in &q.groups {
        let id = GroupId(g.clone());
        let Some(group) = groups.iter().find(|x| x.id == id) else {
            p.add(subj, "groups", format!("group {g:?} is not a [[group]]"));
            continue;
        };
        if listed.contains(&id) {
            p.add(subj, "groups", format!("group {g:?} is listed twice"));
            continue;
        }
        listed.push(id);
        // Someone both listed and in a group, or in two groups, is one agent.
        for m in &group.members {
            if !members.contains(m) {
                members.push(m.clone());
            }
        }
    }
    if members.len() > MAX_AGENTS_PER_QUEUE {
        let count = members.len();
        let why = format!(
            "has {count} agents (from agents and groups, without duplicates); \
             the limit is {MAX_AGENTS_PER_QUEUE}"
        );
        p.add(subj, "agents", why);
    }
    (agents, listed, members)
}

enum Action {
    Named(&'static str),
    Forward(Target),
}

/// Reads `{ action = …, to = … }`; `allowed` lists the action names, default first.
fn action(
    raw: &Option<RawAction>,
    field: &'static str,
    allowed: &[&'static str],
    subj: &str,
    known: &Known<'_>,
    p: &mut Problems,
) -> Option<Action> {
    let raw = raw.as_ref()?;
    let Some(&name) = allowed.iter().find(|a| **a == raw.action) else {
        p.add(
            subj,
            field,
            format!(
                "{field} action {:?} is not one of {}",
                raw.action,
                allowed.join(", ")
            ),
        );
        return None;
    };
    match (name, &raw.to) {
        ("forward", None) => {
            p.add(
                subj,
                field,
                format!("{field} action \"forward\" needs to = TARGET"),
            );
            None
        }
        ("forward", Some(to)) => match parse_target(to, known) {
            Ok(t) => Some(Action::Forward(t)),
            Err(why) => {
                p.add(subj, field, format!("{field} {why}"));
                None
            }
        },
        (name, Some(_)) => {
            p.add(
                subj,
                field,
                format!("{field} action {name:?} takes no \"to\""),
            );
            None
        }
        (name, None) => Some(Action::Named(name)),
    }
}

/// Reports each set of queues that forward to each other in a circle.
fn report_loops(queues: &[Queue], p: &mut Problems) {
    let ids: Vec<&QueueId> = queues.iter().map(|q| &q.id).collect();
    let mut edges = Vec::new();
    for q in queues {
        let forwards = [
            (
                "on_overflow",
                match &q.on_overflow {
                    OverflowAction::Forward(t) => Some(t),
                    OverflowAction::Busy => None,
                },
            ),
            (
                "on_timeout",
                match &q.on_timeout {
                    TimeoutAction::Forward(t) => Some(t),
                    TimeoutAction::Disconnect => None,
                },
            ),
            (
                "no_agents",
                match &q.no_agents {
                    NoAgentsAction::Forward(t) => Some(t),
                    _ => None,
                },
            ),
        ];
        for (action, target) in forwards {
            if let Some(Target::Queue(to)) = target {
                edges.push(Edge {
                    from: &q.id,
                    action,
                    to,
                });
            }
        }
    }
    for cycle in forwarding_loops(&ids, &edges) {
        let first = &edges[cycle[0]];
        let mut path = format!("queue {:?}", first.from.as_str());
        for &e in &cycle {
            path.push_str(&format!(
                " {} → queue {:?}",
                edges[e].action,
                edges[e].to.as_str()
            ));
        }
        p.add(
            &format!("queue {:?}", first.from.as_str()),
            first.action,
            format!("forwarding loop: {path}"),
        );
    }
}
