//! Simulator: can.
