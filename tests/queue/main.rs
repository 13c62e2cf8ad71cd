//! The queue engine on its own, one test binary: routing methods, limits and exceptions,
//! events, and property tests over random event orders.

#[path = "../queue_support/mod.rs"]
mod queue_support;

mod events;
mod limits;
mod props;
mod routing;
