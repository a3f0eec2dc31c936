//! Shared by the test modules: the simulator fixture, the real binary as a client, the
//! headless console and the pseudo-terminal, the vcan helpers.

pub mod eol;
pub mod family;
pub mod pg;
pub mod printer;
pub mod proxy;
pub mod pty;
pub mod serial;
pub mod sim;
pub mod tui;
pub mod vcan;

/// The explicit opt-in the tests run the binary under: their many fresh databases have no
/// registered operators, and records name `PACKWRIGHT_OPERATOR` as given. It never opens a
/// database that has operators (the operators tests set those up, or remove it).
pub const ALLOW_NO_OPERATORS: (&str, &str) = ("PACKWRIGHT_ALLOW_NO_OPERATORS", "1");

/// The real binary (std's `Command`), with [`ALLOW_NO_OPERATORS`]: every test that spawns
/// `packwright` starts here or at [`assert_bin`].
pub fn bin() -> std::process::Command {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_packwright"));
    cmd.env(ALLOW_NO_OPERATORS.0, ALLOW_NO_OPERATORS.1);
    cmd
}

/// The real binary as an `assert_cmd` command, with [`ALLOW_NO_OPERATORS`].
pub fn assert_bin() -> assert_cmd::Command {
    let mut cmd = assert_cmd::Command::new(env!("CARGO_BIN_EXE_packwright"));
    cmd.env(ALLOW_NO_OPERATORS.0, ALLOW_NO_OPERATORS.1);
    cmd
}

/// Opt the test process in as well, for the line services it runs in-process on throw-away
/// databases without operators (the headless console).
pub fn allow_in_process() {
    packwright::services::authority::allow_without_operators();
}
