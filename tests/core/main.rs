//! The sans-IO call core (`b2bua::Core`) on virtual time, driven through its public API by
//! the testkit's harness: one test binary for every scenario, so the suite links the crate
//! once for all of them.
//!
//! - `abandon_log`: a caller hanging up during a ring is logged as an abandon, not a miss.
//! - `admission`: per-source limits and bans in front of the legs.
//! - `uas_scenarios`: callers' dialogs (answer, CANCEL, BYE, re-INVITE, UPDATE, OPTIONS).
//! - `agent_legs`: agent legs as the UAC (ringing, CANCEL timing, forks, refusals).
//! - `devices`: an agent's devices: forking with the CANCEL Reason, OPTIONS probes of static
//!   contacts.
//! - `queue_scenarios`: the queue engine through the whole core (routing, rings, bridge).
//! - `transfers`: forwards and agents' REFERs (toll-fraud policy, fallbacks).
//! - `trunk_failover`: a trunk's SBCs in priority order, failover to the next SBC and trunk.
//! - `trunk_health`: OPTIONS health checks of trunks' SBCs (down, up, Retry-After).
//! - `attended`: attended transfer (REFER with Replaces), its refusals, INVITE with Replaces.
//! - `dial_strings`: REFERs to numbers in disguise, feature codes, maddr and ?headers.
//! - `large_requests`: RFC 3261 §18.1.1: a large request to a trunk over TCP, not UDP.
//! - `server_header`: the Server / User-Agent value, default and configured.
//! - `refer_reconfigure`: our REFER to a caller's side across a provisioning change.
//! - `provisioning`: configuration changes and agent settings applied to the running core.
//! - `media_timeouts`: hold, resume, the RTP timeout and the greeting's end.
//! - `registrar`: REGISTER, digest authentication, bindings as agents' locations, the
//!   auth-failure ban.
//! - `rfc4475`: the RFC 4475 torture messages against the whole UAS.
//! - `hostile_media`: SDP addresses media must not go to (488, a failed agent leg), the ACK
//!   that proves a caller to the media plane.
//! - `unparsable_rport`: where the stateless 400 to an unparsable request goes (RFC 3581 §4).
//! - `user_features`: INVITEs from users challenged with 407, feature codes, users calling
//!   users, agents busy on such calls.
//! - `srtp`: SDES answers by transport and policy (488 under `required`), our key kept
//!   across re-INVITEs.
//! - `outbound_calls`: users' calls to external numbers (classes, blocked prefixes,
//!   caller-ID policies in From / P-Asserted-Identity, nothing unauthenticated to a trunk).

mod abandon_log;
mod admission;
mod agent_legs;
mod attended;
mod devices;
mod dial_strings;
mod early_media;
mod hostile_media;
mod large_requests;
mod media_timeouts;
mod outbound_calls;
mod provisioning;
mod queue_scenarios;
mod refer_reconfigure;
mod registrar;
mod report_figures;
mod rfc4475;
mod sbc_forwards;
mod server_header;
mod session_timers;
mod srtp;
mod transfers;
mod trunk_failover;
mod trunk_health;
mod uas_scenarios;
mod unparsable_rport;
mod user_features;
