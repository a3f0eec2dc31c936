//! The operator console: a ratatui TUI for the line, at a local terminal or over SSH.
//!
//! Shape (see `ARCHITECTURE.md` and the models in the TUI reference):
//! - [`app`]: the state and a pure `update(state, event) -> effects`;
//! - [`screens`]: one module per screen with its state, its key rows, its part of `update` and
//!   its drawing;
//! - [`view`]: drawing the frame around the screens, which only reads the state;
//! - [`widgets`]: drawing helpers the screens share;
//! - [`keys`]: one key table per context, feeding the key lookup, the footer and the `?` help;
//! - [`msg`]: the messages between the loop and the store thread and device side;
//! - [`verbs`]: the state verbs (reject, un-reject, source, release, scrap, rework) as fields
//!   and a confirmation, handed to the store thread, which calls `services`;
//! - [`scan`]: telling a barcode scan (fast keys ending in Enter) from typing;
//! - [`login`]: badge + PIN login and the idle lock, where operators are registered;
//! - [`services`]: the store thread, so SQLite never blocks the loop;
//! - [`devices`]: the bench side (BMS links, configuration writes, the EOL test), all through
//!   channels to device tasks;
//! - [`runtime`]: the one event loop, the terminal guard, signals and logging.
//!
//! Invariants: nothing but the event loop touches the terminal; nothing in the loop awaits a
//! device or the database; a frame is drawn only when the state changed, so an idle console
//! writes nothing; every exit path restores the terminal.

pub mod app;
pub mod bench;
pub mod keys;
pub mod login;
pub mod msg;
pub mod records;
pub mod runtime;
pub mod scan;
pub mod screens;
pub mod theme;
pub mod verbs;
pub mod view;
pub mod widgets;

pub use runtime::{run, Options};
