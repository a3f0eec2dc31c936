//! The pure parts of intake and profile stay pure (ARCHITECTURE.md: "the pure layer does no
//! I/O at all"): no file system, network, async runtime, clock or environment. Reading files
//! lives in `intake::files` and `profile::files` only.

use std::path::Path;

/// Text that means I/O, a clock or the environment.
const FORBIDDEN: &[&str] = &[
    "std::fs",
    "std::net",
    "std::env",
    "tokio",
    "SystemTime",
    "Instant",
    "chrono",
    "File::",
    "read_dir",
    ".is_file()",
    ".exists()",
    "metadata(",
];

fn pure_sources() -> Vec<std::path::PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = vec![root.join("chemistry.rs"), root.join("text.rs")];
    for dir in ["intake", "profile"] {
        let mut in_dir: Vec<_> = std::fs::read_dir(root.join(dir))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == "rs"))
            .filter(|p| p.file_name().is_some_and(|n| n != "files.rs"))
            .collect();
        in_dir.sort();
        assert!(!in_dir.is_empty(), "{dir}");
        files.extend(in_dir);
    }
    files
}

#[test]
fn pure_intake_and_profile_modules_do_no_io() {
    let mut found = Vec::new();
    for path in pure_sources() {
        let text = std::fs::read_to_string(&path).unwrap();
        for (n, line) in text.lines().enumerate() {
            for word in FORBIDDEN {
                if line.contains(word) {
                    found.push(format!("{}:{}: {word}: {line}", path.display(), n + 1));
                }
            }
        }
    }
    assert!(
        found.is_empty(),
        "I/O in a pure module (move it to a files module):\n{}",
        found.join("\n")
    );
}
