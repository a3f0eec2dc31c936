//! BMS services over any transport.
//!
//! A device task (serial: [`crate::device::serial`], CAN: [`crate::device::can`]) owns the port
//! and answers [`BmsCommand`]s through the device API in [`crate::device::handle`], re-exported
//! here for the services that use it.
//!
//! - [`config`]: the configuration plan (profile → registers) and the verified write session.
//! - [`detect`]: which board is on a serial port (listen, read-only probes, plausibility).
//! - [`service`]: the logged configuration write every face uses (attempt, verified write,
//!   outcome and fields, the pack marked configured).

pub mod config;
pub mod detect;
pub mod service;

pub use crate::device::handle::*;
