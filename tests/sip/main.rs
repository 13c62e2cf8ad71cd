//! SIP mechanics, one test binary: the parser (properties, the RFC 4475 torture messages, the
//! fixtures), SDP offer/answer (samples and properties), the transaction layer (client,
//! server, matching, properties) on virtual time, and the connection table's properties.

#[path = "../sip_sdp_samples/mod.rs"]
mod sip_sdp_samples;
#[path = "../sip_transaction_support/mod.rs"]
mod sip_transaction_support;

mod conn_table_props;
mod parse_props;
mod parse_rfc4475;
mod sdp_offer_answer;
mod sdp_proptest;
mod transaction_client;
mod transaction_matching;
mod transaction_props;
mod transaction_server;
