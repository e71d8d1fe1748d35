//! Configuration: TOML profiles, credentials from the environment, validation errors.
