//! Running the real binary in a pseudo-terminal, typing into it and reading its screen.
//!
//! The screen model understands what crossterm and ratatui emit: cursor moves (`CSI r;c H`),
//! printable UTF-8, CR/LF, clears (`CSI 2J`, `CSI K`), and it records (without acting on)
//! SGR, private modes (alternate screen, cursor, synchronized output) and other CSI/OSC
//! sequences. That is enough to read the text an operator sees; colours are checked by the
//! snapshot tests instead.

use std::io::{Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A terminal grid fed with the program's output.
#[derive(Debug, Clone)]
pub struct Screen {
    pub cols: usize,
    pub rows: usize,
    cells: Vec<Vec<char>>,
    row: usize,
    col: usize,
    state: Parse,
    params: String,
    utf8: Vec<u8>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Parse {
    Text,
    Esc,
    Csi,
    Osc,
    OscEsc,
}

impl Screen {
    pub fn new(cols: usize, rows: usize) -> Screen {
        Screen {
            cols,
            rows,
            cells: vec![vec![' '; cols]; rows],
            row: 0,
            col: 0,
            state: Parse::Text,
            params: String::new(),
            utf8: Vec::new(),
        }
    }

    pub fn resize(&mut self, cols: usize, rows: usize) {
        self.cols = cols;
        self.rows = rows;
        self.cells = vec![vec![' '; cols]; rows];
        self.row = 0;
        self.col = 0;
    }

    pub fn text(&self) -> String {
        self.cells
            .iter()
            .map(|r| r.iter().collect::<String>().trim_end().to_string())
            .collect::<Vec<_>>()
            .join("\n")
    }

    fn put(&mut self, c: char) {
        if self.col >= self.cols {
            self.col = 0;
            self.row = (self.row + 1).min(self.rows.saturating_sub(1));
        }
        if let Some(cell) = self
            .cells
            .get_mut(self.row)
            .and_then(|r| r.get_mut(self.col))
        {
            *cell = c;
        }
        self.col += 1;
    }

    fn csi(&mut self, fin: char) {
        let p = std::mem::take(&mut self.params);
        if p.starts_with('?') {
            return; // private modes: alternate screen, cursor, synchronized output
        }
        let nums: Vec<usize> = p.split(';').map(|x| x.parse().unwrap_or(0)).collect();
        let n = |i: usize, d: usize| nums.get(i).copied().filter(|v| *v > 0).unwrap_or(d);
        match fin {
            'H' | 'f' => {
                self.row = (n(0, 1) - 1).min(self.rows.saturating_sub(1));
                self.col = (n(1, 1) - 1).min(self.cols.saturating_sub(1));
            }
            'J' if nums.first() == Some(&2) || nums.first() == Some(&3) => {
                self.cells = vec![vec![' '; self.cols]; self.rows];
            }
            'K' => {
                if let Some(r) = self.cells.get_mut(self.row) {
                    for c in r.iter_mut().skip(self.col) {
                        *c = ' ';
                    }
                }
            }
            'A' => self.row = self.row.saturating_sub(n(0, 1)),
            'B' => self.row = (self.row + n(0, 1)).min(self.rows.saturating_sub(1)),
            'C' => self.col = (self.col + n(0, 1)).min(self.cols.saturating_sub(1)),
            'D' => self.col = self.col.saturating_sub(n(0, 1)),
            'G' => self.col = (n(0, 1) - 1).min(self.cols.saturating_sub(1)),
            _ => {} // SGR and anything else: no effect on the text
        }
    }

    pub fn feed(&mut self, bytes: &[u8]) {
        for &b in bytes {
            match self.state {
                Parse::Esc => {
                    self.state = match b {
                        b'[' => Parse::Csi,
                        b']' => Parse::Osc,
                        _ => Parse::Text,
                    };
                }
                Parse::Csi => {
                    if (0x40..=0x7e).contains(&b) {
                        self.state = Parse::Text;
                        self.csi(b as char);
                    } else {
                        self.params.push(b as char);
                    }
                }
                Parse::Osc => match b {
                    0x07 => self.state = Parse::Text,
                    0x1b => self.state = Parse::OscEsc,
                    _ => {}
                },
                Parse::OscEsc => self.state = Parse::Text,
                Parse::Text => match b {
                    0x1b => self.state = Parse::Esc,
                    b'\r' => self.col = 0,
                    b'\n' => self.row = (self.row + 1).min(self.rows.saturating_sub(1)),
                    0x08 => self.col = self.col.saturating_sub(1),
                    b if b < 0x20 => {}
                    b => {
                        self.utf8.push(b);
                        match std::str::from_utf8(&self.utf8) {
                            Ok(s) => {
                                let chars: Vec<char> = s.chars().collect();
                                self.utf8.clear();
                                for c in chars {
                                    self.put(c);
                                }
                            }
                            Err(e) if e.error_len().is_some() => {
                                self.utf8.clear();
                                self.put('?');
                            }
                            Err(_) => {} // incomplete: wait for the rest
                        }
                    }
                },
            }
        }
    }
}

/// The binary running on a pseudo-terminal.
pub struct Pty {
    master: std::fs::File,
    pub child: Child,
    output: Arc<Mutex<Vec<u8>>>,
    pub screen: Screen,
    fed: usize,
}

fn winsize(cols: u16, rows: u16) -> libc::winsize {
    libc::winsize {
        ws_row: rows,
        ws_col: cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    }
}

impl Pty {
    pub fn spawn(mut cmd: Command, cols: u16, rows: u16) -> Pty {
        let (mut master, mut slave) = (0, 0);
        let ws = winsize(cols, rows);
        // SAFETY: openpty writes two descriptors; no name buffer or termios is passed.
        let rc = unsafe {
            libc::openpty(
                &mut master,
                &mut slave,
                std::ptr::null_mut(),
                std::ptr::null(),
                &ws,
            )
        };
        assert_eq!(rc, 0, "openpty: {}", std::io::Error::last_os_error());
        // SAFETY: both descriptors were just opened and are owned here.
        let (master, slave) =
            unsafe { (OwnedFd::from_raw_fd(master), OwnedFd::from_raw_fd(slave)) };
        let slave_fd = slave.as_raw_fd();
        cmd.stdin(Stdio::from(slave.try_clone().unwrap()))
            .stdout(Stdio::from(slave.try_clone().unwrap()))
            .stderr(Stdio::from(slave));
        // SAFETY: only async-signal-safe calls between fork and exec.
        unsafe {
            cmd.pre_exec(move || {
                if libc::setsid() < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                if libc::ioctl(0, libc::TIOCSCTTY as _, 0) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                let _ = slave_fd;
                Ok(())
            });
        }
        let child = cmd.spawn().expect("start the binary on the pty");
        let master = std::fs::File::from(master);
        let output = Arc::new(Mutex::new(Vec::new()));
        let mut reader = master.try_clone().unwrap();
        let sink = output.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            // EIO once the child and every slave copy are gone: the end.
            while let Ok(n) = reader.read(&mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock().unwrap().extend_from_slice(&buf[..n]);
            }
        });
        Pty {
            master,
            child,
            output,
            screen: Screen::new(cols as usize, rows as usize),
            fed: 0,
        }
    }

    /// Everything the program wrote so far.
    pub fn bytes(&self) -> Vec<u8> {
        self.output.lock().unwrap().clone()
    }

    pub fn len(&self) -> usize {
        self.output.lock().unwrap().len()
    }

    /// Feed the screen what arrived since the last time (without copying all the output: a
    /// console that runs for minutes writes megabytes).
    fn pump(&mut self) {
        let all = self.output.lock().unwrap();
        self.screen.feed(&all[self.fed..]);
        self.fed = all.len();
    }

    pub fn text(&mut self) -> String {
        self.pump();
        self.screen.text()
    }

    /// Type bytes, as one write (a scanner's burst) or several.
    pub fn send(&mut self, bytes: &[u8]) {
        self.master.write_all(bytes).unwrap();
        self.master.flush().unwrap();
    }

    /// A person's key press: one key, then a pause longer than a scan's gap.
    pub fn key(&mut self, bytes: &[u8]) {
        self.send(bytes);
        std::thread::sleep(Duration::from_millis(150));
    }

    pub fn resize(&mut self, cols: u16, rows: u16) {
        // Like a terminal emulator: take in what was drawn at the old size, clear to the new
        // size, then tell the program. Clearing after the program already redrew for the new
        // size (it may react to the kernel's SIGWINCH at once) would lose that frame, and a
        // program that redraws only what changed would not draw it again.
        self.pump();
        self.screen.resize(cols as usize, rows as usize);
        let ws = winsize(cols, rows);
        // SAFETY: TIOCSWINSZ on our own master with a valid winsize.
        unsafe { libc::ioctl(self.master.as_raw_fd(), libc::TIOCSWINSZ, &ws) };
        // SAFETY: signalling our own child.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGWINCH) };
    }

    /// Wait until the screen satisfies `pred`; panics with the screen after `timeout`.
    pub fn wait_for(
        &mut self,
        what: &str,
        timeout: Duration,
        pred: impl Fn(&str) -> bool,
    ) -> String {
        let until = Instant::now() + timeout;
        loop {
            let text = self.text();
            if pred(&text) {
                return text;
            }
            if Instant::now() > until {
                panic!("timed out waiting for {what}; screen:\n{text}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn wait_text(&mut self, needle: &str, timeout: Duration) -> String {
        self.wait_for(needle, timeout, |t| t.contains(needle))
    }

    /// Wait for the program to exit; its status.
    pub fn wait_exit(&mut self, timeout: Duration) -> std::process::ExitStatus {
        let until = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                // Let the reader drain what is left.
                std::thread::sleep(Duration::from_millis(100));
                self.pump();
                return status;
            }
            if Instant::now() > until {
                super::sim::reap(&mut self.child);
                panic!("the console did not exit; screen:\n{}", self.text());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Pty {
    fn drop(&mut self) {
        super::sim::reap(&mut self.child);
    }
}

/// How often `needle` occurs in `hay`.
pub fn count(hay: &[u8], needle: &[u8]) -> usize {
    hay.windows(needle.len()).filter(|w| *w == needle).count()
}
