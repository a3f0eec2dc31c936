//! Simulator: daly.
