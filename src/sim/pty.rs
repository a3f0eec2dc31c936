//! Simulator: pty.
