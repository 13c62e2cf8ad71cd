//! SDP (RFC 4566) and RFC 3264 offer/answer for G.711 and telephone-event. (in progress)
