//! The operator console: a ratatui TUI for the line, at a local terminal or over SSH.
//!
//! Shape (see `ARCHITECTURE.md` and the models in the TUI reference):
//! - [`app`]: the state and a pure `update(state, event) -> effects`;
//! - [`view`]: drawing, which only reads the state;
//! - [`keys`]: one key table per context, feeding the key lookup, the footer and the `?` help;
//! - [`scan`]: telling a barcode scan (fast keys ending in Enter) from typing;
//! - [`services`]: the store thread, so SQLite never blocks the loop;
//! - [`devices`]: the bench side (BMS links, configuration writes, the EOL test), all through
//!   channels to device tasks;
//! - [`runtime`]: the one event loop, the terminal guard, signals and logging.
//!
//! Invariants: nothing but the event loop touches the terminal; nothing in the loop awaits a
//! device or the database; a frame is drawn only when the state changed, so an idle console
//! writes nothing; every exit path restores the terminal.

pub mod app;
pub mod data;
pub mod devices;
pub mod keys;
pub mod runtime;
pub mod scan;
pub mod services;
pub mod theme;
pub mod view;

pub use runtime::{run, Options};
