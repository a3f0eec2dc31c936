//! Shared setup for the store's own tests (and the services' tests that need a pack).

use super::prelude::*;
use super::{Actor, DynStore, NewPack, PgStore, Store};
use crate::chemistry::Chemistry;
use crate::intake::{parse_csv, IntakeDefaults};

pub fn actor() -> Actor {
    Actor {
        station: "st1".into(),
        operator: "ann".into(),
    }
}

/// The run's throw-away PostgreSQL cluster, shared with the integration tests.
#[path = "../../tests/it/support/pg.rs"]
pub mod pg_cluster;

/// An empty store of each backend, named: a private SQLite database, and a fresh database on
/// the test run's PostgreSQL server. Store-level tests run their one body on both.
pub fn backends() -> Vec<(&'static str, DynStore)> {
    vec![
        ("sqlite", Box::new(Store::in_memory().unwrap())),
        (
            "postgres",
            Box::new(PgStore::connect(&pg_cluster::fresh_db()).unwrap()),
        ),
    ]
}

/// Run `body` on an empty store of each backend; a failure names the backend.
pub fn each_backend(body: impl Fn(&mut dyn LineStore)) {
    for (name, mut store) in backends() {
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| body(&mut *store)));
        if let Err(e) = outcome {
            eprintln!("-- on the {name} backend");
            std::panic::resume_unwind(e);
        }
    }
}

/// Run `body` on a store of each backend holding the pack of [`store_with_pack`].
pub fn each_backend_with_pack(body: impl Fn(&mut dyn LineStore, i64)) {
    each_backend(|store| {
        let pack = add_pack(store);
        body(store, pack)
    })
}

/// A store with one matched pack (profile `p`) of two cells `a` and `b` from source module
/// `M1`; returns the store and the pack's id.
pub fn store_with_pack() -> (Store, i64) {
    let mut store = Store::in_memory().unwrap();
    let pack = add_pack(&mut store);
    (store, pack)
}

/// Import cells `a` and `b` (source `M1`) and commit them as one matched pack; its id.
pub fn add_pack(store: &mut dyn LineStore) -> i64 {
    let d = IntakeDefaults {
        chemistry: Some(Chemistry::Lfp),
        source_code: Some("M1".into()),
        ..Default::default()
    };
    let cells = parse_csv("a.csv", "id,capacity_mah\na,1000\nb,1000\n", &d).unwrap();
    store.import_cells(&actor(), "a.csv", &cells).unwrap();
    let ids = store
        .commit_packs(
            &actor(),
            "p",
            &[NewPack {
                groups: vec![vec!["a".into()], vec!["b".into()]],
                metrics_json: "{}".into(),
            }],
        )
        .unwrap();
    ids[0]
}

/// Place every cell of `pack` and finish its assembly under `code`.
pub fn assemble(store: &mut dyn LineStore, pack: i64, code: &str) {
    let cells: Vec<String> = store.get_pack(pack).unwrap().unwrap().groups.concat();
    for cell in &cells {
        store.mark_cell_placed(pack, cell).unwrap();
    }
    store.complete_assembly(&actor(), pack, code).unwrap();
}
