//! `packwright bms detect` against the real simulators: each family on its own port, two
//! families at different addresses on one line, a board that is not the profile's pack, and
//! an empty pseudo-terminal.

use crate::support::serial::{packwright, Sim};
use std::path::Path;

fn detect(db: &Path, port: &str, extra: &[&str]) -> crate::support::serial::Run {
    let mut args = vec!["bms", "detect", "--port", port];
    args.extend_from_slice(extra);
    packwright(db, &args)
}

fn found(db: &Path, port: &str, extra: &[&str]) -> Vec<serde_json::Value> {
    let mut e = vec!["--json"];
    e.extend_from_slice(extra);
    let json = detect(db, port, &e).expect(0).json();
    assert_eq!(json["schema"], "packwright.bms.detect", "{json}");
    json["found"].as_array().unwrap().clone()
}

fn sim(dir: &Path, name: &str, protocol: &str, extra: &[&str]) -> Sim {
    let mut args = vec![
        "--protocol",
        protocol,
        "--cells",
        "15",
        "--chemistry",
        "LFP",
        "--seed",
        "9",
        "--turnaround-ms",
        "1",
    ];
    args.extend_from_slice(extra);
    Sim::serial(dir, name, &args)
}

#[test]
fn each_family_is_found_on_its_own_port() {
    let dir = crate::support::tempdir();
    let db = dir.path().join("line.db");
    let jk = sim(dir.path(), "jk", "jk-pb", &["--address", "3"]);
    let f = found(&db, jk.port(), &["--profile", "lfp-15s1p-jk-100ah"]);
    assert_eq!(f.len(), 1, "{f:?}");
    assert_eq!(f[0]["protocol"], "jk-pb");
    assert_eq!(f[0]["baud"], 115200);
    assert_eq!(f[0]["address"], 3);
    assert_eq!(f[0]["model"], "JK_PB2A16S15P");
    assert_eq!(f[0]["firmware"], "19.08");
    assert_eq!(f[0]["serial"], "JKSIM00000003");
    assert_eq!(f[0]["cells"], 15);

    let pace = sim(dir.path(), "pace", "pace-485", &["--address", "2"]);
    let f = found(&db, pace.port(), &["--profile", "lfp-15s1p-pace-100ah"]);
    assert_eq!(f.len(), 1, "{f:?}");
    assert_eq!(f[0]["protocol"], "pace-485");
    assert_eq!(f[0]["baud"], 9600);
    assert_eq!(f[0]["address"], 2);
    assert_eq!(f[0]["serial"], "PACESIM000000002");

    let jbd = sim(dir.path(), "jbd", "jbd", &[]);
    let f = found(&db, jbd.port(), &["--profile", "lfp-15s1p-100ah"]);
    assert_eq!(f.len(), 1, "{f:?}");
    assert_eq!(f[0]["protocol"], "jbd");
    assert_eq!(f[0]["baud"], 9600);
    assert_eq!(f[0]["address"], serde_json::Value::Null);
    assert_eq!(f[0]["model"], "JBD-SIM-15S");

    // No profile: every family is asked, the Daly board is found all the same.
    let daly = sim(dir.path(), "daly", "daly", &[]);
    let f = found(&db, daly.port(), &[]);
    assert_eq!(f.len(), 1, "{f:?}");
    assert_eq!(f[0]["protocol"], "daly");
    assert_eq!(f[0]["address"], 1);
    // The text form names what the operator confirms.
    let text = detect(&db, daly.port(), &[]);
    assert!(
        text.expect(0)
            .stdout
            .contains("found  daly at 9600 baud, address 1"),
        "{}",
        text.stdout
    );
}

#[test]
fn two_families_at_different_addresses_share_a_line() {
    let dir = crate::support::tempdir();
    let db = dir.path().join("line.db");
    let line = sim(
        dir.path(),
        "line",
        "jk-pb",
        &["--address", "2", "--also-pace", "1", "--baud", "115200"],
    );
    let f = found(&db, line.port(), &[]);
    let mut got: Vec<(String, u64)> = f
        .iter()
        .map(|b| {
            (
                b["protocol"].as_str().unwrap().to_string(),
                b["address"].as_u64().unwrap(),
            )
        })
        .collect();
    got.sort();
    assert_eq!(
        got,
        vec![("jk-pb".to_string(), 2), ("pace-485".to_string(), 1)],
        "{f:?}"
    );
}

#[test]
fn a_board_that_is_not_the_profiles_pack_is_refused() {
    let dir = crate::support::tempdir();
    let db = dir.path().join("line.db");
    let jk = sim(dir.path(), "jk", "jk-pb", &[]);
    // A 16-cell profile: the 15-cell board answers, and is refused for it.
    let run = detect(&db, jk.port(), &["--profile", "lfp-16s1p-280ah"]);
    run.expect(3);
    assert!(run.stderr.contains("nothing found"), "{}", run.stderr);
    assert!(
        run.stderr
            .contains("jk-pb 115200 address 1: answered, but 15 cells, the profile's pack has 16"),
        "{}",
        run.stderr
    );
}

#[test]
fn an_empty_pty_says_nothing_found() {
    let dir = crate::support::tempdir();
    let db = dir.path().join("line.db");
    let (mut master, mut slave) = (0, 0);
    // SAFETY: openpty writes two descriptors; no name buffer or termios is passed.
    let rc = unsafe {
        libc::openpty(
            &mut master,
            &mut slave,
            std::ptr::null_mut(),
            std::ptr::null(),
            std::ptr::null(),
        )
    };
    assert_eq!(rc, 0);
    let path = std::fs::read_link(format!("/proc/self/fd/{slave}")).unwrap();
    let run = detect(&db, path.to_str().unwrap(), &[]);
    run.expect(3);
    assert!(
        run.stderr.contains("nothing found on /dev/pts/"),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("time bound"), "{}", run.stderr);
    // SAFETY: closing the descriptors openpty gave us.
    unsafe {
        libc::close(master);
        libc::close(slave);
    }
}

/// The console given a serial port without a protocol detects the board when it starts (a JK
/// PB at address 3 here), talks to it at that address, and remembers it for the station: when
/// the board does not answer at the next start it says it uses what it found before; a port
/// where nothing answers and nothing was found is refused, saying what to do.
#[test]
fn the_console_detects_the_board_on_a_port_given_without_protocol_and_remembers_it() {
    use crate::support::pty::Pty;
    use std::time::Duration;
    let dir = crate::support::tempdir();
    let db = dir.path().join("line.db");
    let console = |port: &str| {
        let mut cmd = crate::support::bin();
        cmd.env("PACKWRIGHT_DB", &db)
            .env("PACKWRIGHT_STATION", "bench-1")
            .env("PACKWRIGHT_OPERATOR", "ann")
            .env("TERM", "xterm-256color")
            .env("NO_COLOR", "1")
            .env_remove("PACKWRIGHT_PROFILES")
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .args(["console", "--profile", "lfp-15s1p-jk-100ah", "--log"])
            .arg(dir.path().join("console.log"))
            .args(["--port", port]);
        cmd
    };
    let jk = sim(dir.path(), "jk", "jk-pb", &["--address", "3"]);
    let port = jk.port().to_string();
    let mut pty = Pty::spawn(console(&port), 80, 24);
    pty.wait_text("q quit", Duration::from_secs(30));
    let said = String::from_utf8_lossy(&pty.bytes()).into_owned();
    assert!(
        said.contains("board detected on") && said.contains("jk-pb at 115200 baud, address 3"),
        "{said}"
    );
    // The BMS screen reads the board at its address.
    pty.key(b"5");
    pty.key(b"c");
    let screen = pty.wait_text("JKSIM00000003", Duration::from_secs(20));
    assert!(screen.contains("jk-pb"), "{screen}");
    pty.key(b"q");
    assert!(pty.wait_exit(Duration::from_secs(20)).success());
    let remembered: String = rusqlite::Connection::open(&db)
        .unwrap()
        .query_row(
            "SELECT value FROM console_state WHERE key = ?1",
            [format!("detected-board:bench-1:{port}")],
            |r| r.get(0),
        )
        .unwrap();
    assert!(remembered.contains(r#""protocol":"jk-pb""#), "{remembered}");
    assert!(remembered.contains(r#""address":3"#), "{remembered}");

    // The board gone: the console starts with what it found before, and says so.
    drop(jk);
    let mut pty = Pty::spawn(console(&port), 80, 24);
    pty.wait_text("q quit", Duration::from_secs(30));
    let said = String::from_utf8_lossy(&pty.bytes()).into_owned();
    assert!(
        said.contains("no board answers on")
            && said.contains("using jk-pb as detected there before"),
        "{said}"
    );
    pty.key(b"q");
    assert!(pty.wait_exit(Duration::from_secs(20)).success());

    // Another port, nothing there and nothing remembered: refused, naming what to do.
    let out = console(dir.path().join("no-such-port").to_str().unwrap())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("no board found on") && err.contains("name its protocol: --port"),
        "{err}"
    );
}
