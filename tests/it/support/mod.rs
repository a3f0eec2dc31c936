//! Shared by the test modules: the simulator fixture, the real binary as a client, the
//! headless console and the pseudo-terminal, the vcan helpers.

pub mod eol;
pub mod family;
pub mod pg;
pub mod printer;
pub mod proxy;
pub mod pty;
pub mod serial;
pub mod sim;
pub mod tui;
pub mod vcan;
