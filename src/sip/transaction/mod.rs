//! RFC 3261 §17 transactions with RFC 6026 amendments, sans-IO. (in progress)
