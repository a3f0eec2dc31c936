//! The architecture, as a test (after rust-analyzer's tidy test): the layering rules of
//! ARCHITECTURE.md checked against the source text, so a forbidden import fails `cargo test`
//! with the file, the line and the rule it breaks.

use std::path::{Path, PathBuf};

/// One rule: files under `scope` (path prefixes from the workspace root, minus `except`) may
/// not contain any of `forbidden`.
struct Rule {
    name: &'static str,
    scope: &'static [&'static str],
    except: &'static [&'static str],
    forbidden: &'static [&'static str],
}

/// Clocks, files, sockets and the async runtime: what a pure module may not touch.
const IMPURE: &[&str] = &[
    "std::fs",
    "std::net",
    "std::env",
    "tokio",
    "File::",
    "read_dir",
    ".exists()",
    ".is_file()",
    "Instant::now",
    "SystemTime::now",
    "Utc::now",
    "Local::now",
];

const RULES: &[Rule] = &[
    Rule {
        name: "SQL, rusqlite and postgres only inside store/",
        scope: &["src/"],
        except: &["src/store/", "src/tidy.rs"],
        forbidden: &[
            "rusqlite",
            "postgres::",
            "\"SELECT ",
            "\"INSERT ",
            "\"UPDATE ",
            "\"DELETE ",
            "\"CREATE ",
            "\"PRAGMA ",
        ],
    },
    Rule {
        name: "the console (tui) is used only by the CLI",
        scope: &["src/"],
        except: &["src/tui/", "src/cli/", "src/tidy.rs"],
        forbidden: &["crate::tui", "super::tui"],
    },
    Rule {
        name: "device tasks do not depend on the services above them",
        scope: &["src/device/"],
        except: &[],
        forbidden: &[
            "crate::bms",
            "crate::eol",
            "crate::services",
            "crate::store",
            "crate::tui",
            "crate::cli",
            "crate::demo",
            "crate::sim",
        ],
    },
    Rule {
        name: "simulators share nothing with the client beyond codecs",
        scope: &["src/sim/"],
        except: &[],
        forbidden: &[
            "crate::device",
            "crate::bms",
            "crate::eol",
            "crate::services",
            "crate::store",
            "crate::tui",
            "crate::cli",
        ],
    },
    Rule {
        name: "pure modules do no I/O and read no clock",
        scope: &[
            "crates/protocol/src/",
            "crates/matching/src/",
            "src/chemistry.rs",
            "src/audit.rs",
            "src/eol/plan.rs",
            "src/eol/judge.rs",
            "src/domain.rs",
            "src/pack_code.rs",
            "src/text.rs",
            "src/intake/",
            "src/profile/",
            "src/label/zpl.rs",
            "src/label/status.rs",
            "src/label/scan.rs",
            "src/pack_health.rs",
            "src/passport.rs",
        ],
        // Reading files is split from parsing: only `files.rs` reads. The benchmark times the
        // matcher; it is not part of it.
        except: &[
            "src/intake/files.rs",
            "src/profile/files.rs",
            "crates/matching/src/bench/",
        ],
        forbidden: IMPURE,
    },
    Rule {
        name: "only the line services run the EOL runner and log BMS writes",
        scope: &["src/"],
        except: &[
            "src/services/",
            "src/eol/runner.rs",
            "src/bms/service.rs",
            "src/tidy.rs",
        ],
        forbidden: &["runner::run(", "= WriteLog {", "(WriteLog {"],
    },
    Rule {
        name: "audit entries are appended only by store::audit (append-only, chained; \
               store::pg_audit keeps them on the line database)",
        scope: &["src/"],
        except: &[
            "src/store/audit.rs",
            "src/store/pg_audit.rs",
            "src/store/copy.rs",
            "src/store/migrations.rs",
            "src/tidy.rs",
        ],
        forbidden: &["INTO audit_log", "UPDATE audit_log", "FROM audit_log"],
    },
    Rule {
        name: "only the CLI prints: the console's terminal belongs to ratatui, and the demo runs \
               simulators and services inside it",
        scope: &["src/"],
        except: &[
            "src/cli/",
            "src/main.rs",
            "src/tidy.rs",
            "src/store/testing.rs",
        ],
        forbidden: &["println!", "print!(", "dbg!("],
    },
    Rule {
        name: "production code reads no test fixtures",
        scope: &["src/"],
        except: &["src/tidy.rs"],
        forbidden: &["tests/fixtures"],
    },
];

/// A place where a rule is broken.
#[derive(Debug, PartialEq)]
struct Violation {
    rule: &'static str,
    file: String,
    line: usize,
    text: String,
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}:{}: {} — {}",
            self.file,
            self.line,
            self.rule,
            self.text.trim()
        )
    }
}

/// The code lines of a file that count: everything before its `#[cfg(test)]` module, without
/// comment lines (a doc comment may name what it does not do).
fn code_lines(text: &str) -> impl Iterator<Item = (usize, &str)> {
    text.lines()
        .enumerate()
        .take_while(|(_, l)| l.trim() != "#[cfg(test)]")
        .filter(|(_, l)| !l.trim_start().starts_with("//"))
        .map(|(i, l)| (i + 1, l))
}

fn in_scope(rule: &Rule, file: &str) -> bool {
    rule.scope.iter().any(|s| file.starts_with(s))
        && !rule.except.iter().any(|e| file.starts_with(e))
}

/// Every violation of `rules` in `files` (path from the workspace root, text).
fn check(rules: &[Rule], files: &[(String, String)]) -> Vec<Violation> {
    let mut found = Vec::new();
    for (file, text) in files {
        for rule in rules.iter().filter(|r| in_scope(r, file)) {
            for (line, code) in code_lines(text) {
                if rule.forbidden.iter().any(|f| code.contains(f)) {
                    found.push(Violation {
                        rule: rule.name,
                        file: file.clone(),
                        line,
                        text: code.to_string(),
                    });
                }
            }
        }
    }
    found
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

fn workspace_sources() -> Vec<(String, String)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut paths = Vec::new();
    for dir in ["src", "crates/protocol/src", "crates/matching/src"] {
        rust_files(&root.join(dir), &mut paths);
    }
    paths.sort();
    paths
        .into_iter()
        .filter_map(|p| {
            let text = std::fs::read_to_string(&p).ok()?;
            let rel = p
                .strip_prefix(root)
                .ok()?
                .to_string_lossy()
                .replace('\\', "/");
            Some((rel, text))
        })
        .collect()
}

#[test]
fn the_layers_hold() {
    let files = workspace_sources();
    assert!(
        files.iter().any(|(f, _)| f == "src/store/mod.rs"),
        "the tidy test found no sources"
    );
    let found = check(RULES, &files);
    assert!(
        found.is_empty(),
        "ARCHITECTURE.md's rules are broken:\n{}",
        found
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("\n")
    );
}

#[test]
fn a_forbidden_import_is_caught() {
    let file = |path: &str, text: &str| (path.to_string(), text.to_string());
    let files = [
        file("src/device/serial.rs", "use crate::bms::BmsHandle;\n"),
        file("src/demo.rs", "use crate::tui::devices::PortSpec;\n"),
        file("src/cli/cells.rs", "conn.execute(\"SELECT 1\", [])?;\n"),
        file(
            "crates/protocol/src/jbd/mod.rs",
            "let t = std::time::Instant::now();\n",
        ),
        file(
            "src/eol/judge.rs",
            "let x = 1;\n#[cfg(test)]\nmod tests { use tokio; }\n",
        ),
        file("src/sim/can.rs", "// not crate::device::can, on purpose\n"),
        file("src/intake/files.rs", "std::fs::read(path)\n"),
        file("src/intake/delimited.rs", "let t = std::fs::read(path)?;\n"),
    ];
    let found = check(RULES, &files);
    let hits: Vec<(&str, usize)> = found.iter().map(|v| (v.file.as_str(), v.line)).collect();
    assert_eq!(
        hits,
        [
            ("src/device/serial.rs", 1),
            ("src/demo.rs", 1),
            ("src/cli/cells.rs", 1),
            ("crates/protocol/src/jbd/mod.rs", 1),
            ("src/intake/delimited.rs", 1),
        ],
        "{found:#?}"
    );
    assert!(found[0].to_string().contains("device tasks do not depend"));
}
