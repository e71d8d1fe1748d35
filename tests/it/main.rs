//! The integration tests, one binary so the suite links once: each file is a module with one
//! area (the client against `haul serve`, the copy engine, the server's wire and operations,
//! bad input, the demo end to end, UI snapshots, the UI in a real PTY, and `conformance`, one
//! `ObjectStore` suite run on both the test double and `CosClient` on `haul serve`). `common`
//! is the shared harness that starts `haul serve` on 127.0.0.1. Run one area with
//! `cargo test --test it server_api::`.

mod common;

mod bad_input;
mod client_api;
mod conformance;
mod copy_engine;
mod demo_e2e;
mod s3_api;
mod server_api;
mod server_ops;
mod ui;
mod ui_pty;
mod ui_transfers;
