//! Run-level Huffman codes for WMA spectral coefficients (data of the format).
//!
//! Six codes exist; a stream uses two (one for the first channel, one for the second), picked
//! by bits per sample and version. In each code, symbol 0 is the escape, symbol 1 the end of
//! block, and symbols 2.. stand for (level, run) pairs enumerated level by level: `LEVELSn[k]`
//! is how many run lengths (0, 1, 2, ...) level `k + 1` has.
//!
//! One file per `coef_table` (`StreamParams::coef_table`, chosen by sample rate and bits per
//! sample): the pair of codes that table selects.

mod table0;
mod table1;
mod table2;

pub use table0::{COEF0_BITS, COEF0_CODES, COEF1_BITS, COEF1_CODES, LEVELS0, LEVELS1};
pub use table1::{COEF2_BITS, COEF2_CODES, COEF3_BITS, COEF3_CODES, LEVELS2, LEVELS3};
pub use table2::{COEF4_BITS, COEF4_CODES, COEF5_BITS, COEF5_CODES, LEVELS4, LEVELS5};
