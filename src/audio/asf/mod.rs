//! ASF container demuxer registered into symphonia. (in progress)
