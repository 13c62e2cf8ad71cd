//! Configuration (TOML): parsing, validation with field-naming errors, embedded default. (in progress)
