//! Packwright: a terminal console for building energy-storage packs from second-life cells.
//!
//! See `ARCHITECTURE.md` for the layering. In short: pure rules at the bottom (`chemistry`,
//! `profile`, `intake`, `eol::plan`, and the `packwright-protocol` / `packwright-matching`
//! crates), the `store` over SQLite, device tasks that own ports (`device`), services that
//! combine them (`bms`, `eol`), simulators (`sim`), and two thin faces: `cli` and `tui`.

pub mod assembly;
pub mod audit;
pub mod benchmarks;
pub mod bms;
pub mod can_dbc;
pub mod can_kernel;
pub mod chemistry;
pub mod cli;
pub mod clock;
pub mod data;
pub mod demo;
pub mod device;
pub mod domain;
pub mod eol;
pub mod intake;
pub mod label;
pub mod matching;
pub mod operators;
pub mod pack_code;
pub mod pack_health;
pub mod passport;
pub mod profile;
pub mod services;
pub mod sim;
pub mod store;
pub mod text;
pub mod trace;
pub mod tui;

/// Version recorded with every test run and configuration write.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

#[cfg(test)]
mod tidy;
