//! Benchmarks behind `packwright bench`: measured here, never asserted in timed tests.
//! (The matcher's benchmark is pure and lives with it, in `packwright_matching::bench`.)

pub mod line;
pub mod scale;
pub mod serial;
pub mod writers;
