//! Shared by the serial tests: the real binary as a client of a simulator ([`Sim`]).

#![allow(dead_code)]

use std::path::Path;

pub use super::sim::Sim;

/// Fault tests run at a fast baud rate with a quick board, so retries dominate their time.
pub const FAST: [&str; 4] = ["--baud", "115200", "--turnaround-ms", "1"];

/// The result of one client run.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| {
            panic!(
                "stdout is not JSON ({e}):\n{}\nstderr:\n{}",
                self.stdout, self.stderr
            )
        })
    }

    #[track_caller]
    pub fn expect(&self, code: i32) -> &Run {
        assert_eq!(
            self.code, code,
            "exit code\nstdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        self
    }
}

/// Run the client with a database and an operator of its own.
pub fn packwright(db: &Path, args: &[&str]) -> Run {
    let out = super::bin()
        .args(args)
        .env("PACKWRIGHT_DB", db)
        .env("PACKWRIGHT_OPERATOR", "test-operator")
        .env("PACKWRIGHT_STATION", "bench-7")
        .env_remove("PACKWRIGHT_PROFILES")
        .output()
        .expect("run packwright");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// The client's arguments for reaching `sim`, then `extra`.
pub fn link<'a>(sim: &'a Sim, extra: &[&'a str]) -> Vec<&'a str> {
    let mut v = vec!["--port", sim.port(), "--protocol", &sim.protocol];
    v.extend_from_slice(extra);
    v
}

/// `bms read --json` of `sim`.
pub fn read_json(db: &Path, sim: &Sim, extra: &[&str]) -> serde_json::Value {
    let mut args = vec!["bms", "read", "--json"];
    args.extend(link(sim, extra));
    let v = packwright(db, &args).expect(0).json();
    // Every reading says what it is, when and where it was taken.
    assert_eq!(v["schema"], "packwright.bms.read", "{v}");
    assert_eq!(v["port"], sim.port(), "{v}");
    assert!(v["read_at"].is_string(), "{v}");
    v
}

/// Plausibility of one live reading: every value a lithium board could report, cells
/// consistent with the pack voltage. A frame decoded from shifted or damaged bytes fails this.
#[track_caller]
pub fn assert_plausible(s: &serde_json::Value, cells: usize, pack_resolution_v: f64) {
    let mv: Vec<f64> = s["cell_voltages_mv"]
        .as_array()
        .expect("cells")
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();
    assert_eq!(mv.len(), cells, "{s}");
    assert_eq!(s["cell_count"], cells, "{s}");
    for v in &mv {
        assert!(
            (2500.0..3800.0).contains(v),
            "cell {v} mV is not an LFP reading: {s}"
        );
    }
    let spread =
        mv.iter().cloned().fold(f64::MIN, f64::max) - mv.iter().cloned().fold(f64::MAX, f64::min);
    assert!(spread < 80.0, "cell spread {spread} mV: {s}");
    let sum: f64 = mv.iter().sum::<f64>() / 1000.0;
    let pack = s["pack_voltage_v"].as_f64().unwrap();
    // Cells and pack are sampled by separate requests; the pack field has its own resolution.
    assert!(
        (pack - sum).abs() <= pack_resolution_v + 0.05 * cells as f64 / 16.0 + 0.05,
        "pack {pack} V vs cells {sum} V: {s}"
    );
    for t in s["temperatures_c"].as_array().unwrap() {
        assert!((10.0..45.0).contains(&t.as_f64().unwrap()), "{s}");
    }
    let soc = s["soc_pct"].as_f64().unwrap();
    assert!((0.0..=100.0).contains(&soc), "{s}");
    assert!(s["current_a"].as_f64().unwrap().abs() < 20.0, "{s}");
}
