//! E.164 numbers: normalisation and matching of Request-URIs to service numbers. (in progress)
