//! The configuration, one test binary: validation errors that name the field and why, the
//! directory of numbers and users, and property tests.

mod dial_props;
mod directory;
mod props;
mod validation;
