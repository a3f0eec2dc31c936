//! End-of-line testing: plans (pure) and the runner that executes them against a pack.

pub mod plan;

pub use plan::{Limit, MeasurementSpec, OnFail, Step, StepKind, TestPlan};
