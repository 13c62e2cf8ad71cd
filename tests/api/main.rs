//! The admin API and the CLI, one test binary: every route and validation error through the
//! router, the web console's sign-in and forms, the directory, caller-ID policies, live state, bans, the OpenAPI document against the router, and the CLI
//! against an API on loopback.

#[path = "../api_support/mod.rs"]
mod api_support;

mod bans;
mod cli;
mod clid_policies;
mod console;
mod dial_targets;
mod directory;
mod live;
mod openapi;
mod prompts;
mod queues;
mod registrations;
mod reports;
mod trunks;
