//! The one simulator fixture: the real binary's `packwright sim`, started for a test and
//! killed and reaped when dropped, also when the test panics. Serial boards run on a
//! pseudo-terminal behind `--link PATH`; CAN boards on an interface (the vcan tests).

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_packwright");

/// How long a simulator may take to come up (minutes are not unusual under emulation).
const START: Duration = Duration::from_secs(30);

/// A child process killed and reaped when dropped, so a failing test leaves nothing behind.
pub struct ChildGuard(pub Child);

impl ChildGuard {
    pub fn id(&self) -> u32 {
        self.0.id()
    }

    /// Kill and reap; harmless when it has already ended.
    pub fn kill(&mut self) {
        reap(&mut self.0);
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        reap(&mut self.0);
    }
}

/// Kill `child` (SIGKILL) if it still runs and wait for it, so no zombie is left.
pub fn reap(child: &mut Child) {
    if let Ok(None) = child.try_wait() {
        let _ = child.kill();
    }
    let _ = child.wait();
}

/// A running `packwright sim`.
pub struct Sim {
    child: ChildGuard,
    /// The symlink a serial client opens (empty for a CAN simulator).
    pub link: PathBuf,
    /// The protocol it speaks (`--protocol`).
    pub protocol: String,
    /// Everything it wrote on stderr so far.
    stderr: Arc<Mutex<Vec<String>>>,
}

/// Lines of `out` into a channel, read on a thread of their own so the simulator never blocks
/// on a full pipe; `keep`, if given, keeps a copy of each.
fn read_lines(
    out: impl std::io::Read + Send + 'static,
    keep: Option<Arc<Mutex<Vec<String>>>>,
) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            if let Some(k) = &keep {
                k.lock().unwrap().push(line.clone());
            }
            let _ = tx.send(line);
        }
    });
    rx
}

fn protocol_of(args: &[&str]) -> String {
    args.iter()
        .skip_while(|a| **a != "--protocol")
        .nth(1)
        .unwrap_or(&"jbd")
        .to_string()
}

impl Sim {
    /// A 16-cell LFP board speaking `protocol`, with a fixed seed and `extra` arguments.
    pub fn lfp16(dir: &Path, name: &str, protocol: &str, seed: &str, extra: &[&str]) -> Sim {
        let mut args = vec![
            "--protocol",
            protocol,
            "--cells",
            "16",
            "--chemistry",
            "LFP",
            "--seed",
            seed,
        ];
        args.extend_from_slice(extra);
        Sim::serial(dir, name, &args)
    }

    /// A 15-cell LFP JBD board with two sensors (the `lfp-15s1p-100ah` pack), with `faults`.
    pub fn jbd15(dir: &Path, faults: &[&str]) -> Sim {
        let mut args = vec!["--protocol", "jbd", "--cells", "15", "--chemistry", "LFP"];
        args.extend(["--sensors", "2", "--seed", "11"]);
        for f in faults {
            args.extend(["--fault", f]);
        }
        Sim::serial(dir, "bms", &args)
    }

    /// `packwright sim ARGS --link DIR/NAME`, once it has announced its pty and made the link.
    pub fn serial(dir: &Path, name: &str, args: &[&str]) -> Sim {
        let link = dir.join(name);
        let mut child = ChildGuard(
            Command::new(BIN)
                .arg("sim")
                .args(args)
                .arg("--link")
                .arg(&link)
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("start the simulator"),
        );
        // Stdout is read to its end, so later announcements (after an unplug) never block.
        let announced = read_lines(child.0.stdout.take().expect("stdout"), None);
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let _ = read_lines(child.0.stderr.take().expect("stderr"), Some(stderr.clone()));
        let Ok(pty) = announced.recv_timeout(START) else {
            child.kill();
            panic!(
                "the simulator did not announce its pty ({args:?}): {:?}",
                stderr.lock().unwrap()
            );
        };
        assert!(pty.starts_with("/dev/"), "first line is the pty: {pty}");
        let until = Instant::now() + START;
        while !link.exists() {
            assert!(Instant::now() < until, "no link at {}", link.display());
            std::thread::sleep(Duration::from_millis(10));
        }
        Sim {
            child,
            link,
            protocol: protocol_of(args),
            stderr,
        }
    }

    /// `packwright sim --protocol PROTOCOL --can IFACE EXTRA`, once it says it runs.
    pub fn can(protocol: &str, iface: &str, extra: &[&str]) -> Sim {
        let mut child = ChildGuard(
            Command::new(BIN)
                .args(["sim", "--protocol", protocol, "--can", iface])
                .args(extra)
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .expect("start the CAN simulator"),
        );
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let lines = read_lines(child.0.stderr.take().expect("stderr"), Some(stderr.clone()));
        let until = Instant::now() + START;
        loop {
            let left = until.saturating_duration_since(Instant::now());
            match lines.recv_timeout(left) {
                Ok(l) if l.starts_with("sim:") => break,
                Ok(_) => {}
                Err(_) => {
                    child.kill();
                    panic!("packwright sim --protocol {protocol} did not start");
                }
            }
        }
        Sim {
            child,
            link: PathBuf::new(),
            protocol: protocol.to_string(),
            stderr,
        }
    }

    pub fn port(&self) -> &str {
        self.link.to_str().expect("utf-8 temp path")
    }

    /// Kill it now (SIGKILL) and reap it: an adapter pulled for good.
    pub fn kill(&mut self) {
        self.child.kill();
    }

    /// Stop it as an operator would (SIGTERM) and return the faults it says it injected
    /// (`sim: faults injected: corrupt=N drop=N …`), by name.
    pub fn stop(&mut self) -> BTreeMap<String, u64> {
        let pid = libc::pid_t::try_from(self.child.id()).unwrap();
        // SAFETY: signalling our own child, which is not reaped before `wait` below.
        unsafe { libc::kill(pid, libc::SIGTERM) };
        let until = Instant::now() + START;
        while self.child.0.try_wait().unwrap().is_none() {
            assert!(Instant::now() < until, "the simulator ignored SIGTERM");
            std::thread::sleep(Duration::from_millis(10));
        }
        // The reader thread has the last lines once the pipe is closed.
        let until = Instant::now() + Duration::from_secs(5);
        loop {
            let lines = self.stderr.lock().unwrap().clone();
            if let Some(line) = lines
                .iter()
                .find_map(|l| l.strip_prefix("sim: faults injected: "))
            {
                return line
                    .split_whitespace()
                    .filter_map(|kv| kv.split_once('='))
                    .map(|(k, v)| (k.to_string(), v.parse().unwrap()))
                    .collect();
            }
            assert!(
                Instant::now() < until,
                "no fault summary from the simulator: {lines:?}"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Wait until the simulator has said `needle` on stderr (e.g. `sim: saved the factory
    /// session`), `count` times in all.
    pub fn wait_stderr(&self, needle: &str, count: usize, timeout: Duration) {
        let until = Instant::now() + timeout;
        loop {
            let seen = self
                .stderr
                .lock()
                .unwrap()
                .iter()
                .filter(|l| l.contains(needle))
                .count();
            if seen >= count {
                return;
            }
            assert!(
                Instant::now() < until,
                "the simulator never said '{needle}' ({seen} of {count})"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Stop it and return how often it injected `fault`.
    pub fn injected(&mut self, fault: &str) -> u64 {
        let counts = self.stop();
        *counts
            .get(fault)
            .unwrap_or_else(|| panic!("no count for fault {fault}: {counts:?}"))
    }
}
