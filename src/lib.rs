//! haul: a terminal copy manager for object storage.
//!
//! Layers (docs/architecture.md §1): `store` speaks COS (and S3, `store::s3`, signed by
//! `sigv4`), `engine` runs copy jobs on it, `ui` and `cli` are front ends on the engine, and
//! `server` is the local COS-compatible server beside them.

pub mod cli;
pub mod config;
pub mod crc64;
pub mod engine;
pub mod private_files;
pub mod server;
pub mod sigv4;
pub mod store;
pub mod text;
pub mod ui;
pub mod units;
