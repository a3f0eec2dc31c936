//! Device tasks: each owns one port or interface and speaks through channels.

pub mod can;
pub mod serial;
