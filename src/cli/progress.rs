//! Progress of long operations (an import, a match, a commit) on stderr, with `indicatif`,
//! only when stderr is a terminal: in a pipe or a log file nothing is drawn, so a script's
//! output is the same whether or not the operation took long. Plain ASCII, no colour, within
//! 80 columns.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;
use std::time::Duration;

/// A progress line, or nothing when stderr is not a terminal.
pub struct Progress(Option<ProgressBar>);

fn shown() -> bool {
    std::io::stderr().is_terminal()
}

fn style(template: &str) -> ProgressStyle {
    ProgressStyle::with_template(template)
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("#>-")
        .tick_chars("|/-\\ ")
}

impl Progress {
    /// A bar over `total` bytes (a file being read).
    pub fn bytes(message: &str, total: u64) -> Progress {
        Progress::bar(
            message,
            total,
            "{msg:<12} [{bar:28}] {bytes:>9}/{total_bytes:<9} {elapsed:>4}",
        )
    }

    /// A bar over `total` things (packs being committed).
    pub fn count(message: &str, total: u64) -> Progress {
        Progress::bar(
            message,
            total,
            "{msg:<12} [{bar:28}] {pos:>8}/{len:<8} {elapsed:>4}",
        )
    }

    fn bar(message: &str, total: u64, template: &str) -> Progress {
        if !shown() {
            return Progress(None);
        }
        let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
        bar.set_style(style(template));
        bar.set_message(message.to_string());
        Progress(Some(bar))
    }

    /// A spinner for work whose size is not known (reading the cells, matching).
    pub fn spinner(message: &str) -> Progress {
        if !shown() {
            return Progress(None);
        }
        let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
        bar.set_style(style("{spinner} {msg} {elapsed}"));
        bar.set_message(message.to_string());
        bar.enable_steady_tick(Duration::from_millis(200));
        Progress(Some(bar))
    }

    pub fn set(&self, position: u64) {
        if let Some(bar) = &self.0 {
            bar.set_position(position);
        }
    }

    pub fn message(&self, message: &str) {
        if let Some(bar) = &self.0 {
            bar.set_message(message.to_string());
        }
    }

    /// Take the line away (the result is printed after it).
    pub fn done(&self) {
        if let Some(bar) = &self.0 {
            bar.finish_and_clear();
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.done();
    }
}
