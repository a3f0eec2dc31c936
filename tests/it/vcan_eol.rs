//! The end-of-line inverter step on a real vcan interface: a JBD board on a pseudo-terminal is
//! the BMS, a Pylontech simulator on CAN is the pack's inverter port. With every frame the run
//! passes; without the 0x351 limits frame it fails at the `inverter_can` step with the reason.
//! Needs a vcan interface and root: run through `tests/vcan/run`.

use crate::support::sim::Sim;
use crate::support::vcan::{iface, packwright};
use packwright::sim::can::{self as sim, CanSimConfig};
use packwright_protocol::ProtocolKind;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;
use tokio::sync::oneshot;

const PROFILE: &str = "lfp-16s1p-280ah";

/// The shipped 16S profile, with the inverter limits the Pylontech simulator announces for a
/// 16-cell 100 Ah pack (16 × 3.55 V, 0.5C, 1C), under the same name in a profile folder.
fn profiles(dir: &Path) -> PathBuf {
    let folder = dir.join("profiles");
    std::fs::create_dir_all(&folder).unwrap();
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("profiles/{PROFILE}.toml")),
    )
    .unwrap()
    .replace("low = 55.9\nhigh = 56.1", "low = 56.7\nhigh = 56.9")
    .replace("low = 99.9\nhigh = 100.1", "low = 49.9\nhigh = 50.1")
    .replace("low = 149.9\nhigh = 150.1", "low = 99.9\nhigh = 100.1");
    std::fs::write(folder.join(format!("{PROFILE}.toml")), text).unwrap();
    folder
}

fn pw(dir: &Path, db: &Path) -> Command {
    let mut cmd = packwright();
    cmd.env("PACKWRIGHT_DB", db)
        .env("PACKWRIGHT_PROFILES", dir.join("profiles"))
        .env("PACKWRIGHT_STATION", "line-1")
        .env("PACKWRIGHT_OPERATOR", "ann")
        .current_dir(env!("CARGO_MANIFEST_DIR"));
    cmd
}

fn ok(out: Output) -> Output {
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// 16 graded 280 Ah-class cells matched, assembled and coded; returns the pack code.
fn pack(dir: &Path, db: &Path) -> String {
    let mut csv =
        String::from("id,capacity_mah,ir_mohm,ocv_mv,self_discharge_mv_per_day,source_code\n");
    for i in 1..=16 {
        csv.push_str(&format!(
            "P{i:02},{},0.2{},3300,1.0,EVPACK-9\n",
            270_000 + i * 150,
            i % 4
        ));
    }
    let file = dir.join("graded.csv");
    std::fs::write(&file, csv).unwrap();
    ok(pw(dir, db)
        .args(["cells", "import"])
        .arg(&file)
        .args(["--chemistry", "LFP"])
        .output()
        .unwrap());
    ok(pw(dir, db)
        .args(["match", "--profile", PROFILE, "--commit"])
        .output()
        .unwrap());
    let shown = ok(pw(dir, db)
        .args(["packs", "show", "1", "--json"])
        .output()
        .unwrap());
    let v: Value = serde_json::from_slice(&shown.stdout).unwrap();
    let cells: Vec<String> = v["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g[0].as_str().unwrap().to_string())
        .collect();
    let out = ok(pw(dir, db)
        .args(["assemble", "1", "--json", "--scan"])
        .args(&cells)
        .output()
        .unwrap());
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    v["code"].as_str().unwrap().to_string()
}

fn jbd_board(dir: &Path) -> (Sim, PathBuf) {
    let args = [
        "--protocol",
        "jbd",
        "--cells",
        "16",
        "--sensors",
        "4",
        "--seed",
        "3",
    ];
    let board = Sim::serial(dir, "bms", &args);
    let link = board.link.clone();
    (board, link)
}

/// Run the plan; exit code and the run's document.
fn eol(dir: &Path, db: &Path, link: &Path) -> (i32, Value) {
    let answers = dir.join("answers.toml");
    std::fs::write(
        &answers,
        "insulation_resistance_megaohm = 550\nhipot_result = \"PASS\"\npe_continuity_ohm = 0.03\nvisual_ok = \"yes\"\n",
    )
    .unwrap();
    let out = pw(dir, db)
        .args([
            "eol",
            "run",
            "--pack",
            "1",
            "--port",
            link.to_str().unwrap(),
            "--protocol",
            "jbd",
        ])
        .args(["--can", &iface(), "--json", "--answers"])
        .arg(&answers)
        .output()
        .unwrap();
    let doc: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
    (out.status.code().unwrap_or(-1), doc)
}

fn inverter_step(doc: &Value) -> &Value {
    doc["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == "inverter_can")
        .unwrap()
}

/// A Pylontech simulator on the vcan interface, missing the given frames; stops when dropped.
fn pylontech(rt: &tokio::runtime::Runtime, missing: Vec<u32>) -> oneshot::Sender<()> {
    let mut cfg = CanSimConfig::new(&iface(), ProtocolKind::Pylontech);
    cfg.period = Duration::from_millis(200);
    cfg.faults.missing = missing;
    let (stop, stopped) = oneshot::channel::<()>();
    rt.spawn(async move {
        sim::run(cfg, async {
            let _ = stopped.await;
        })
        .await
        .expect("the CAN simulator runs");
    });
    stop
}

#[test]
#[ignore = "needs a vcan interface: run tests/vcan/run"]
fn the_inverter_step_reads_the_limits_and_a_missing_0x351_fails_it() {
    let dir = crate::support::tempdir();
    let dir = dir.path();
    let db = dir.join("line.db");
    profiles(dir);
    let code = pack(dir, &db);
    let (_board, link) = jbd_board(dir);
    ok(pw(dir, &db)
        .args([
            "bms",
            "config",
            "write",
            "--protocol",
            "jbd",
            "--port",
            link.to_str().unwrap(),
        ])
        .args(["--profile", PROFILE, "--barcode", &code])
        .output()
        .unwrap());
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();

    // Every frame: the limits the pack announces are measured and pass.
    let stop = pylontech(&rt, Vec::new());
    let (exit, doc) = eol(dir, &db, &link);
    drop(stop);
    assert_eq!(exit, 0, "{doc:#}");
    let step = inverter_step(&doc);
    assert_eq!(step["outcome"], "pass");
    assert_eq!(step["measurements"][0]["value"], 56.8);
    assert!(doc["transport"]
        .as_str()
        .unwrap()
        .contains(&format!("can {}", iface())));

    // Without 0x351 the inverter step fails, naming the frame; the other steps still pass.
    std::thread::sleep(Duration::from_millis(300));
    let stop = pylontech(&rt, vec![0x351]);
    let (exit, doc) = eol(dir, &db, &link);
    drop(stop);
    assert_eq!(exit, 1, "{doc:#}");
    let step = inverter_step(&doc);
    assert_eq!(step["outcome"], "fail");
    let reason = step["measurements"][0]["reason"].as_str().unwrap();
    assert!(reason.contains("0x351"), "{reason}");
    let failed: Vec<&str> = doc["steps"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["outcome"] == "fail" || s["outcome"] == "error")
        .map(|s| s["id"].as_str().unwrap())
        .collect();
    assert_eq!(failed, ["inverter_can"], "{doc:#}");
}
