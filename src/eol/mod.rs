//! End-of-line testing: plans (pure), judging and outcome rules (pure), answers for manual
//! steps, the pre-start checks, records and their exports, and the runner.

pub mod answers;
pub mod judge;
pub mod measure;
pub mod plan;
pub mod precheck;
pub mod record;
pub mod runner;

pub use judge::{Outcome, RunOutcome, Value};
pub use plan::{Limit, MeasurementSpec, OnFail, Step, StepKind, TestPlan};
