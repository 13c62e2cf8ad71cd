//! Forward targets (`user:ID`, `queue:ID`, `tel:+E164`, `sip:URI`) and the check that queue
//! forwarding never loops.
//!
//! A target is checked against what the file declares: users and queues must exist, and an
//! external target (`tel:`, or a `sip:` URI that is not one of ours) needs a `[[trunk]]` whose
//! `allow` list admits it, so a forward can never dial somewhere nobody approved (toll fraud).
//! An external target is read as a dial string by [`super::dial`], the check an agent's REFER
//! goes through too: a `sip:` target's number user part is normalised with the trunk's rules
//! and kept as `+E164;user=phone`, a name keeps its URI without routing parameters.
//! Forwarding to one of holdline's own numbers or queue addresses is refused in favour of the
//! internal target, which keeps every hop visible to the loop check. `aa:ID` (an auto
//! attendant) is recognised and refused with that reason: there are no auto attendants yet, and
//! a forward to one could only fail at call time.

use std::collections::{HashMap, HashSet};

use crate::number::E164;

use crate::sip::uri::{Params, SipUri, TelUri, Uri};

use super::dial::{self, DialError, Dialled};
use super::directory::address_key;
use super::model::{QueueId, Target, Trunk, UserId};
use super::uri::parse_sip_uri;

/// What a target may refer to, gathered from the whole file before targets are checked.
pub struct Known<'a> {
    pub users: &'a HashSet<String>,
    pub queues: &'a HashSet<String>,
    pub trunks: &'a [Trunk],
    /// Every number declared in `[[number]]` or a user's `numbers`.
    pub own_numbers: &'a HashSet<E164>,
    /// Queue addresses by (user, lowercased host), with the queue they reach.
    pub own_addresses: &'a HashMap<(String, String), String>,
}

/// Parses and checks one target; the error completes "`<field>` forwards to …" or stands alone.
pub fn parse_target(text: &str, known: &Known<'_>) -> Result<Target, String> {
    let Some((scheme, rest)) = text.split_once(':') else {
        return Err(format!(
            "target {text:?} has no kind; write user:ID, queue:ID, tel:+E164 or sip:URI"
        ));
    };
    match scheme.to_ascii_lowercase().as_str() {
        "user" => {
            if !known.users.contains(rest) {
                return Err(format!("forwards to user {rest:?}, which does not exist"));
            }
            Ok(Target::User(UserId(rest.to_owned())))
        }
        "queue" => {
            if !known.queues.contains(rest) {
                return Err(format!("forwards to queue {rest:?}, which does not exist"));
            }
            Ok(Target::Queue(QueueId(rest.to_owned())))
        }
        "aa" => Err(format!(
            "forwards to {text}, an auto attendant, but auto attendants are not available yet; \
             forward to queue:ID, user:ID, tel:+E164 or sip:URI"
        )),
        "tel" => {
            if !rest.trim_start().starts_with('+') {
                return Err(format!(
                    "target {text:?} is not a global number; write tel:+ and the full number"
                ));
            }
            let number = E164::parse(rest).map_err(|e| format!("target {text:?} {e}"))?;
            if known.own_numbers.contains(&number) {
                return Err(format!(
                    "forwards to {number}, which is one of holdline's own numbers; \
                     forward to queue:ID or user:ID instead"
                ));
            }
            // The number is global already; the same policy as every external target.
            let tel = Uri::Tel(TelUri {
                number: number.as_str().to_owned(),
                params: Params::default(),
            });
            let route = dial::route(&tel, known.trunks).map_err(|_| {
                format!("forwards to {text}, but no [[trunk]] has an allow entry that admits it")
            })?;
            Ok(Target::Tel {
                number,
                trunk: route.trunk,
            })
        }
        "sip" | "sips" => {
            // A `sips:` target is checked against its trunk's transport in `validate_tls`.
            let uri = parse_sip_uri(text).map_err(|why| format!("target {text:?} {why}"))?;
            if let Some(queue) = address_key(&uri).and_then(|k| known.own_addresses.get(&k)) {
                return Err(format!(
                    "forwards to {text}, the address of queue {queue:?}; \
                     forward to queue:{queue} instead"
                ));
            }
            sip_target(text, uri, known)
        }
        _ => Err(format!(
            "target {text:?} has unknown kind {scheme:?}; \
             write user:ID, queue:ID, tel:+E164 or sip:URI"
        )),
    }
}

/// A `sip:` target outside holdline, read as a dial string ([`super::dial`]): a number user
/// part is normalised with the trunk's rules and kept as `+E164;user=phone` (RFC 3261
/// §19.1.6), so the carrier gets exactly the number the allow list admitted.
fn sip_target(text: &str, uri: SipUri, known: &Known<'_>) -> Result<Target, String> {
    let route = dial::route(&Uri::Sip(uri.clone()), known.trunks).map_err(|why| match why {
        DialError::NoTrunk => {
            format!("forwards to {text}, but no [[trunk]] has an allow entry that admits it")
        }
        // Say what the number was read as when it was written otherwise (011…, 1-900-…).
        DialError::NotAllowed(n) if !text.contains(n.as_str()) => format!(
            "forwards to {text}, read as {n}, but no [[trunk]] has an allow entry that admits it"
        ),
        DialError::NotAllowed(_) => {
            format!("forwards to {text}, but no [[trunk]] has an allow entry that admits it")
        }
        other => format!("forwards to {text}, which is refused: {other}"),
    })?;
    let uri = match route.dialled {
        Dialled::Name(name) => name,
        Dialled::Number(number) => {
            if known.own_numbers.contains(&number) {
                return Err(format!(
                    "forwards to {number}, which is one of holdline's own numbers; \
                     forward to queue:ID or user:ID instead"
                ));
            }
            SipUri {
                scheme: uri.scheme,
                user: Some(number.as_str().to_owned()),
                password: None,
                host: uri.host,
                port: uri.port,
                params: Params(vec![("user".into(), Some("phone".into()))]),
                headers: None,
            }
        }
    };
    Ok(Target::Sip {
        uri,
        trunk: route.trunk,
    })
}

/// One queue-to-queue forward: `from`'s `action` (on_timeout …) goes to queue `to`.
pub struct Edge<'a> {
    pub from: &'a QueueId,
    pub action: &'static str,
    pub to: &'a QueueId,
}

/// Finds the forwarding loops among queues: for each group of queues that forward to each other
/// in a cycle (a strongly connected component, or a queue forwarding to itself) one cycle,
/// as the edges that make it up, starting from the queue listed first in `queues`.
pub fn forwarding_loops<'a>(queues: &[&'a QueueId], edges: &[Edge<'a>]) -> Vec<Vec<usize>> {
    let index: HashMap<&QueueId, usize> = queues.iter().enumerate().map(|(i, q)| (*q, i)).collect();
    let n = queues.len();
    // Adjacency as edge indices, in file order.
    let mut out: Vec<Vec<usize>> = vec![Vec::new(); n];
    for (e, edge) in edges.iter().enumerate() {
        if let (Some(&f), Some(_)) = (index.get(edge.from), index.get(edge.to)) {
            out[f].push(e);
        }
    }
    let target = |e: usize| index[edges[e].to];
    // reach[i]: the queues reachable from i in one or more hops. Queues are few (a file is
    // written by hand), so O(n·(n+e)) is fine and simpler than Tarjan.
    let reach: Vec<HashSet<usize>> = (0..n)
        .map(|start| {
            let mut seen = HashSet::new();
            let mut stack: Vec<usize> = out[start].iter().map(|&e| target(e)).collect();
            while let Some(q) = stack.pop() {
                if seen.insert(q) {
                    stack.extend(out[q].iter().map(|&e| target(e)));
                }
            }
            seen
        })
        .collect();
    let mut reported: HashSet<usize> = HashSet::new();
    let mut loops = Vec::new();
    for start in 0..n {
        if reported.contains(&start) || !reach[start].contains(&start) {
            continue;
        }
        // The component: queues that reach `start` and are reached from it.
        let component: HashSet<usize> = (0..n)
            .filter(|&q| q == start || (reach[start].contains(&q) && reach[q].contains(&start)))
            .collect();
        reported.extend(component.iter().copied());
        // Shortest cycle through `start` inside the component (BFS over edges).
        let mut via: HashMap<usize, usize> = HashMap::new(); // queue -> edge that reached it
        let mut frontier = vec![start];
        'search: while !frontier.is_empty() {
            let mut next = Vec::new();
            for q in frontier {
                for &e in &out[q] {
                    let t = target(e);
                    if !component.contains(&t) || via.contains_key(&t) {
                        continue;
                    }
                    via.insert(t, e);
                    if t == start {
                        break 'search;
                    }
                    next.push(t);
                }
            }
            frontier = next;
        }
        let mut cycle = Vec::new();
        let mut q = start;
        while let Some(&e) = via.get(&q) {
            cycle.push(e);
            q = index[edges[e].from];
            if q == start {
                break;
            }
        }
        cycle.reverse();
        loops.push(cycle);
    }
    loops
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(names: &[&str]) -> Vec<QueueId> {
        names.iter().map(|n| QueueId(n.to_string())).collect()
    }

    #[test]
    fn two_queue_cycle_is_found_once() {
        let q = ids(&["a", "b", "c"]);
        let refs: Vec<&QueueId> = q.iter().collect();
        let edges = vec![
            Edge {
                from: &q[0],
                action: "on_timeout",
                to: &q[1],
            },
            Edge {
                from: &q[1],
                action: "on_overflow",
                to: &q[0],
            },
            Edge {
                from: &q[1],
                action: "on_timeout",
                to: &q[2],
            },
        ];
        let loops = forwarding_loops(&refs, &edges);
        assert_eq!(loops, vec![vec![0, 1]]);
    }

    #[test]
    fn self_forward_is_a_loop_and_chains_are_not() {
        let q = ids(&["a", "b", "c"]);
        let refs: Vec<&QueueId> = q.iter().collect();
        let edges = vec![
            Edge {
                from: &q[0],
                action: "on_timeout",
                to: &q[1],
            },
            Edge {
                from: &q[1],
                action: "on_timeout",
                to: &q[2],
            },
            Edge {
                from: &q[2],
                action: "no_agents",
                to: &q[2],
            },
        ];
        assert_eq!(forwarding_loops(&refs, &edges), vec![vec![2]]);
    }
}
