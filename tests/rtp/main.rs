//! RTP and the media plane, one test binary: packet parsing properties, the pacer's
//! properties, strict RTP's latch under any interleaving, the media plane and the bridge on
//! loopback sockets.
// Real sockets on the real clock (the bridge, the media plane): arrival times are what is checked.
#![allow(clippy::disallowed_methods)]

#[path = "../rtp_support/mod.rs"]
mod rtp_support;

mod bridge;
mod latch_props;
mod media_plane;
mod pacer_props;
mod parse_props;
mod srtp_plane;
