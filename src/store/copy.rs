//! `db copy`: a station's SQLite file into the line database, in one transaction, verified.
//!
//! Every row keeps its id, so a pack is the same `#n` on the line as it was on the station and
//! every reference between records holds. A row already there with the same key is left alone
//! (a second copy of the same file adds nothing: idempotent). Then each table is read back from
//! both sides and compared by row count and a SHA-256 over its rows in key order; any
//! difference (the line database held other records under the same ids, say) rolls the whole
//! copy back and names the table. The file's own status history is copied as it is (the
//! store writes that history, no trigger). The audit trail is copied entry for entry, hash
//! chain included, so `audit verify` on the line database checks the station's history too; a
//! line database whose trail already holds other entries refuses the copy (the numbers clash).

use super::pg::PgStore;
use super::{Result, Store, StoreError};
use postgres::types::{ToSql, Type};
use sha2::{Digest, Sha256};
use std::path::Path;

/// The tables copied, parents first, each with the key its rows are ordered by. `rowid`
/// tables have no id column in the file; the file's rowid becomes their id.
const TABLES: &[(&str, &str, bool)] = &[
    ("import_batches", "id", false),
    ("profile_texts", "sha256", false),
    ("cells", "id", false),
    ("packs", "id", false),
    ("pack_cells", "cell_id", false),
    ("bms_writes", "id", false),
    ("bms_write_fields", "id", true),
    ("eol_runs", "id", false),
    ("eol_measurements", "id", false),
    ("events", "id", false),
    ("console_state", "key", false),
    ("state_changes", "id", false),
    ("pack_cell_history", "id", true),
    ("board_journal", "id", false),
    ("pack_status_history", "id", false),
    ("label_prints", "id", false),
    ("label_scans", "id", false),
    ("operators", "id", false),
    ("station_tokens", "token_hash", false),
    ("login_failures", "id", false),
    // The station's chain as it is, entry for entry: on a line database whose trail already
    // holds other entries under the same numbers the copy is refused (one chain per database).
    ("audit_log", "seq", false),
];

/// One value, the same whichever database it came from.
#[derive(Debug, Clone, PartialEq)]
enum V {
    Null,
    Int(i64),
    Real(f64),
    Text(String),
}

impl V {
    fn digest(&self, h: &mut Sha256) {
        match self {
            V::Null => h.update(b"N"),
            V::Int(i) => h.update(format!("I{i}")),
            V::Real(r) => h.update(format!("R{r:?}")),
            V::Text(t) => h.update(format!("T{}:{t}", t.len())),
        }
        h.update(b"\x1f");
    }
}

/// What was copied of one table and how it compared.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct TableCopy {
    pub table: String,
    pub rows: usize,
    /// Rows this copy added (the rest were there already).
    pub inserted: u64,
    pub sha256: String,
}

fn checksum(rows: &[Vec<V>]) -> String {
    let mut h = Sha256::new();
    for row in rows {
        for v in row {
            v.digest(&mut h);
        }
        h.update(b"\x1e");
    }
    format!("{:x}", h.finalize())
}

/// The file's columns of `table` (a rowid table's rowid first, as `id`).
fn file_columns(file: &Store, table: &str, rowid: bool) -> Result<Vec<String>> {
    let mut cols: Vec<String> = file
        .conn()
        .prepare(&format!("PRAGMA table_info({table})"))?
        .query_map([], |r| r.get::<_, String>(1))?
        .collect::<rusqlite::Result<_>>()?;
    if rowid {
        cols.insert(0, "id".to_string());
    }
    Ok(cols)
}

fn file_rows(
    file: &Store,
    table: &str,
    key: &str,
    rowid: bool,
    cols: &[String],
) -> Result<Vec<Vec<V>>> {
    let select: Vec<String> = cols
        .iter()
        .map(|c| {
            if rowid && c == "id" {
                "rowid".to_string()
            } else {
                format!("\"{c}\"")
            }
        })
        .collect();
    let order = if rowid { "rowid" } else { key };
    let mut stmt = file.conn().prepare(&format!(
        "SELECT {} FROM {table} ORDER BY {order}",
        select.join(", ")
    ))?;
    let n = cols.len();
    let rows = stmt
        .query_map([], |r| {
            (0..n)
                .map(|i| {
                    Ok(match r.get_ref(i)? {
                        rusqlite::types::ValueRef::Null => V::Null,
                        rusqlite::types::ValueRef::Integer(i) => V::Int(i),
                        rusqlite::types::ValueRef::Real(f) => V::Real(f),
                        rusqlite::types::ValueRef::Text(t) => {
                            V::Text(String::from_utf8_lossy(t).into_owned())
                        }
                        rusqlite::types::ValueRef::Blob(b) => {
                            V::Text(String::from_utf8_lossy(b).into_owned())
                        }
                    })
                })
                .collect::<rusqlite::Result<Vec<V>>>()
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(rows)
}

/// The line database's rows of `table` under the keys the file's `file` rows have.
fn line_rows(
    tx: &mut postgres::Transaction<'_>,
    table: &str,
    key: &str,
    cols: &[String],
    file: &[Vec<V>],
) -> Result<Vec<Vec<V>>> {
    if file.is_empty() {
        return Ok(Vec::new());
    }
    let quoted: Vec<String> = cols.iter().map(|c| format!("\"{c}\"")).collect();
    let at = cols.iter().position(|c| c == key).unwrap_or(0);
    let ints: Vec<i64> = file
        .iter()
        .filter_map(|r| match r.get(at) {
            Some(V::Int(i)) => Some(*i),
            _ => None,
        })
        .collect();
    let texts: Vec<String> = file
        .iter()
        .filter_map(|r| match r.get(at) {
            Some(V::Text(t)) => Some(t.clone()),
            _ => None,
        })
        .collect();
    let sql = format!(
        "SELECT {} FROM {table} WHERE \"{key}\" = ANY($1) ORDER BY \"{key}\"",
        quoted.join(", ")
    );
    let rows = if texts.is_empty() {
        tx.query(&sql, &[&ints])?
    } else {
        tx.query(&sql, &[&texts])?
    };
    rows.iter()
        .map(|r| {
            (0..cols.len())
                .map(|i| {
                    let ty = r.columns()[i].type_().clone();
                    Ok(if ty == Type::INT8 {
                        r.try_get::<_, Option<i64>>(i)?.map_or(V::Null, V::Int)
                    } else if ty == Type::FLOAT8 {
                        r.try_get::<_, Option<f64>>(i)?.map_or(V::Null, V::Real)
                    } else if ty == Type::BOOL {
                        r.try_get::<_, Option<bool>>(i)?
                            .map_or(V::Null, |b| V::Int(i64::from(b)))
                    } else {
                        r.try_get::<_, Option<String>>(i)?.map_or(V::Null, V::Text)
                    })
                })
                .collect()
        })
        .collect()
}

/// A file value as the parameter the line database's column wants.
fn param(v: &V, ty: &Type) -> Box<dyn ToSql + Sync> {
    match v {
        V::Null if *ty == Type::INT8 => Box::new(None::<i64>),
        V::Null if *ty == Type::FLOAT8 => Box::new(None::<f64>),
        V::Null if *ty == Type::BOOL => Box::new(None::<bool>),
        V::Null => Box::new(None::<String>),
        V::Int(i) if *ty == Type::BOOL => Box::new(*i != 0),
        V::Int(i) if *ty == Type::FLOAT8 => Box::new(*i as f64),
        V::Int(i) if *ty == Type::TEXT => Box::new(i.to_string()),
        V::Int(i) => Box::new(*i),
        V::Real(f) if *ty == Type::TEXT => Box::new(f.to_string()),
        V::Real(f) => Box::new(*f),
        V::Text(t) => Box::new(t.clone()),
    }
}

impl PgStore {
    /// Copy every record of the SQLite file `from` into this line database (see the module's
    /// note); what each table holds afterwards. Nothing is kept unless every table compares
    /// equal.
    pub fn copy_from_file(&self, from: &Path) -> Result<Vec<TableCopy>> {
        let file = Store::open_existing(from)?;
        let mut tables = Vec::new();
        for (table, key, rowid) in TABLES {
            let cols = file_columns(&file, table, *rowid)?;
            let rows = file_rows(&file, table, key, *rowid, &cols)?;
            tables.push((*table, *key, cols, rows));
        }
        self.tx(|tx| {
            tx.batch_execute("ALTER TABLE packs DISABLE TRIGGER USER")?;
            let mut report = Vec::new();
            for (table, key, cols, rows) in &tables {
                let quoted: Vec<String> = cols.iter().map(|c| format!("\"{c}\"")).collect();
                let marks: Vec<String> = (1..=cols.len()).map(|i| format!("${i}")).collect();
                let insert = tx
                    .prepare(&format!(
                        "INSERT INTO {table}({}) VALUES ({}) ON CONFLICT DO NOTHING",
                        quoted.join(", "),
                        marks.join(", ")
                    ))
                    .map_err(|e| {
                        StoreError::Conflict(format!(
                            "table {table} of {} does not fit the line database: {}",
                            from.display(),
                            super::pg_message(&e)
                        ))
                    })?;
                let types = insert.params().to_vec();
                let mut inserted = 0;
                for row in rows {
                    let params: Vec<Box<dyn ToSql + Sync>> =
                        row.iter().zip(&types).map(|(v, t)| param(v, t)).collect();
                    let refs: Vec<&(dyn ToSql + Sync)> =
                        params.iter().map(|p| p.as_ref()).collect();
                    inserted += tx.execute(&insert, &refs)?;
                }
                // Numbered tables continue after the copied ids (a cell's and an operator's
                // id is its own).
                if *key == "id" && !matches!(*table, "cells" | "operators") {
                    tx.execute(
                        &format!(
                            "SELECT setval(pg_get_serial_sequence('{table}', 'id'),
                                           COALESCE((SELECT MAX(id) FROM {table}), 0) + 1, false)"
                        ),
                        &[],
                    )?;
                }
                let there = line_rows(tx, table, key, cols, rows)?;
                let (want, got) = (checksum(rows), checksum(&there));
                if there.len() != rows.len() || want != got {
                    return Err(StoreError::Conflict(format!(
                        "table {table}: the file has {} rows (sha256 {want}), the line database \
                         {} (sha256 {got}) after the copy: it holds other records under the same \
                         keys; nothing was copied",
                        rows.len(),
                        there.len()
                    )));
                }
                report.push(TableCopy {
                    table: table.to_string(),
                    rows: rows.len(),
                    inserted,
                    sha256: want,
                });
            }
            tx.batch_execute("ALTER TABLE packs ENABLE TRIGGER USER")?;
            Ok(report)
        })
    }
}
