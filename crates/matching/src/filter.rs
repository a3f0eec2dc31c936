//! Spec validation, the hard per-cell filters (each rejection with its reason) and the split
//! into model classes.

use crate::data::{Data, Limits};
use crate::error::MatchError;
use crate::model::{CellInput, MatchSpec, RejectCode, Rejection};
use crate::sort::sort_by_cap;
use std::collections::HashMap;
use std::hash::Hasher;

/// Cells that may share a pack: one chemistry and, unless mixing is allowed, one model.
#[derive(Debug, Clone)]
pub(crate) struct Stratum {
    /// The model as first spelled in the input; `None` for "no model given" or when mixing.
    pub model: Option<String>,
    /// Indices into [`Intake::data`].
    pub cells: Vec<u32>,
}

#[derive(Debug)]
pub(crate) struct Intake {
    pub data: Data,
    pub strata: Vec<Stratum>,
    pub rejected: Vec<Rejection>,
}

/// Checks the spec and returns its multi-cell limits.
pub(crate) fn validate_spec(spec: &MatchSpec) -> Result<Limits, MatchError> {
    let bad = |m: String| Err(MatchError::InvalidSpec(m));
    if spec.series == 0 || spec.parallel == 0 {
        return bad(format!(
            "series and parallel must be at least 1 (got {})",
            spec.shape()
        ));
    }
    if spec
        .series
        .checked_mul(spec.parallel)
        .is_none_or(|n| n > u32::MAX as usize / 4)
    {
        return bad(format!("{} is not a buildable pack shape", spec.shape()));
    }
    if spec.chemistry.trim().is_empty() {
        return bad("the chemistry is empty".into());
    }
    if !spec.capacity_floor_mah.is_finite() || spec.capacity_floor_mah < 0.0 {
        return bad(format!(
            "capacity floor {} mAh must be a number ≥ 0",
            spec.capacity_floor_mah
        ));
    }
    let positive = [
        ("IR ceiling (mΩ)", spec.ir_ceiling_mohm),
        (
            "self-discharge ceiling (mV/day)",
            spec.self_discharge_ceiling_mv_per_day,
        ),
        ("group OCV delta (mV)", spec.max_group_ocv_delta_mv),
        ("group IR spread (mΩ)", spec.max_group_ir_spread_mohm),
        (
            "group capacity spread (%)",
            spec.max_group_capacity_spread_pct,
        ),
    ];
    for (name, v) in positive {
        if let Some(v) = v {
            if !v.is_finite() || v < 0.0 {
                return bad(format!("{name} must be a number ≥ 0 (got {v})"));
            }
        }
    }
    if !(0.0..=1.0).contains(&spec.ir_weight) {
        return bad(format!(
            "ir_weight must be between 0 and 1 (got {})",
            spec.ir_weight
        ));
    }
    for (name, v) in [
        ("balance slack (mAh)", spec.balance_slack_mah),
        ("balance slack (%)", spec.balance_slack_pct),
    ] {
        if let Some(v) = v {
            if !v.is_finite() || v < 0.0 {
                return bad(format!("{name} must be a number ≥ 0 (got {v})"));
            }
        }
    }
    let sl = spec.balance_slack();
    Ok(Limits {
        ocv_mv: spec.max_group_ocv_delta_mv,
        ir_mohm: spec.max_group_ir_spread_mohm,
        range_pct: spec.max_group_capacity_spread_pct,
        slack_mah: sl.mah,
        slack_pct: sl.pct,
        slack_of_bound: sl.of_bound,
    })
}

/// Applies the per-cell hard filters and splits the eligible cells into strata.
pub(crate) fn intake(cells: &[CellInput], spec: &MatchSpec) -> Intake {
    let dup = duplicated_ids(cells);
    // Most inventories are mostly eligible: one allocation per column, not a doubling series
    // of copies (a million cells paid about 15 % of the intake for the regrowth).
    let mut data = Data::with_capacity(cells.len());
    let mut rejected = Vec::new();
    let mut strata: Vec<Stratum> = Vec::new();
    let mut index = ModelIndex::default();
    // Inventories come sorted by model more often than not: remember the last lookup.
    let mut last: Option<(&str, usize)> = None;

    for (i, c) in cells.iter().enumerate() {
        match check(c, spec, dup[i]) {
            Err((code, reason)) => rejected.push(Rejection {
                id: c.id.clone(),
                code,
                reason,
            }),
            Ok(cap) => {
                let model = if spec.allow_mixed_models {
                    ""
                } else {
                    c.model.as_deref().map(str::trim).unwrap_or("")
                };
                let k = match last {
                    Some((m, k)) if m == model => k,
                    _ => {
                        let k = match index.find(model) {
                            Some(k) => k,
                            None => {
                                strata.push(Stratum {
                                    model: (!model.is_empty()).then(|| model.to_string()),
                                    cells: Vec::new(),
                                });
                                index.add(model, strata.len() - 1);
                                strata.len() - 1
                            }
                        };
                        last = Some((model, k));
                        k
                    }
                };
                strata[k].cells.push(data.len() as u32);
                data.cap.push(cap);
                data.ir.push(c.ir_mohm.unwrap_or(f64::NAN));
                data.ocv.push(c.ocv_mv.unwrap_or(f64::NAN));
                data.sd
                    .push(c.self_discharge_mv_per_day.unwrap_or(f64::NAN));
                data.src.push(i as u32);
            }
        }
    }
    // Lay the cells out class by class in capacity order: every later pass walks packs of
    // neighbouring capacities, and contiguous memory makes that several times faster.
    let mut order: Vec<u32> = Vec::with_capacity(data.len());
    for st in strata.iter_mut() {
        sort_by_cap(&mut st.cells, &data.cap);
        let start = order.len() as u32;
        order.extend_from_slice(&st.cells);
        st.cells = (start..order.len() as u32).collect();
    }
    Intake {
        data: data.permuted(&order),
        strata,
        rejected,
    }
}

/// Model name (case-insensitive) → stratum. Inventories hold a handful of models, and a
/// scan then beats hashing a freshly lower-cased string for every cell.
#[derive(Default)]
struct ModelIndex {
    few: Vec<(String, usize)>,
    many: HashMap<String, usize>,
}

impl ModelIndex {
    const SCAN: usize = 16;

    fn find(&self, model: &str) -> Option<usize> {
        if self.many.is_empty() {
            // Exact spelling first (a plain compare): no two entries are equal ignoring case,
            // so an exact hit is the one case-insensitive hit.
            self.few
                .iter()
                .find(|(m, _)| m == model)
                .or_else(|| self.few.iter().find(|(m, _)| m.eq_ignore_ascii_case(model)))
                .map(|&(_, k)| k)
        } else {
            self.many.get(&model.to_ascii_lowercase()).copied()
        }
    }

    fn add(&mut self, model: &str, k: usize) {
        if self.few.len() < Self::SCAN {
            self.few.push((model.to_string(), k));
            return;
        }
        if self.many.is_empty() {
            for (m, k) in &self.few {
                self.many.insert(m.to_ascii_lowercase(), *k);
            }
        }
        self.many.insert(model.to_ascii_lowercase(), k);
    }
}

/// Marks the cells whose id occurs more than once: every copy is rejected, since which
/// record is the real cell cannot be told. Sorting (hash, index) pairs keeps memory access
/// sequential; a hash table of a million ids is dominated by cache misses.
fn duplicated_ids(cells: &[CellInput]) -> Vec<bool> {
    // (32-bit hash << 32 | index), radix-sorted on the hash: equal ids end up adjacent.
    let mut keyed: Vec<u64> = cells
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let mut h = IdHasher::default();
            h.write(c.id.as_bytes());
            (h.finish() & 0xFFFF_FFFF_0000_0000) | i as u64
        })
        .collect();
    radix_sort_high32(&mut keyed);
    let mut dup = vec![false; cells.len()];
    for run in keyed
        .chunk_by(|a, b| a >> 32 == b >> 32)
        .filter(|r| r.len() > 1)
    {
        // Equal hashes: compare the ids themselves.
        for (k, &a) in run.iter().enumerate() {
            for &b in &run[k + 1..] {
                let (a, b) = ((a & 0xFFFF_FFFF) as usize, (b & 0xFFFF_FFFF) as usize);
                if cells[a].id == cells[b].id {
                    dup[a] = true;
                    dup[b] = true;
                }
            }
        }
    }
    dup
}

/// LSD radix sort on the upper 32 bits, 8 bits a pass.
fn radix_sort_high32(v: &mut Vec<u64>) {
    let mut buf = vec![0u64; v.len()];
    for shift in [32, 40, 48, 56] {
        let mut count = [0usize; 257];
        for &x in v.iter() {
            count[((x >> shift) & 0xFF) as usize + 1] += 1;
        }
        for k in 1..257 {
            count[k] += count[k - 1];
        }
        for &x in v.iter() {
            let b = ((x >> shift) & 0xFF) as usize;
            buf[count[b]] = x;
            count[b] += 1;
        }
        std::mem::swap(v, &mut buf);
    }
}

/// The whole-mAh capacity of an eligible cell, or the first reason it is not.
fn check(c: &CellInput, spec: &MatchSpec, duplicated: bool) -> Result<i64, (RejectCode, String)> {
    use RejectCode::*;
    if c.id.trim().is_empty() {
        return Err((EmptyId, "the cell has no id".into()));
    }
    if duplicated {
        return Err((
            DuplicateId,
            format!("id '{}' occurs more than once in the inventory", c.id),
        ));
    }
    if c.chemistry != spec.chemistry
        && !c
            .chemistry
            .trim()
            .eq_ignore_ascii_case(spec.chemistry.trim())
    {
        return Err((
            WrongChemistry,
            format!(
                "chemistry '{}' is not the profile's '{}'",
                c.chemistry, spec.chemistry
            ),
        ));
    }
    let cap = match c.capacity_mah {
        None => return Err((MissingCapacity, "no capacity was measured".into())),
        Some(v) if !v.is_finite() || v <= 0.0 => {
            return Err((
                InvalidMeasurement,
                format!("capacity {v} mAh is not possible"),
            ))
        }
        Some(v) if v > 1e9 => {
            return Err((
                InvalidMeasurement,
                format!("capacity {v} mAh is not possible"),
            ))
        }
        Some(v) => v,
    };
    if cap < spec.capacity_floor_mah {
        return Err((
            BelowCapacityFloor,
            format!(
                "capacity {cap} mAh is below the profile's floor of {} mAh",
                spec.capacity_floor_mah
            ),
        ));
    }
    measured(c.ir_mohm, "IR", "mΩ", true)?;
    measured(c.ocv_mv, "OCV", "mV", true)?;
    measured(
        c.self_discharge_mv_per_day,
        "self-discharge",
        "mV/day",
        false,
    )?;
    if let Some(ceiling) = spec.ir_ceiling_mohm {
        match c.ir_mohm {
            None => {
                return Err((
                    MissingIr,
                    format!("no IR was measured and the profile allows at most {ceiling} mΩ"),
                ))
            }
            Some(ir) if ir > ceiling => {
                return Err((
                    AboveIrCeiling,
                    format!("IR {ir} mΩ is above the profile's ceiling of {ceiling} mΩ"),
                ))
            }
            Some(_) => {}
        }
    }
    if spec.max_group_ir_spread_mohm.is_some() && c.ir_mohm.is_none() {
        return Err((
            MissingIr,
            "no IR was measured and the profile limits the IR spread inside a group".into(),
        ));
    }
    if let Some(ceiling) = spec.self_discharge_ceiling_mv_per_day {
        match c.self_discharge_mv_per_day {
            None => {
                return Err((
                    MissingSelfDischarge,
                    format!(
                        "no self-discharge was measured and the profile allows at most {ceiling} mV/day"
                    ),
                ))
            }
            Some(sd) if sd > ceiling => {
                return Err((
                    AboveSelfDischargeCeiling,
                    format!(
                        "self-discharge {sd} mV/day is above the profile's ceiling of {ceiling} mV/day"
                    ),
                ))
            }
            Some(_) => {}
        }
    }
    if spec.max_group_ocv_delta_mv.is_some() && c.ocv_mv.is_none() {
        return Err((
            MissingOcv,
            "no OCV was measured and the profile limits the OCV difference inside a group".into(),
        ));
    }
    Ok(cap.round() as i64)
}

/// A measurement, when present, must be a finite number (and positive where physics says so).
fn measured(
    v: Option<f64>,
    what: &str,
    unit: &str,
    positive: bool,
) -> Result<(), (RejectCode, String)> {
    match v {
        Some(x) if !x.is_finite() || (positive && x <= 0.0) => Err((
            RejectCode::InvalidMeasurement,
            format!("{what} {x} {unit} is not possible"),
        )),
        _ => Ok(()),
    }
}

/// A multiply-xorshift hash over 8-byte words with a finaliser: id strings are not
/// attacker-chosen here and SipHash would be the single largest cost of matching a million
/// cells. (FxHash, byte by byte over the tail, gave "mixed-models-0000001" … ids upper
/// 32 bits shared by up to 8 ids, 79 % of them in a collision, and the string compares
/// that follow cost a tenth of a million-cell run; this one is at the birthday rate.)
#[derive(Default, Clone, Copy)]
pub(crate) struct IdHasher(u64);

impl Hasher for IdHasher {
    fn write(&mut self, bytes: &[u8]) {
        const K: u64 = 0x9E37_79B9_7F4A_7C15;
        self.0 ^= bytes.len() as u64;
        for c in bytes.chunks(8) {
            let mut w = [0u8; 8];
            w[..c.len()].copy_from_slice(c);
            self.0 = (self.0 ^ u64::from_le_bytes(w)).wrapping_mul(K);
            self.0 ^= self.0 >> 32;
        }
    }

    fn finish(&self) -> u64 {
        // fmix64 (MurmurHash3): ids share long prefixes and the table needs every bit mixed.
        let mut x = self.0;
        x ^= x >> 33;
        x = x.wrapping_mul(0xFF51_AFD7_ED55_8CCD);
        x ^= x >> 33;
        x = x.wrapping_mul(0xC4CE_B9FE_1A85_EC53);
        x ^ (x >> 33)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cell(id: &str, cap: Option<f64>) -> CellInput {
        CellInput {
            id: id.into(),
            capacity_mah: cap,
            ir_mohm: Some(20.0),
            ocv_mv: Some(3600.0),
            self_discharge_mv_per_day: Some(1.0),
            chemistry: "NMC".into(),
            model: Some("A".into()),
        }
    }

    #[test]
    fn each_filter_rejects_with_its_code_and_reason() {
        let mut spec = MatchSpec::new(2, 1, "nmc");
        spec.capacity_floor_mah = 1000.0;
        spec.ir_ceiling_mohm = Some(30.0);
        spec.self_discharge_ceiling_mv_per_day = Some(3.0);
        spec.max_group_ocv_delta_mv = Some(20.0);
        let mut cells = vec![
            cell("ok", Some(2000.0)),
            cell("", Some(2000.0)),
            cell("dup", Some(2000.0)),
            cell("dup", Some(2000.0)),
            cell("nocap", None),
            cell("nan", Some(f64::NAN)),
            cell("low", Some(999.0)),
            cell("hot", Some(2000.0)),
            cell("noir", Some(2000.0)),
            cell("leaky", Some(2000.0)),
            cell("nosd", Some(2000.0)),
            cell("noocv", Some(2000.0)),
            cell("lfp", Some(2000.0)),
            cell("negir", Some(2000.0)),
        ];
        cells[7].ir_mohm = Some(31.0);
        cells[8].ir_mohm = None;
        cells[9].self_discharge_mv_per_day = Some(3.5);
        cells[10].self_discharge_mv_per_day = None;
        cells[11].ocv_mv = None;
        cells[12].chemistry = "LFP".into();
        cells[13].ir_mohm = Some(-1.0);
        let intake = intake(&cells, &spec);
        let got: Vec<(&str, RejectCode)> = intake
            .rejected
            .iter()
            .map(|r| (r.id.as_str(), r.code))
            .collect();
        use RejectCode::*;
        assert_eq!(
            got,
            vec![
                ("", EmptyId),
                ("dup", DuplicateId),
                ("dup", DuplicateId),
                ("nocap", MissingCapacity),
                ("nan", InvalidMeasurement),
                ("low", BelowCapacityFloor),
                ("hot", AboveIrCeiling),
                ("noir", MissingIr),
                ("leaky", AboveSelfDischargeCeiling),
                ("nosd", MissingSelfDischarge),
                ("noocv", MissingOcv),
                ("lfp", WrongChemistry),
                ("negir", InvalidMeasurement),
            ]
        );
        let low = &intake.rejected[5].reason;
        assert!(low.contains("999") && low.contains("1000"), "{low}");
        assert_eq!(intake.data.len(), 1);
        assert_eq!(intake.data.src, vec![0]);
    }

    #[test]
    fn strata_split_by_model_unless_mixing_is_allowed() {
        let mut cells: Vec<CellInput> = (0..6)
            .map(|i| cell(&format!("c{i}"), Some(2000.0 + i as f64)))
            .collect();
        cells[1].model = Some(" a ".into()); // same model, other spelling
        cells[2].model = Some("B".into());
        cells[3].model = None;
        cells[4].model = Some("B".into());
        let spec = MatchSpec::new(2, 1, "NMC");
        let split = intake(&cells, &spec);
        // Each class is a run of the data in capacity order; `src` points back to the input.
        let shape: Vec<(Option<&str>, Vec<u32>)> = split
            .strata
            .iter()
            .map(|s| {
                let src = s
                    .cells
                    .iter()
                    .map(|&c| split.data.src[c as usize])
                    .collect();
                (s.model.as_deref(), src)
            })
            .collect();
        assert_eq!(
            shape,
            vec![
                (Some("A"), vec![0, 1, 5]),
                (Some("B"), vec![2, 4]),
                (None, vec![3]),
            ]
        );
        let mixed = intake(
            &cells,
            &MatchSpec {
                allow_mixed_models: true,
                ..spec
            },
        );
        assert_eq!(mixed.strata.len(), 1);
        assert_eq!(mixed.strata[0].cells.len(), 6);
    }

    #[test]
    fn radix_sort_orders_by_the_high_half_and_keeps_every_value() {
        let mut r = crate::rng::Rng::new(4);
        let mut v: Vec<u64> = (0..5000).map(|_| r.next_u64()).collect();
        let mut expect = v.clone();
        radix_sort_high32(&mut v);
        assert!(v.windows(2).all(|w| w[0] >> 32 <= w[1] >> 32));
        v.sort_unstable();
        expect.sort_unstable();
        assert_eq!(v, expect);
    }

    #[test]
    fn many_models_still_find_their_class() {
        let cells: Vec<CellInput> = (0..100)
            .map(|i| CellInput {
                model: Some(format!("{}M{}", if i % 2 == 0 { "" } else { " " }, i % 40)),
                ..cell(&format!("c{i}"), Some(2000.0))
            })
            .collect();
        let split = intake(&cells, &MatchSpec::new(2, 1, "NMC"));
        assert_eq!(split.strata.len(), 40);
        assert!(split.strata.iter().all(|s| s.cells.len() >= 2));
        let m7 = split
            .strata
            .iter()
            .find(|s| s.model.as_deref() == Some("M7"))
            .expect("M7");
        let srcs: Vec<u32> = m7
            .cells
            .iter()
            .map(|&c| split.data.src[c as usize])
            .collect();
        assert_eq!(srcs, vec![7, 47, 87]);
    }

    #[test]
    fn capacities_round_to_whole_mah() {
        let cells = vec![cell("a", Some(2000.4)), cell("b", Some(2000.6))];
        let intake = intake(&cells, &MatchSpec::new(2, 1, "NMC"));
        assert_eq!(intake.data.cap, vec![2000, 2001]);
    }

    #[test]
    fn bad_specs_are_refused_with_the_field_named() {
        let ok = MatchSpec::new(16, 2, "LFP");
        assert!(validate_spec(&ok).is_ok());
        let cases = [
            (
                MatchSpec {
                    series: 0,
                    ..ok.clone()
                },
                "at least 1",
            ),
            (
                MatchSpec {
                    chemistry: " ".into(),
                    ..ok.clone()
                },
                "chemistry",
            ),
            (
                MatchSpec {
                    capacity_floor_mah: f64::NAN,
                    ..ok.clone()
                },
                "floor",
            ),
            (
                MatchSpec {
                    ir_ceiling_mohm: Some(-1.0),
                    ..ok.clone()
                },
                "IR ceiling",
            ),
            (
                MatchSpec {
                    ir_weight: 1.5,
                    ..ok.clone()
                },
                "ir_weight",
            ),
            (
                MatchSpec {
                    series: usize::MAX,
                    ..ok.clone()
                },
                "buildable",
            ),
        ];
        for (spec, needle) in cases {
            let err = validate_spec(&spec).unwrap_err().to_string();
            assert!(err.contains(needle), "{err} should mention {needle}");
        }
    }
}
