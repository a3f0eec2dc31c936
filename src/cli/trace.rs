//! `packwright trace CODE [--json] [--passport]`: the lineage of a pack, a source module or a
//! cell, from whichever end the code names.

use super::{input_error, print_json, Context, EXIT_OK};
use crate::eol::process_alive;
use crate::trace::{self, CellLineage, Lineage, PackLineage, Passport, SourceLineage};
use anyhow::Context as _;
use clap::Args;

#[derive(Debug, Args)]
pub struct TraceArgs {
    /// A pack code (or `#id`), a source module/pack code, or a cell id
    pub code: String,
    #[arg(long)]
    pub json: bool,
    /// Only the battery-passport fields of a pack, as JSON, with the Battery Pass-shaped
    /// passport (`batteryPass`: general product information, performance and durability, the
    /// original modules' identifiers)
    #[arg(long, conflicts_with = "json")]
    pub passport: bool,
    /// The plant's own passport data (manufacturer, place, category, warranty, passport
    /// namespace), a TOML file; see README
    #[arg(long, requires = "passport", value_name = "FILE")]
    pub plant: Option<std::path::PathBuf>,
    /// When the battery was put into service (RFC 3339), once it has been
    #[arg(long, requires = "passport", value_name = "TIME")]
    pub in_service: Option<String>,
}

pub fn run(args: TraceArgs, ctx: &Context) -> anyhow::Result<u8> {
    let mut store = ctx.open_existing_store()?;
    // Runs left `running` by a killed process show as what they are.
    store.abort_orphaned_eol_runs(&ctx.actor.station, &process_alive)?;
    let lineage = trace::lineage(&*store, &args.code)?
        .with_context(|| {
            format!(
                "'{}' is no pack code, pack number, source code or cell id in {}",
                args.code,
                ctx.db.display()
            )
        })
        .map_err(input_error)?;
    if args.passport {
        let Lineage::Pack(p) = &lineage else {
            return Err(input_error(anyhow::anyhow!(
                "'{}' is not a pack: a passport describes a pack",
                args.code
            )));
        };
        let plant = match &args.plant {
            Some(path) => Some(
                std::fs::read_to_string(path)
                    .map_err(|e| {
                        anyhow::anyhow!("cannot read the plant file {}: {e}", path.display())
                    })
                    .and_then(|text| {
                        crate::passport::Plant::parse(&text).map_err(|e| {
                            anyhow::anyhow!("the plant file {} is not usable: {e}", path.display())
                        })
                    })
                    .map_err(input_error)?,
            ),
            None => None,
        };
        if let Some(t) = &args.in_service {
            if chrono::DateTime::parse_from_rfc3339(t).is_err() {
                return Err(input_error(anyhow::anyhow!(
                    "--in-service '{t}' is not an RFC 3339 time (e.g. 2027-03-01T09:00:00Z)"
                )));
            }
        }
        let measured = match p.passport.eol_run_id {
            Some(run) => trace::run_numbers(&*store, run)?,
            None => Default::default(),
        };
        let profile = crate::services::packs::profile_of(&*store, &store_pack(&*store, p)?).ok();
        let label = crate::passport::LabelProof {
            printed: store
                .label_prints(p.pack.id)?
                .into_iter()
                .rev()
                .find(|l| l.outcome == crate::store::LabelOutcome::Printed)
                .map(|l| {
                    (
                        l.finished_at.unwrap_or(l.started_at),
                        l.printer,
                        l.template_version,
                    )
                }),
            scanned_back: store
                .label_scans(p.pack.id)?
                .into_iter()
                .rev()
                .find(|s| s.matched)
                .map(|s| (s.scanned_at, s.data, s.station)),
        };
        let battery_pass = crate::passport::battery_passport(&crate::passport::PassportInput {
            lineage: p,
            profile: profile.as_ref(),
            plant: plant.as_ref(),
            measured: &measured,
            in_service: args.in_service.as_deref(),
            label: &label,
        });
        let mut doc = serde_json::to_value(&p.passport)?;
        if let serde_json::Value::Object(m) = &mut doc {
            m.insert("batteryPass".into(), battery_pass);
        }
        print_json("passport", &doc)?;
    } else if args.json {
        print_json("trace", &lineage)?;
    } else {
        match &lineage {
            Lineage::Pack(p) => print_pack(p),
            Lineage::Source(s) => print_source(s),
            Lineage::Cell(c) => print_cell(c),
        }
    }
    Ok(EXIT_OK)
}

/// The pack record behind a lineage, as the services know it.
fn store_pack(
    store: &dyn crate::store::LineStore,
    l: &PackLineage,
) -> anyhow::Result<crate::domain::Pack> {
    store
        .get_pack(l.pack.id)?
        .ok_or_else(|| anyhow::anyhow!("pack #{} is gone", l.pack.id))
}

fn opt<T: std::fmt::Display>(v: &Option<T>) -> String {
    v.as_ref().map_or_else(|| "-".to_string(), T::to_string)
}

fn num(v: Option<f64>, scale: f64, decimals: usize) -> String {
    v.map_or_else(|| "-".to_string(), |v| format!("{:.decimals$}", v * scale))
}

fn print_pack(l: &PackLineage) {
    let p = &l.pack;
    println!(
        "pack {} (#{}), profile {}, status {}",
        opt(&p.code),
        p.id,
        p.profile,
        p.status
    );
    if let Some(note) = &p.status_note {
        println!("  {}: {note}", p.status.to_uppercase().replace('_', " "));
    }
    println!(
        "  matched {} by {} at {}; assembled {}",
        p.created_at,
        p.operator,
        p.station,
        opt(&p.assembled_at)
    );
    println!("cells ({}), in series order:", l.cells.len());
    println!(
        "  {:<7} {:<14} {:<16} {:>9} {:>8} {:>6}  graded from",
        "slot", "cell", "source", "cap Ah", "IR mΩ", "grade"
    );
    for c in &l.cells {
        let g = c.grading.as_ref();
        println!(
            "  {:<7} {:<14} {:<16} {:>9} {:>8} {:>6}  {} {}",
            c.position,
            c.link.cell_id,
            opt(&c.link.source_code),
            num(g.and_then(|g| g.capacity_mah), 0.001, 3),
            num(g.and_then(|g| g.ir_mohm), 1.0, 3),
            g.and_then(|g| g.grade.clone())
                .unwrap_or_else(|| "-".into()),
            opt(&c.link.graded_from_file),
            opt(&c.link.imported_at),
        );
    }
    println!(
        "sources: {}",
        l.sources
            .iter()
            .map(|s| format!("{} ({} cells)", s.source_code, s.cells))
            .collect::<Vec<_>>()
            .join(", ")
    );
    if l.bms_writes.is_empty() {
        println!("BMS configuration writes: none");
    } else {
        println!("BMS configuration writes:");
        for r in &l.bms_writes {
            let w = &r.write;
            println!(
                "  #{} {} {:<9} {} {} {} by {} at {} ({} fields, {} failed){}",
                w.id,
                w.started_at,
                w.outcome,
                w.protocol,
                w.port,
                opt(&w.bms_identity),
                w.operator,
                w.station,
                r.fields,
                r.fields_failed,
                w.detail
                    .as_ref()
                    .map(|d| format!(": {d}"))
                    .unwrap_or_default()
            );
        }
    }
    if l.eol_runs.is_empty() {
        println!("end-of-line runs: none");
    } else {
        println!("end-of-line runs:");
        for r in &l.eol_runs {
            println!(
                "  #{} {} {:<8} plan {} by {} at {} over {}{}",
                r.id,
                r.started_at,
                r.outcome,
                r.plan_version,
                r.operator,
                r.station,
                r.transport,
                r.reason
                    .as_ref()
                    .map(|d| format!(": {d}"))
                    .unwrap_or_default()
            );
        }
    }
    print_changes(&l.state_changes);
    print_passport(&l.passport);
}

fn print_changes(changes: &[crate::store::StateChange]) {
    if changes.is_empty() {
        return;
    }
    println!("state changes:");
    for c in changes {
        println!(
            "  {} {:<13} {}{}{}{} by {} at {}",
            c.at,
            c.verb,
            c.cell_id
                .as_ref()
                .map(|id| format!("cell {id} "))
                .unwrap_or_default(),
            match (&c.from_status, &c.to_status) {
                (Some(f), Some(t)) => format!("{f} -> {t}"),
                _ => String::new(),
            },
            c.reason
                .as_ref()
                .map(|r| format!(": {r}"))
                .unwrap_or_default(),
            c.detail
                .as_ref()
                .map(|d| format!(" ({d})"))
                .unwrap_or_default(),
            c.operator,
            c.station
        );
    }
}

fn print_passport(p: &Passport) {
    println!("passport ({}):", p.battery_status);
    if let Some(why) = &p.on_hold {
        println!("  ON HOLD: {why}; not to be exported as good");
    }
    println!(
        "  {} {}, {} cells, nominal {} V, rated {} Ah / {} kWh",
        opt(&p.chemistry),
        opt(&p.configuration),
        p.cell_count,
        num(p.nominal_voltage_v, 1.0, 1),
        num(p.rated_capacity_ah, 1.0, 1),
        num(p.rated_energy_kwh, 1.0, 2)
    );
    println!(
        "  measured capacity {} Ah, state of health {} %, cell IR mean {} mΩ, max {} mΩ",
        num(p.measured_capacity_ah, 1.0, 3),
        num(p.state_of_health_pct, 1.0, 1),
        num(p.cell_ir_mean_mohm, 1.0, 3),
        num(p.cell_ir_max_mohm, 1.0, 3)
    );
    println!(
        "  end-of-line verdict {} (run {}, {})",
        opt(&p.eol_outcome),
        opt(&p.eol_run_id),
        opt(&p.eol_tested_at)
    );
    for gap in &p.gaps {
        println!("  gap: {gap}");
    }
}

fn print_source(s: &SourceLineage) {
    let in_packs: usize = s.packs.iter().map(|p| p.cells.len()).sum();
    println!(
        "source {}: {} cells in {} pack{}, {} in no pack",
        s.source_code,
        in_packs,
        s.packs.len(),
        if s.packs.len() == 1 { "" } else { "s" },
        s.unpacked.len()
    );
    for p in &s.packs {
        println!(
            "  pack {} (#{}, {}, {}, last EOL {}): {}",
            opt(&p.code),
            p.pack_id,
            p.profile,
            p.status,
            opt(&p.latest_eol),
            p.cells.join(", ")
        );
    }
    if !s.unpacked.is_empty() {
        println!(
            "  in no pack: {}",
            s.unpacked
                .iter()
                .map(|c| format!("{} ({})", c.cell_id, c.cell_status))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
}

fn print_cell(c: &CellLineage) {
    let cell = &c.cell;
    println!(
        "cell {} ({}, {}), status {}{}",
        cell.id,
        cell.chemistry,
        opt(&cell.model),
        cell.status,
        cell.status_reason
            .as_ref()
            .map(|r| format!(": {r}"))
            .unwrap_or_default()
    );
    println!("  source {}", opt(&cell.source_code));
    println!(
        "  graded: {} mAh, {} mΩ, OCV {} mV, self-discharge {} mV/day, grade {}; from {} at {}",
        num(cell.capacity_mah, 1.0, 0),
        num(cell.ir_mohm, 1.0, 3),
        num(cell.ocv_mv, 1.0, 0),
        num(cell.self_discharge_mv_per_day, 1.0, 2),
        opt(&cell.grade),
        opt(&c.graded_from_file),
        opt(&c.imported_at)
    );
    match &c.pack {
        Some(p) => println!(
            "  in pack {} (#{}, {}) at {}",
            opt(&p.code),
            p.id,
            p.status,
            opt(&c.position)
        ),
        None => println!("  in no pack"),
    }
    print_changes(&c.state_changes);
}
