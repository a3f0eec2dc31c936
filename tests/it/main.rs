#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests: a failed unwrap is a failed test
//! Packwright's integration tests, one test binary: one module per area, the shared fixtures in
//! [`support`]. One binary links SQLite, tokio and ratatui once instead of once per file.
//!
//! The SocketCAN tests (`vcan_*` modules) are `#[ignore]`d: they need a real vcan interface,
//! which `tests/vcan/run` provides (`it --ignored vcan_`).

mod support;

mod assemble_cli;
mod audit_cli;
mod audit_console;
mod cli_foundation;
mod cli_match;
mod cli_store_errors;
mod eol_kill;
mod eol_sim;
mod intake_cli;
mod intake_scale;
mod integrity_config;
mod integrity_console;
mod integrity_signals;
mod integrity_states;
mod label;
mod label_render;
mod line_db;
mod line_saf;
mod operators_cli;
mod operators_console;
mod passport;
mod serial_daly;
mod serial_detect;
mod serial_jbd;
mod serial_jk_pb;
mod serial_pace;
mod stress_writers;
mod trace_cli;
mod tui_e2e;
mod tui_snapshots;
mod tui_update;
mod vcan_bench;
mod vcan_can;
mod vcan_cli;
mod vcan_dbc;
mod vcan_eol;
mod vcan_smoke;
