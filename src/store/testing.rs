//! Shared setup for the store's own tests (and the services' tests that need a pack).

use super::prelude::*;
use super::{Actor, NewPack, Store};
use crate::chemistry::Chemistry;
use crate::intake::{parse_csv, IntakeDefaults};

pub fn actor() -> Actor {
    Actor {
        station: "st1".into(),
        operator: "ann".into(),
    }
}

/// A store with one matched pack (profile `p`) of two cells `a` and `b` from source module
/// `M1`; returns the store and the pack's id.
pub fn store_with_pack() -> (Store, i64) {
    let mut store = Store::in_memory().unwrap();
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
    (store, ids[0])
}

/// Place every cell of `pack` and finish its assembly under `code`.
pub fn assemble(store: &mut Store, pack: i64, code: &str) {
    let cells: Vec<String> = store.get_pack(pack).unwrap().unwrap().groups.concat();
    for cell in &cells {
        store.mark_cell_placed(pack, cell).unwrap();
    }
    store.complete_assembly(&actor(), pack, code).unwrap();
}
