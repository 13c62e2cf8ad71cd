//! The world of the property test over the whole [`Core`]: the configuration (two queues,
//! agents with static contacts, a trunk), the peers that play callers, agents and the trunk,
//! and the driver that carries datagrams between them and the core on virtual time. Only the
//! core's public API is used: datagrams in, transmits, media events and deadlines out,
//! `reconfigure`, `set_agent_settings`, `shutdown` and the leak counters.

pub mod caller;
pub mod phone;

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use holdline::b2bua::{AgentSettings, CallHandle, Core, CoreSettings, Event, LegHandle};
use holdline::sip::header::Headers;
use holdline::sip::message::{Message, Request};
use holdline::sip::parse::{parse_datagram, Limits};
use holdline::sip::transport::{Peer, Transport};
use holdline::time::Time;

use caller::Caller;
use phone::Phone;

/// 64·T1 with the default T1 (500 ms): Timer B and F, and how long holdline waits for the
/// outcome of its REFER.
pub const SIXTY_FOUR_T1: Duration = Duration::from_secs(32);

pub const SDP: &str = "v=0\r\no=caller 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\n\
                       t=0 0\r\nm=audio 30000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n";

pub const SERVICE: [&str; 2] = ["+14255550100", "+14255550101"];
const TRUNK: &str = "127.0.0.1:5090";

/// What a provisioning change can flip (each `reconfigure` flips one).
#[derive(Clone, Debug, Default)]
pub struct Knobs {
    pub renamed: bool,
    pub long_alert: bool,
    pub fewer_agents: bool,
    pub serial: bool,
    /// `sales`'s timeout target: an external number, a user, the `support` queue.
    pub timeout_target: u8,
    pub no_support: bool,
}

impl Knobs {
    pub fn flip(&mut self, which: u8) {
        match which % 6 {
            0 => self.renamed = !self.renamed,
            1 => self.long_alert = !self.long_alert,
            2 => self.fewer_agents = !self.fewer_agents,
            3 => self.serial = !self.serial,
            4 => self.timeout_target = (self.timeout_target + 1) % 3,
            _ => self.no_support = !self.no_support,
        }
    }
}

fn agent_addr(i: usize) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 5070 + i as u16))
}

/// `sales` forwards after 15 s (to the trunk, by REFER when the caller's side takes it);
/// `support` answers after 2 s and forwards to the first agent after 30 s.
pub fn config_toml(agents: usize, k: &Knobs) -> String {
    // No OPTIONS probes: the scripted phones play call flows only, and the leak counters
    // count every transaction (a probe's included).
    let mut t = String::from(
        "[sip]\nlisten = [\"udp:127.0.0.1:5060\"]\n[rtp]\nports = \"20000-29999\"\n\
         [probe]\ninterval = 0\n",
    );
    for n in SERVICE {
        t += &format!("[[number]]\ne164 = \"{n}\"\nkind = \"service-toll\"\n");
    }
    for i in 0..agents {
        t += &format!(
            "[[user]]\nid = \"a{i}\"\ncontacts = [\"sip:a{i}@{}\"]\n",
            agent_addr(i)
        );
    }
    t += &format!("[[trunk]]\nid = \"carrier\"\nproxy = \"sip:{TRUNK}\"\nallow = [\"+1425*\"]\n");
    let members: Vec<String> = (0..if k.fewer_agents { 1 } else { agents })
        .map(|i| format!("\"a{i}\""))
        .collect();
    let target = match (k.timeout_target, k.no_support) {
        (1, _) => format!("user:a{}", agents - 1),
        (2, false) => "queue:support".to_owned(),
        _ => "tel:+14255550999".to_owned(),
    };
    t += &format!(
        "[[queue]]\nid = \"sales\"\nname = \"{}\"\nnumbers = [\"{}\"]\nrouting = \"{}\"\n\
         agents = [{}]\nagent_alert_time = {}\nmax_wait = 15\n\
         on_timeout = {{ action = \"forward\", to = \"{target}\" }}\n",
        if k.renamed { "Sales, renamed" } else { "Sales" },
        SERVICE[0],
        if k.serial { "serial" } else { "attendant" },
        members.join(", "),
        if k.long_alert { 30 } else { 15 },
    );
    if !k.no_support {
        t += &format!(
            "[[queue]]\nid = \"support\"\nname = \"Support\"\nnumbers = [\"{}\"]\n\
             agents = [\"a{}\"]\nanswer_delay_ms = 2000\nmax_wait = 30\n\
             on_timeout = {{ action = \"forward\", to = \"user:a0\" }}\n",
            SERVICE[1],
            agents - 1
        );
    }
    t
}

pub fn config(agents: usize, k: &Knobs) -> holdline::config::Config {
    holdline::config::from_toml_str(&config_toml(agents, k), Path::new("."))
        .unwrap_or_else(|e| panic!("test config is invalid: {e}"))
}

/// A message's start line and Call-ID, for the trace.
fn first_line(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let call_id = text
        .lines()
        .find_map(|l| l.strip_prefix("Call-ID: "))
        .unwrap_or_default();
    format!("{} [{call_id}]", text.lines().next().unwrap_or_default())
}

/// The top Via's branch.
pub fn branch_of(headers: &Headers) -> String {
    headers
        .top_via()
        .and_then(|v| v.branch().map(str::to_owned))
        .unwrap_or_default()
}

pub fn parse_request(bytes: &[u8]) -> Request {
    match parse_datagram(bytes, &Limits::default()) {
        Ok(Message::Request(r)) => r,
        other => panic!("not a request: {other:?}"),
    }
}

/// How the peers behave once the generated steps are over.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Only what a UA does by itself; the steps do the rest.
    Steps,
    /// Everyone answers at once: callers ACK; a REFER gets `refer` (0: 603, 1: 202 and a
    /// 503 sipfrag, 2: silence, 3: 202 and a 200 sipfrag); INVITEs get `phone` (0: 486,
    /// 1: 200, 2: silence); CANCELs get 200 and 487.
    Settle { refer: u8, phone: u8 },
    /// Everyone hangs up, refuses new INVITEs and answers CANCELs.
    WindDown,
}

/// The core and its peers.
pub struct Sim {
    pub core: Core,
    pub now: Time,
    server: SocketAddr,
    pub agents: usize,
    pub callers: Vec<Caller>,
    /// The agents' phones, then the trunk.
    pub phones: Vec<Phone>,
    pub mode: Mode,
    pub knobs: Knobs,
    pub settings: AgentSettings,
    inbox: VecDeque<(SocketAddr, Vec<u8>)>,
    /// SIP Call-ID → the core's handle, and which calls are bridged to a leg now.
    handles: HashMap<String, CallHandle>,
    bridged: HashMap<CallHandle, LegHandle>,
    /// The first invariant broken.
    pub failure: Option<String>,
    /// `PROPS_TRACE` set: every message on stderr (for reading a failing case).
    trace: bool,
}

impl Sim {
    pub fn new(agents: usize, callers: usize) -> Sim {
        let server = SocketAddr::from(([127, 0, 0, 1], 5060));
        let knobs = Knobs::default();
        let settings = CoreSettings {
            listeners: vec![(Transport::Udp, server)],
            seed: 11,
            key_seed: [11; 32],
            limits: Limits::default(),
            transactions: Default::default(),
        };
        let mut phones: Vec<Phone> = (0..agents)
            .map(|i| Phone::new(&format!("a{i}"), agent_addr(i), false))
            .collect();
        phones.push(Phone::new("trunk", TRUNK.parse().unwrap(), true));
        let sim = Sim {
            core: Core::new(&config(agents, &knobs), settings),
            now: Time::ZERO,
            server,
            agents,
            callers: (0..callers)
                .map(|i| Caller::new(i, SocketAddr::from(([127, 0, 0, 1], 5062 + i as u16))))
                .collect(),
            phones,
            mode: Mode::Steps,
            knobs,
            settings: AgentSettings::default(),
            inbox: VecDeque::new(),
            handles: HashMap::new(),
            bridged: HashMap::new(),
            failure: None,
            trace: std::env::var_os("PROPS_TRACE").is_some(),
        };
        if sim.trace {
            eprintln!("--- a new case: {agents} agents, {callers} callers");
        }
        sim
    }

    pub fn fail(&mut self, why: String) {
        self.failure.get_or_insert(why);
    }

    /// Carries messages both ways until nobody has anything more to say.
    pub fn pump(&mut self) {
        for _ in 0..100_000 {
            while let Some(t) = self.core.poll_transmit() {
                self.deliver(t.to.addr, &t.bytes);
            }
            while let Some(e) = self.core.poll_event() {
                self.track(e);
            }
            self.collect_outboxes();
            let Some((from, bytes)) = self.inbox.pop_front() else {
                return;
            };
            if self.trace {
                eprintln!("{:?} {from} →: {}", self.now, first_line(&bytes));
            }
            let (now, server) = (self.now, self.server);
            self.core
                .handle_datagram(now, Peer::udp(from), server, &bytes);
        }
        self.fail("the peers and the core never came to rest".into());
    }

    fn deliver(&mut self, to: SocketAddr, bytes: &[u8]) {
        let msg = match parse_datagram(bytes, &Limits::default()) {
            Ok(m) => m,
            Err(e) => return self.fail(format!("the core sent an unparsable message: {e}")),
        };
        if self.trace {
            eprintln!("{:?} → {to}: {}", self.now, first_line(bytes));
        }
        let now = self.now;
        if let Some(c) = self.callers.iter_mut().find(|c| c.addr == to) {
            c.deliver(now, msg);
        } else if let Some(p) = self.phones.iter_mut().find(|p| p.addr == to) {
            p.deliver(now, msg);
        } else {
            self.fail(format!("the core sent to {to}, which is nobody"));
        }
    }

    fn collect_outboxes(&mut self) {
        let mut failures = Vec::new();
        for c in &mut self.callers {
            self.inbox.extend(c.outbox.drain(..).map(|b| (c.addr, b)));
            failures.append(&mut c.failures);
        }
        for p in &mut self.phones {
            self.inbox.extend(p.outbox.drain(..).map(|b| (p.addr, b)));
            failures.append(&mut p.failures);
        }
        for f in failures {
            self.fail(f);
        }
    }

    fn track(&mut self, event: Event) {
        match event {
            Event::CallAnswered { call, call_id, .. } => {
                self.handles.insert(call_id, call);
            }
            Event::Bridge { call, leg } => {
                self.bridged.insert(call, leg);
            }
            Event::Unbridge { call } => {
                self.bridged.remove(&call);
            }
            Event::LegEnded { leg, .. } => self.bridged.retain(|_, l| *l != leg),
            Event::CallEnded { call, .. } => {
                self.bridged.remove(&call);
            }
            _ => {}
        }
    }

    /// Lets `d` pass, firing every deadline on the way; the peers answer as `mode` says.
    pub fn advance(&mut self, d: Duration) {
        let end = self.now + d;
        for _ in 0..100_000 {
            match self.core.poll_timeout() {
                Some(at) if at <= end => {
                    self.now = self.now.max(at);
                    self.core.handle_timeout(self.now);
                    self.pump();
                    self.act();
                }
                _ => {
                    self.now = end;
                    self.core.handle_timeout(end);
                    self.pump();
                    self.act();
                    return;
                }
            }
        }
        self.fail("deadlines never moved past one instant".into());
    }

    /// What the peers do by themselves in the current mode, until they have nothing to do.
    pub fn act(&mut self) {
        for _ in 0..100 {
            let busy = match self.mode {
                Mode::Steps => return,
                Mode::Settle { refer, phone } => self.settle_once(refer, phone),
                Mode::WindDown => self.wind_down_once(),
            };
            self.pump();
            if !busy {
                return;
            }
        }
        self.fail("the peers never ran out of things to say".into());
    }

    /// Whether a peer has something to send.
    fn peers_busy(&self) -> bool {
        self.callers.iter().any(|c| !c.outbox.is_empty())
            || self.phones.iter().any(|p| !p.outbox.is_empty())
    }

    fn settle_once(&mut self, refer: u8, phone: u8) -> bool {
        for c in &mut self.callers {
            c.ack();
            let (pending, accepted) = c.refer_open();
            match refer {
                0 if pending => {
                    c.answer_refer(603);
                }
                1 | 3 if pending || accepted => {
                    c.answer_refer(202);
                    c.notify(self.now, if refer == 1 { 503 } else { 200 });
                }
                _ => {}
            }
        }
        let status = [Some(486), Some(200), None][usize::from(phone % 3)];
        for p in &mut self.phones {
            p.answer_all(status);
        }
        self.peers_busy()
    }

    fn wind_down_once(&mut self) -> bool {
        for c in &mut self.callers {
            c.cancel();
            c.bye();
        }
        let callers_busy = self.peers_busy();
        self.pump();
        for p in &mut self.phones {
            p.answer_all(Some(486));
            // Holdline ends every leg of a caller who hangs up: one still up is one it forgot
            // (its BYE would get 481).
            for _ in 0..p.confirmed() {
                p.bye(0);
            }
        }
        callers_busy || self.peers_busy()
    }

    /// Every caller still up after the peers answered everything and time passed is talking
    /// to someone: a forward that went nowhere leaves a caller up and counted with nothing
    /// sent.
    pub fn check_nobody_stranded(&mut self, waited: Duration) {
        let mut stranded = Vec::new();
        for c in &self.callers {
            let Some(call) = c.live() else { continue };
            let bridged = self
                .handles
                .get(&call.call_id)
                .is_some_and(|h| self.bridged.contains_key(h));
            if !bridged {
                stranded.push(format!("{} ({:?})", call.call_id, call.state));
            }
        }
        if !stranded.is_empty() {
            self.fail(format!(
                "{} s after everyone answered, callers are up with no bridge and no BYE: {}",
                waited.as_secs(),
                stranded.join(", ")
            ));
        }
    }

    /// The leak counters must all be zero.
    pub fn check_released(&mut self, when: &str) {
        let (calls, txs, ports) = (
            self.core.call_count(),
            self.core.transaction_count(),
            self.core.ports_in_use(),
        );
        if (calls, txs, ports) != (0, 0, 0) {
            self.fail(format!(
                "{when}: {calls} calls, {txs} transactions, {ports} RTP ports still held"
            ));
        }
    }

    /// How many INVITEs the trunk got on behalf of `caller`.
    pub fn trunk_invites_for(&self, caller: usize) -> usize {
        let who = format!("sip:{}@", self.callers[caller].name);
        self.phones.last().map_or(0, |t| {
            t.invited_by.iter().filter(|f| f.contains(&who)).count()
        })
    }
}
