//! Schema migrations, applied in order; `PRAGMA user_version` records how far a file has come.
//! Never edit a released migration: append a new one.

pub const MIGRATIONS: &[&str] = &[
    // 1: the whole line's records.
    r#"
CREATE TABLE import_batches(
    id INTEGER PRIMARY KEY,
    file TEXT NOT NULL,
    imported_at TEXT NOT NULL,
    rows INTEGER NOT NULL,
    station TEXT NOT NULL,
    operator TEXT NOT NULL
);
CREATE TABLE cells(
    id TEXT PRIMARY KEY,
    chemistry TEXT NOT NULL,
    model TEXT,
    capacity_mah REAL,
    ir_mohm REAL,
    ocv_mv REAL,
    self_discharge_mv_per_day REAL,
    grade TEXT,
    source_code TEXT,
    status TEXT NOT NULL DEFAULT 'available'
        CHECK (status IN ('available','reserved','assembled','rejected','scrapped')),
    status_reason TEXT,
    batch_id INTEGER REFERENCES import_batches(id),
    updated_at TEXT NOT NULL
);
CREATE INDEX cells_by_status ON cells(status);
CREATE INDEX cells_by_source ON cells(source_code);

CREATE TABLE packs(
    id INTEGER PRIMARY KEY,
    code TEXT UNIQUE,
    profile TEXT NOT NULL,
    status TEXT NOT NULL
        CHECK (status IN ('matched','assembled','configured','passed','failed','scrapped')),
    created_at TEXT NOT NULL,
    assembled_at TEXT,
    station TEXT NOT NULL,
    operator TEXT NOT NULL,
    metrics_json TEXT
);
-- A cell belongs to at most one pack, ever.
CREATE TABLE pack_cells(
    pack_id INTEGER NOT NULL REFERENCES packs(id),
    cell_id TEXT NOT NULL UNIQUE REFERENCES cells(id),
    series_index INTEGER NOT NULL,
    parallel_index INTEGER NOT NULL,
    placed_at TEXT,
    PRIMARY KEY (pack_id, series_index, parallel_index)
);

CREATE TABLE bms_writes(
    id INTEGER PRIMARY KEY,
    pack_id INTEGER REFERENCES packs(id),
    port TEXT NOT NULL,
    protocol TEXT NOT NULL,
    bms_identity TEXT,
    profile TEXT NOT NULL,
    station TEXT NOT NULL,
    operator TEXT NOT NULL,
    started_at TEXT NOT NULL,
    finished_at TEXT,
    outcome TEXT NOT NULL
        CHECK (outcome IN ('started','verified','failed','refused','aborted')),
    detail TEXT
);
CREATE TABLE bms_write_fields(
    write_id INTEGER NOT NULL REFERENCES bms_writes(id),
    field TEXT NOT NULL,
    register TEXT,
    written TEXT,
    read_back TEXT,
    persisted TEXT,
    ok INTEGER NOT NULL,
    reason TEXT
);

CREATE TABLE eol_runs(
    id INTEGER PRIMARY KEY,
    pack_id INTEGER NOT NULL REFERENCES packs(id),
    profile TEXT NOT NULL,
    plan_version TEXT NOT NULL,
    station TEXT NOT NULL,
    operator TEXT NOT NULL,
    software_version TEXT NOT NULL,
    transport TEXT NOT NULL,
    pid INTEGER,
    started_at TEXT NOT NULL,
    ended_at TEXT,
    outcome TEXT NOT NULL
        CHECK (outcome IN ('running','pass','fail','error','aborted')),
    reason TEXT
);
CREATE TABLE eol_measurements(
    id INTEGER PRIMARY KEY,
    run_id INTEGER NOT NULL REFERENCES eol_runs(id),
    seq INTEGER NOT NULL,
    step_id TEXT NOT NULL,
    step_title TEXT NOT NULL,
    name TEXT NOT NULL,
    value_num REAL,
    value_text TEXT,
    unit TEXT NOT NULL,
    limit_json TEXT NOT NULL,
    outcome TEXT NOT NULL CHECK (outcome IN ('pass','fail','error','skipped')),
    reason TEXT,
    taken_at TEXT NOT NULL
);
CREATE INDEX eol_measurements_by_run ON eol_measurements(run_id, seq);

CREATE TABLE events(
    id INTEGER PRIMARY KEY,
    at TEXT NOT NULL,
    level TEXT NOT NULL CHECK (level IN ('info','warning','problem')),
    station TEXT NOT NULL,
    operator TEXT NOT NULL,
    message TEXT NOT NULL
);
-- Where the console was, so a dropped SSH session resumes.
CREATE TABLE console_state(
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
"#,
    // 2 (line integrity: states and rework): a pack's hold or release beside its line status,
    // the profile content a pack was matched with, the history of every state change and of
    // every cell that left a slot. Additive only: other migrations may follow it unchanged.
    r#"
ALTER TABLE packs ADD COLUMN status_override TEXT
    CHECK (status_override IS NULL OR status_override IN ('on_hold','released'));
ALTER TABLE packs ADD COLUMN status_reason TEXT;
ALTER TABLE packs ADD COLUMN status_at TEXT;
ALTER TABLE packs ADD COLUMN status_station TEXT;
ALTER TABLE packs ADD COLUMN status_operator TEXT;
ALTER TABLE packs ADD COLUMN profile_toml TEXT;
ALTER TABLE packs ADD COLUMN profile_sha256 TEXT;
ALTER TABLE packs ADD COLUMN profile_origin TEXT;
CREATE TABLE state_changes(
    id INTEGER PRIMARY KEY,
    at TEXT NOT NULL,
    station TEXT NOT NULL,
    operator TEXT NOT NULL,
    verb TEXT NOT NULL,
    pack_id INTEGER REFERENCES packs(id),
    cell_id TEXT REFERENCES cells(id),
    from_status TEXT,
    to_status TEXT,
    reason TEXT,
    detail TEXT
);
CREATE INDEX state_changes_by_pack ON state_changes(pack_id, id);
CREATE INDEX state_changes_by_cell ON state_changes(cell_id, id);
-- A cell that left a pack's slot (rejected from a matched pack, reworked out, released, back
-- to stock from a scrapped pack): where it was, and until when.
CREATE TABLE pack_cell_history(
    pack_id INTEGER NOT NULL REFERENCES packs(id),
    cell_id TEXT NOT NULL REFERENCES cells(id),
    series_index INTEGER NOT NULL,
    parallel_index INTEGER NOT NULL,
    placed_at TEXT,
    removed_at TEXT NOT NULL,
    change_id INTEGER REFERENCES state_changes(id)
);
CREATE INDEX pack_cell_history_by_pack ON pack_cell_history(pack_id);
"#,
    // 3: the board journal (temporary test settings, journalled before they are sent and
    // closed once the profile's value is proved back) and each pack's status history.
    r#"
CREATE TABLE board_journal(
    id INTEGER PRIMARY KEY,
    pack_id INTEGER REFERENCES packs(id),
    port TEXT NOT NULL,
    board TEXT,
    profile TEXT NOT NULL,
    register INTEGER NOT NULL,
    original_raw INTEGER NOT NULL,
    test_raw INTEGER NOT NULL,
    purpose TEXT NOT NULL,
    station TEXT NOT NULL,
    operator TEXT NOT NULL,
    opened_at TEXT NOT NULL,
    closed_at TEXT,
    closed_how TEXT
);
CREATE INDEX board_journal_open ON board_journal(port) WHERE closed_at IS NULL;
-- The process making a configuration write, so one left `started` by a killed process is
-- recognised and closed as aborted.
ALTER TABLE bms_writes ADD COLUMN pid INTEGER;

CREATE TABLE pack_status_history(
    id INTEGER PRIMARY KEY,
    pack_id INTEGER NOT NULL REFERENCES packs(id),
    status TEXT NOT NULL,
    at TEXT NOT NULL
);
CREATE INDEX pack_status_history_by_pack ON pack_status_history(pack_id, id);
INSERT INTO pack_status_history(pack_id, status, at) SELECT id, status, created_at FROM packs;
CREATE TRIGGER pack_status_born AFTER INSERT ON packs BEGIN
    INSERT INTO pack_status_history(pack_id, status, at)
    VALUES (NEW.id, NEW.status, strftime('%Y-%m-%dT%H:%M:%fZ', 'now'));
END;
CREATE TRIGGER pack_status_changed AFTER UPDATE OF status ON packs
WHEN OLD.status IS NOT NEW.status BEGIN
    INSERT INTO pack_status_history(pack_id, status, at)
    VALUES (NEW.id, NEW.status, strftime('%Y-%m-%dT%H:%M:%fZ', 'now'));
END;
"#,
    // 4: labels: every print and reprint of a pack's label, refused and failed ones included. A
    // row is committed as `started` before the job goes out and finished after, so a print cut
    // short never reads as printed. Self-contained: one new table, nothing else changed.
    r#"
CREATE TABLE label_prints(
    id INTEGER PRIMARY KEY,
    pack_id INTEGER NOT NULL REFERENCES packs(id),
    pack_code TEXT NOT NULL,
    started_at TEXT NOT NULL,
    finished_at TEXT,
    station TEXT NOT NULL,
    operator TEXT NOT NULL,
    printer TEXT NOT NULL,
    template_version TEXT NOT NULL,
    reprint INTEGER NOT NULL CHECK (reprint IN (0, 1)),
    outcome TEXT NOT NULL
        CHECK (outcome IN ('started','printed','refused','failed')),
    detail TEXT
);
CREATE INDEX label_prints_by_pack ON label_prints(pack_id, id);
"#,
    // 5: a pack's status history is written by the store, in the transaction of each change,
    // stamped from the store's clock (injected in tests) and with the status as read (a hold,
    // release or scrap included); the triggers stamped SQLite's own time and saw only the
    // line status. Rows already kept stay as they are.
    r#"
DROP TRIGGER IF EXISTS pack_status_born;
DROP TRIGGER IF EXISTS pack_status_changed;
"#,
    // 6: streaming imports. A large import is staged: its cells are inserted in chunks under a
    // batch whose `staged_pid` names the importing process, invisible to every query until one
    // short transaction clears it (publishing them all at once). A batch left staged by a
    // process that died is removed by the next import on the station. `import_line` is the
    // row a cell came from (a duplicate id in a file is named by both of its lines).
    r#"
ALTER TABLE import_batches ADD COLUMN staged_pid INTEGER;
CREATE INDEX import_batches_staged ON import_batches(staged_pid) WHERE staged_pid IS NOT NULL;
ALTER TABLE cells ADD COLUMN import_line INTEGER;
-- Not on status too: reserving a cell (a million in a large commit) must not touch it.
CREATE INDEX cells_by_batch ON cells(batch_id);
-- A profile's text once per distinct text (by its SHA-256), not once per pack: a commit of
-- 62,500 packs wrote 375 MB of the same 6 KB. A pack whose own `profile_toml` is NULL keeps
-- its text here, under its `profile_sha256`.
CREATE TABLE profile_texts(
    sha256 TEXT PRIMARY KEY,
    toml TEXT NOT NULL
);
"#,
    // 7: scan-back: every scan of a pack's label — who, where, when, what the scanner sent, what
    // it read as, and whether it was the pack's code. A refused scan is kept like a good one.
    // Self-contained: one new table, nothing else changed.
    r#"
CREATE TABLE label_scans(
    id INTEGER PRIMARY KEY,
    pack_id INTEGER NOT NULL REFERENCES packs(id),
    pack_code TEXT NOT NULL,
    scanned_at TEXT NOT NULL,
    station TEXT NOT NULL,
    operator TEXT NOT NULL,
    raw TEXT NOT NULL,
    data TEXT NOT NULL,
    symbology TEXT,
    matched INTEGER NOT NULL CHECK (matched IN (0, 1))
);
CREATE INDEX label_scans_by_pack ON label_scans(pack_id, id);
"#,
    // 8 (operators and audit): the audit trail, append-only (triggers refuse UPDATE and
    // DELETE) and hash-chained (`audit::verify`); the operator registry, station tokens and
    // failed logins. Self-contained: new tables only.
    r#"
CREATE TABLE audit_log(
    seq INTEGER PRIMARY KEY,
    at TEXT NOT NULL,
    station TEXT NOT NULL,
    operator TEXT NOT NULL,
    action TEXT NOT NULL,
    subject_kind TEXT NOT NULL,
    subject TEXT NOT NULL,
    old_value TEXT,
    new_value TEXT,
    reason TEXT,
    signature TEXT,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
);
CREATE INDEX audit_log_by_subject ON audit_log(subject_kind, subject, seq);
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log BEGIN
    SELECT RAISE(ABORT, 'the audit trail is append-only: entries are never changed');
END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log BEGIN
    SELECT RAISE(ABORT, 'the audit trail is append-only: entries are never deleted');
END;

CREATE TABLE operators(
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('operator','engineer','quality','admin')),
    badge TEXT NOT NULL UNIQUE,
    pin_hash TEXT NOT NULL,
    active INTEGER NOT NULL DEFAULT 1 CHECK (active IN (0, 1)),
    blocked_until TEXT,
    created_at TEXT NOT NULL
);
CREATE TABLE station_tokens(
    token_hash TEXT PRIMARY KEY,
    operator_id TEXT NOT NULL REFERENCES operators(id),
    station TEXT NOT NULL,
    created_at TEXT NOT NULL,
    revoked_at TEXT
);
CREATE TABLE login_failures(
    id INTEGER PRIMARY KEY,
    at TEXT NOT NULL,
    station TEXT NOT NULL,
    badge TEXT NOT NULL,
    why TEXT NOT NULL
);
CREATE INDEX login_failures_by_badge ON login_failures(badge, id);
"#,
];
