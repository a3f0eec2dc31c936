//! End-of-line testing: plans (pure), judging and outcome rules (pure), answers for manual
//! steps, the pre-start checks, records and their exports, and the runner.

pub mod answers;
pub mod bench;
pub mod judge;
pub mod measure;
pub mod plan;
pub mod precheck;
pub mod record;
pub mod runner;

pub use judge::{Outcome, RunOutcome, Value};
pub use plan::{Limit, MeasurementSpec, OnFail, Step, StepKind, TestPlan};

/// Whether a process with this id exists on this machine, for recognising runs left
/// `running` by a process that was killed. Ids that cannot be a single process are not alive.
pub fn process_alive(pid: i64) -> bool {
    // 0 and negative ids address process groups in kill(2): never probe those.
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return false;
    };
    if pid <= 0 {
        return false;
    }
    // SAFETY: signal 0 performs only the existence and permission checks; nothing is sent.
    let r = unsafe { libc::kill(pid, 0) };
    r == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

#[cfg(test)]
mod tests {
    use super::process_alive;

    #[test]
    fn own_process_is_alive_and_a_reaped_child_is_not() {
        assert!(process_alive(i64::from(std::process::id())));
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = i64::from(child.id());
        child.wait().unwrap();
        assert!(!process_alive(pid));
        assert!(!process_alive(0));
        assert!(!process_alive(-1));
        assert!(!process_alive(i64::MAX));
    }
}
