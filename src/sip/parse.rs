//! Parsing: bytes → SIP messages (RFC 3261 §7, §25), typed header parsers. (in progress)
