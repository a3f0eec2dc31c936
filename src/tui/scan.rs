//! Telling a barcode scan from typing.
//!
//! A keyboard-wedge scanner types the code far faster than a person (a few milliseconds per
//! character) and ends it with Enter. The detector holds printable characters back for at most
//! `gap`; when Enter follows a run of at least [`MIN_SCAN_LEN`] characters, each within `gap`
//! of the one before, the run is a scan. Anything else is released as ordinary keys, in order,
//! so a person typing loses nothing: a single key press is only delayed by `gap`.
//!
//! Time is passed in, never read, so the detector is a pure state machine.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use std::time::{Duration, Instant};

/// Shorter codes are never taken for scans (a person can type two keys and Enter quickly).
pub const MIN_SCAN_LEN: usize = 3;
/// The default largest pause between two characters of one scan.
pub const DEFAULT_GAP: Duration = Duration::from_millis(50);

/// What the detector lets through.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// An ordinary key press.
    Key(KeyEvent),
    /// A complete scan, without its Enter.
    Scan(String),
}

#[derive(Debug, Clone)]
pub struct ScanDetector {
    gap: Duration,
    held: Vec<KeyEvent>,
    last: Option<Instant>,
}

fn printable(key: &KeyEvent) -> Option<char> {
    match key.code {
        KeyCode::Char(c)
            if !key
                .modifiers
                .intersects(KeyModifiers::CONTROL | KeyModifiers::ALT)
                && !c.is_control() =>
        {
            Some(c)
        }
        _ => None,
    }
}

impl ScanDetector {
    pub fn new(gap: Duration) -> ScanDetector {
        ScanDetector {
            gap,
            held: Vec::new(),
            last: None,
        }
    }

    /// When the held characters must be released if nothing else arrives.
    pub fn deadline(&self) -> Option<Instant> {
        if self.held.is_empty() {
            None
        } else {
            self.last.map(|t| t + self.gap)
        }
    }

    fn release(&mut self, out: &mut Vec<Output>) {
        out.extend(self.held.drain(..).map(Output::Key));
        self.last = None;
    }

    /// Feed one key press received at `at`.
    pub fn key(&mut self, key: KeyEvent, at: Instant) -> Vec<Output> {
        let mut out = Vec::new();
        let in_time = self
            .last
            .is_some_and(|last| at.saturating_duration_since(last) <= self.gap);
        if !in_time {
            self.release(&mut out);
        }
        if let Some(_c) = printable(&key) {
            self.held.push(key);
            self.last = Some(at);
            return out;
        }
        if key.code == KeyCode::Enter && key.modifiers.is_empty() && self.held.len() >= MIN_SCAN_LEN
        {
            let code: String = self.held.iter().filter_map(printable).collect();
            self.held.clear();
            self.last = None;
            out.push(Output::Scan(code));
            return out;
        }
        self.release(&mut out);
        out.push(Output::Key(key));
        out
    }

    /// Release held characters whose time is up (call at or after [`Self::deadline`]).
    pub fn timeout(&mut self, now: Instant) -> Vec<Output> {
        let mut out = Vec::new();
        if self.deadline().is_some_and(|d| now >= d) {
            self.release(&mut out);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ch(c: char) -> KeyEvent {
        KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE)
    }
    fn enter() -> KeyEvent {
        KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE)
    }

    /// Feed `text` (with `\n` as Enter) one character every `step`.
    fn feed(det: &mut ScanDetector, t0: Instant, step: Duration, text: &str) -> Vec<Output> {
        let mut out = Vec::new();
        let mut t = t0;
        for c in text.chars() {
            out.extend(det.timeout(t));
            let key = if c == '\n' { enter() } else { ch(c) };
            out.extend(det.key(key, t));
            t += step;
        }
        out.extend(det.timeout(t + Duration::from_secs(1)));
        out
    }

    #[test]
    fn fast_run_ending_in_enter_is_a_scan() {
        let mut det = ScanDetector::new(DEFAULT_GAP);
        let out = feed(
            &mut det,
            Instant::now(),
            Duration::from_millis(8),
            "CELL-0042\n",
        );
        assert_eq!(out, vec![Output::Scan("CELL-0042".into())]);
        assert_eq!(det.deadline(), None);
    }

    #[test]
    fn slow_typing_is_keys_in_order() {
        let mut det = ScanDetector::new(DEFAULT_GAP);
        let out = feed(
            &mut det,
            Instant::now(),
            Duration::from_millis(150),
            "abc\n",
        );
        assert_eq!(
            out,
            vec![
                Output::Key(ch('a')),
                Output::Key(ch('b')),
                Output::Key(ch('c')),
                Output::Key(enter())
            ]
        );
    }

    #[test]
    fn short_fast_run_is_not_a_scan() {
        let mut det = ScanDetector::new(DEFAULT_GAP);
        let out = feed(&mut det, Instant::now(), Duration::from_millis(5), "ab\n");
        assert_eq!(
            out,
            vec![
                Output::Key(ch('a')),
                Output::Key(ch('b')),
                Output::Key(enter())
            ]
        );
    }

    #[test]
    fn single_key_is_released_at_the_deadline_not_before() {
        let mut det = ScanDetector::new(DEFAULT_GAP);
        let t0 = Instant::now();
        assert!(det.key(ch('3'), t0).is_empty());
        assert_eq!(det.deadline(), Some(t0 + DEFAULT_GAP));
        assert!(det.timeout(t0 + Duration::from_millis(10)).is_empty());
        assert_eq!(det.timeout(t0 + DEFAULT_GAP), vec![Output::Key(ch('3'))]);
        assert_eq!(det.deadline(), None);
    }

    #[test]
    fn a_pause_splits_typing_from_a_following_scan() {
        let mut det = ScanDetector::new(DEFAULT_GAP);
        let t0 = Instant::now();
        let mut out = det.key(ch('q'), t0);
        // The scan starts 200 ms later without a timeout call in between.
        let mut t = t0 + Duration::from_millis(200);
        for c in "P-001".chars() {
            out.extend(det.key(ch(c), t));
            t += Duration::from_millis(3);
        }
        out.extend(det.key(enter(), t));
        assert_eq!(
            out,
            vec![Output::Key(ch('q')), Output::Scan("P-001".into())]
        );
    }

    #[test]
    fn control_keys_flush_and_pass_through() {
        let mut det = ScanDetector::new(DEFAULT_GAP);
        let t0 = Instant::now();
        det.key(ch('x'), t0);
        let ctrl_c = KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL);
        let out = det.key(ctrl_c, t0);
        assert_eq!(out, vec![Output::Key(ch('x')), Output::Key(ctrl_c)]);
    }
}
