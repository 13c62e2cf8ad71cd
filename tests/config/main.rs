//! The configuration, one test binary: validation errors that name the field and why, the
//! directory of numbers and users, `[limits]`, and property tests.

mod directory;
mod limits;
mod props;
mod validation;
