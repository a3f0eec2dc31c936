//! Simulated BMS boards for tests, demos and training.

pub mod can;
pub mod daly;
pub mod jbd;
pub mod jk_pb;
pub mod mixed;
pub mod pace;
pub mod pty;
