//! Where a label job goes: a Zebra-compatible printer on raw TCP (port 9100), a file, or a
//! spool command that takes the job on its standard input. The only I/O of `label`.
//!
//! On TCP the printer is asked for its host status (`~HS`) first: a printer out of labels,
//! paused or open gets no job, and the refusal says why in plain words. After the job it is
//! asked again, and a problem then (labels ran out mid-job) fails the print.

use super::status::{self, HostStatus};
use serde::Serialize;
use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// The raw printing port of Zebra-compatible printers.
pub const DEFAULT_PORT: u16 = 9100;

/// A printer, as `--printer` names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PrinterTarget {
    /// `tcp:HOST:PORT` (or `tcp:HOST`, port 9100).
    Tcp { host: String, port: u16 },
    /// `file:PATH`: the job written to a file (a device node such as `/dev/usb/lp0` too).
    File(PathBuf),
    /// `cmd:COMMAND`: run by `sh -c`, the job on its standard input (`cmd:lp -d zebra -o raw`).
    Command(String),
}

impl std::str::FromStr for PrinterTarget {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || {
            format!("'{s}' is no printer: use tcp:HOST:PORT, tcp:HOST (port 9100), file:PATH or cmd:COMMAND")
        };
        let (kind, rest) = s.split_once(':').ok_or_else(bad)?;
        if rest.trim().is_empty() {
            return Err(bad());
        }
        match kind {
            "tcp" => {
                // An IPv6 address is written in brackets: tcp:[::1]:9100.
                let (host, port) = match rest.rsplit_once(':') {
                    Some((h, p))
                        if !h.ends_with(':') && (h.starts_with('[') || !h.contains(':')) =>
                    {
                        let port = p
                            .parse()
                            .map_err(|_| format!("'{p}' in '{s}' is no TCP port"))?;
                        (h, port)
                    }
                    _ => (rest, DEFAULT_PORT),
                };
                let host = host.trim_start_matches('[').trim_end_matches(']');
                Ok(PrinterTarget::Tcp {
                    host: host.to_string(),
                    port,
                })
            }
            "file" => Ok(PrinterTarget::File(PathBuf::from(rest))),
            "cmd" => Ok(PrinterTarget::Command(rest.to_string())),
            _ => Err(bad()),
        }
    }
}

impl std::fmt::Display for PrinterTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PrinterTarget::Tcp { host, port } if host.contains(':') => {
                write!(f, "tcp:[{host}]:{port}")
            }
            PrinterTarget::Tcp { host, port } => write!(f, "tcp:{host}:{port}"),
            PrinterTarget::File(p) => write!(f, "file:{}", p.display()),
            PrinterTarget::Command(c) => write!(f, "cmd:{c}"),
        }
    }
}

/// What a sent job came to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PrintReport {
    /// The printer's status before and after the job (TCP printers only).
    pub before: Option<HostStatus>,
    pub after: Option<HostStatus>,
}

/// Why a job was not printed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PrintError {
    /// The printer said it cannot print; no job was sent.
    #[error("the printer {printer} cannot print: {problem}; nothing was sent")]
    NotReady { printer: String, problem: String },
    /// The job was sent, but the printer reported a problem afterwards.
    #[error("the job was sent to {printer}, but the printer then reported: {problem}")]
    AfterJob { printer: String, problem: String },
    /// The printer or the spool could not be reached, or did not answer.
    #[error("{0}")]
    Io(String),
}

/// How long to wait for a printer to connect or answer `~HS`.
pub const TIMEOUT: Duration = Duration::from_secs(5);

/// Send `job` to `target`; `Ok` only when it was handed over (and, on TCP, the printer still
/// reported no problem afterwards).
pub fn print(
    target: &PrinterTarget,
    job: &[u8],
    timeout: Duration,
) -> Result<PrintReport, PrintError> {
    match target {
        PrinterTarget::Tcp { host, port } => print_tcp(target, host, *port, job, timeout),
        PrinterTarget::File(path) => {
            std::fs::write(path, job).map_err(|e| {
                PrintError::Io(format!(
                    "cannot write the label job to {}: {e}",
                    path.display()
                ))
            })?;
            Ok(PrintReport {
                before: None,
                after: None,
            })
        }
        PrinterTarget::Command(command) => {
            run_spool(command, job)?;
            Ok(PrintReport {
                before: None,
                after: None,
            })
        }
    }
}

fn print_tcp(
    target: &PrinterTarget,
    host: &str,
    port: u16,
    job: &[u8],
    timeout: Duration,
) -> Result<PrintReport, PrintError> {
    let io =
        |what: &str, e: std::io::Error| PrintError::Io(format!("printer {target}: {what}: {e}"));
    let addrs: Vec<_> = (host, port)
        .to_socket_addrs()
        .map_err(|e| io("cannot resolve the address", e))?
        .collect();
    let mut last = None;
    let mut stream = None;
    for addr in addrs {
        match TcpStream::connect_timeout(&addr, timeout) {
            Ok(s) => {
                stream = Some(s);
                break;
            }
            Err(e) => last = Some(e),
        }
    }
    let mut stream = match (stream, last) {
        (Some(s), _) => s,
        (None, Some(e)) => return Err(io("cannot connect", e)),
        (None, None) => {
            return Err(PrintError::Io(format!(
                "printer {target}: the host name has no address"
            )))
        }
    };
    stream
        .set_read_timeout(Some(timeout))
        .and_then(|()| stream.set_write_timeout(Some(timeout)))
        .map_err(|e| io("cannot set timeouts", e))?;

    let before = host_status(&mut stream, target, timeout)?;
    if !before.is_ready() {
        return Err(PrintError::NotReady {
            printer: target.to_string(),
            problem: before.describe(),
        });
    }
    stream
        .write_all(job)
        .and_then(|()| stream.flush())
        .map_err(|e| io("sending the job failed", e))?;
    let after = host_status(&mut stream, target, timeout)?;
    if !after.is_ready() {
        return Err(PrintError::AfterJob {
            printer: target.to_string(),
            problem: after.describe(),
        });
    }
    Ok(PrintReport {
        before: Some(before),
        after: Some(after),
    })
}

/// Ask `~HS` and read the three strings of the answer, within `timeout`.
fn host_status(
    stream: &mut TcpStream,
    target: &PrinterTarget,
    timeout: Duration,
) -> Result<HostStatus, PrintError> {
    stream
        .write_all(b"~HS")
        .and_then(|()| stream.flush())
        .map_err(|e| PrintError::Io(format!("printer {target}: cannot ask its status: {e}")))?;
    let deadline = Instant::now() + timeout;
    let mut reply = Vec::new();
    let mut buf = [0u8; 256];
    while !status::is_complete(&reply) {
        if Instant::now() >= deadline {
            return Err(PrintError::Io(format!(
                "printer {target} did not answer its status request (~HS) within {:.1} s",
                timeout.as_secs_f64()
            )));
        }
        match stream.read(&mut buf) {
            Ok(0) => {
                return Err(PrintError::Io(format!(
                    "printer {target} closed the connection before answering its status request"
                )))
            }
            Ok(n) => reply.extend_from_slice(&buf[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock
                        | std::io::ErrorKind::TimedOut
                        | std::io::ErrorKind::Interrupted
                ) => {}
            Err(e) => {
                return Err(PrintError::Io(format!(
                    "printer {target}: reading its status failed: {e}"
                )))
            }
        }
    }
    HostStatus::parse(&reply).map_err(|e| PrintError::Io(format!("printer {target}: {e}")))
}

/// Run `command` with `sh -c`, the job on its standard input; a non-zero exit fails.
fn run_spool(command: &str, job: &[u8]) -> Result<(), PrintError> {
    use std::process::{Command, Stdio};
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(command)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| PrintError::Io(format!("cannot run the print command '{command}': {e}")))?;
    let written = child
        .stdin
        .take()
        .map(|mut stdin| stdin.write_all(job))
        .unwrap_or(Ok(()));
    let out = child
        .wait_with_output()
        .map_err(|e| PrintError::Io(format!("the print command '{command}' failed: {e}")))?;
    if !out.status.success() {
        let said = String::from_utf8_lossy(&out.stderr);
        return Err(PrintError::Io(format!(
            "the print command '{command}' failed ({}): {}",
            out.status,
            crate::text::printable(said.trim())
        )));
    }
    written.map_err(|e| {
        PrintError::Io(format!(
            "the print command '{command}' did not take the whole job: {e}"
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn printers_are_named_tcp_file_or_cmd() {
        let t: PrinterTarget = "tcp:10.0.0.7:9101".parse().unwrap();
        assert_eq!(
            t,
            PrinterTarget::Tcp {
                host: "10.0.0.7".into(),
                port: 9101
            }
        );
        assert_eq!(t.to_string(), "tcp:10.0.0.7:9101");
        let t: PrinterTarget = "tcp:zebra-1".parse().unwrap();
        assert_eq!(t.to_string(), "tcp:zebra-1:9100");
        let t: PrinterTarget = "tcp:[::1]:9100".parse().unwrap();
        assert_eq!(
            t,
            PrinterTarget::Tcp {
                host: "::1".into(),
                port: 9100
            }
        );
        assert_eq!(t.to_string(), "tcp:[::1]:9100");
        assert_eq!(
            "file:/tmp/a.zpl".parse::<PrinterTarget>().unwrap(),
            PrinterTarget::File("/tmp/a.zpl".into())
        );
        assert_eq!(
            "cmd:lp -d zebra".parse::<PrinterTarget>().unwrap(),
            PrinterTarget::Command("lp -d zebra".into())
        );
        for bad in ["zebra", "usb:x", "tcp:", "tcp:host:port", "file:"] {
            assert!(bad.parse::<PrinterTarget>().is_err(), "{bad}");
        }
    }

    #[test]
    fn a_spool_command_gets_the_job_on_stdin_and_its_failure_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("job.zpl");
        let cmd = PrinterTarget::Command(format!("cat > '{}'", out.display()));
        print(&cmd, b"^XA^XZ", TIMEOUT).unwrap();
        assert_eq!(std::fs::read(&out).unwrap(), b"^XA^XZ");
        let failing = PrinterTarget::Command("echo no queue zebra >&2; exit 3".into());
        let e = print(&failing, b"^XA^XZ", TIMEOUT).unwrap_err();
        assert!(e.to_string().contains("no queue zebra"), "{e}");
    }

    /// A printer on 127.0.0.1 for one connection that answers the n-th `~HS` with
    /// `replies[n]` (none left: silence) and returns what it received.
    fn printer(replies: Vec<Vec<u8>>) -> (PrinterTarget, std::thread::JoinHandle<Vec<u8>>) {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let handle = std::thread::spawn(move || {
            let (mut conn, _) = listener.accept().unwrap();
            let mut got = Vec::new();
            let mut answered = 0;
            let mut buf = [0u8; 1024];
            while let Ok(n) = conn.read(&mut buf) {
                if n == 0 {
                    break;
                }
                got.extend_from_slice(&buf[..n]);
                let asked = got.windows(3).filter(|w| w == b"~HS").count();
                while answered < asked {
                    if let Some(r) = replies.get(answered) {
                        conn.write_all(r).unwrap();
                    }
                    answered += 1;
                }
            }
            got
        });
        let target = PrinterTarget::Tcp {
            host: "127.0.0.1".into(),
            port,
        };
        (target, handle)
    }

    #[test]
    fn a_problem_reported_after_the_job_fails_the_print() {
        let ready = status::reply(false, false, false);
        let (target, sim) = printer(vec![ready, status::reply(true, false, false)]);
        let e = print(&target, b"^XA^XZ", TIMEOUT).unwrap_err();
        assert!(matches!(e, PrintError::AfterJob { .. }), "{e:?}");
        assert!(e.to_string().contains("out of labels"), "{e}");
        assert_eq!(sim.join().unwrap(), b"~HS^XA^XZ~HS");
    }

    #[test]
    fn a_printer_that_does_not_answer_its_status_gets_no_job() {
        let (target, sim) = printer(vec![]);
        let e = print(&target, b"^XA^XZ", Duration::from_millis(200)).unwrap_err();
        assert!(e.to_string().contains("did not answer"), "{e}");
        assert_eq!(sim.join().unwrap(), b"~HS");
        // A garbled answer is no status either.
        let (target, sim) = printer(vec![b"\x02?\x03\x02?\x03\x02?\x03".to_vec()]);
        let e = print(&target, b"^XA^XZ", TIMEOUT).unwrap_err();
        assert!(matches!(e, PrintError::Io(_)), "{e:?}");
        assert_eq!(sim.join().unwrap(), b"~HS");
    }
}
