//! RFC 3261 mechanics: messages, URIs, headers, SDP offer/answer, transactions and the
//! transport vocabulary. Knows nothing of queues, audio or sockets.
//!
//! # Layout
//! - [`message`], [`header`], [`uri`], [`method`], [`typed`]: the message model.
//! - [`parse`]: bytes → messages (datagram and stream framing), typed header parsers.
//! - [`dialog`]: one dialog's state (§12) and the requests built in it.
//! - [`digest`]: answering a digest challenge (RFC 7616).
//! - [`sdp`]: SDP parsing and RFC 3264 offer/answer for G.711 + telephone-event.
//! - [`transaction`]: RFC 3261 §17 + RFC 6026 transaction state machines on virtual time.
//! - [`transport`]: peers, connections and datagrams to send.
//! - [`connections`]: connection caps (global, per source) and per-connection deadlines.
//! - [`conn_table`]: which connection a stream message goes on; reuse and idle close.

pub mod conn_table;
pub mod connections;
pub mod dialog;
pub mod digest;
pub mod header;
pub mod message;
pub mod method;
pub mod parse;
pub mod replaces;
pub mod sdp;
pub mod transaction;
pub mod transport;
pub mod typed;
pub mod uri;

pub use header::{HeaderName, Headers};
pub use message::{Message, Request, Response};
pub use method::Method;
pub use transport::{ConnId, Peer, Transmit, Transport};
pub use uri::Uri;
