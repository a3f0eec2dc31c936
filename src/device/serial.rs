//! Serial-port device task.
