//! Simulator: jbd.
