//! WMA v1/v2 decoder registered into symphonia. (in progress)
