//! Pack labels, once for both faces: which pack may have a label (a coded pack, assembled or
//! later, not scrapped or released), what the label says (from the pack's records, the same
//! figures as its passport), and the print itself — logged as started before the job goes
//! out and finished with its outcome, so a failed print never marks the label printed.

use super::{PackKey, Result, ServiceError, Station};
use crate::domain::Pack;
use crate::label::printer::{self, PrintError, PrintReport, PrinterTarget};
use crate::label::{self, LabelFields, LabelTemplate};
use crate::store::prelude::*;
use crate::store::{LabelOutcome, NewLabelPrint, NewLabelScan};
use serde::Serialize;

/// A pack's label, rendered.
#[derive(Debug, Clone, Serialize)]
pub struct Label {
    pub pack_id: i64,
    pub pack_code: String,
    pub template: LabelTemplate,
    pub fields: LabelFields,
    /// The ZPL II job.
    pub zpl: String,
}

/// A label that was printed.
#[derive(Debug, Clone, Serialize)]
pub struct Printed {
    pub print_id: i64,
    pub printer: String,
    /// Whether a label of this pack had been printed before.
    pub reprint: bool,
    pub template_version: String,
    pub report: PrintReport,
}

/// The template for a label: the profile's `[label]`, else the default.
fn template_for(profile: &crate::profile::Profile) -> LabelTemplate {
    profile
        .label
        .as_ref()
        .map_or_else(LabelTemplate::default, |l| l.template())
}

/// The pack's code, when it may have a label.
fn labelable(pack: &Pack) -> Result<String> {
    let refuse = |why: String| {
        Err(ServiceError::Refused(format!(
            "pack {} gets no label: {why}",
            pack.label()
        )))
    };
    if !pack.status.is_built() {
        return refuse(format!(
            "it is {}; a label is printed for an assembled pack",
            pack.status
        ));
    }
    match &pack.code {
        Some(code) if !code.trim().is_empty() => Ok(code.clone()),
        _ => refuse("it has no pack code".into()),
    }
}

/// The local date of a stored time (RFC 3339), as the line's days are counted; the text's
/// own date when it does not parse.
fn local_date(stamp: &str) -> String {
    chrono::DateTime::parse_from_rfc3339(stamp).map_or_else(
        |_| stamp.get(..10).unwrap_or(stamp).to_string(),
        |t| {
            t.with_timezone(&chrono::Local)
                .format("%Y-%m-%d")
                .to_string()
        },
    )
}

/// Render the label of the pack `key` names, as printed at `station_name`.
pub fn render(store: &dyn LineStore, key: &PackKey, station_name: &str) -> Result<Label> {
    let pack = match key {
        PackKey::Id(id) => store.get_pack(*id)?,
        PackKey::Text(text) => store.find_pack(text)?,
    }
    .ok_or_else(|| ServiceError::NotFound(format!("no pack '{key}'")))?;
    let code = labelable(&pack)?;
    // The profile kept with the pack: its template and ratings.
    let profile = super::packs::profile_of(store, &pack)?;
    let lineage = crate::trace::pack_lineage(store, pack.id)?
        .ok_or_else(|| ServiceError::NotFound(format!("no pack '{key}'")))?;
    let p = &lineage.passport;
    let fields = LabelFields {
        pack_code: code.clone(),
        chemistry: p.chemistry.map(|c| c.to_string()),
        configuration: p.configuration.clone(),
        nominal_voltage_v: p.nominal_voltage_v,
        rated_capacity_ah: p.rated_capacity_ah,
        measured_capacity_ah: p.measured_capacity_ah,
        state_of_health_pct: p.state_of_health_pct,
        pack_resistance_mohm: p.pack_resistance_mohm,
        energy_kwh: p.rated_energy_kwh,
        production_date: p.assembled_at.as_deref().map(local_date),
        station: station_name.to_string(),
        source_modules: p.source_codes.len(),
    };
    let template = template_for(&profile);
    let zpl = label::render(&template, &fields).map_err(|e| {
        ServiceError::Refused(format!("the label of pack {code} cannot be laid out: {e}"))
    })?;
    Ok(Label {
        pack_id: pack.id,
        pack_code: code,
        template,
        fields,
        zpl,
    })
}

/// Render, print and log the label of the pack `key` names on `target`. A refusal by the
/// printer or a failed hand-over is logged as such and returned as a device error.
pub fn print(station: &Station, key: &PackKey, target: &PrinterTarget) -> Result<(Label, Printed)> {
    let mut store = station.open()?;
    super::authority::require(&*store, &station.actor, super::authority::Action::Label)?;
    let label = render(&*store, key, &station.actor.station)?;
    let printer_name = target.to_string();
    let id = store.begin_label_print(
        &station.actor,
        &NewLabelPrint {
            pack_id: label.pack_id,
            pack_code: &label.pack_code,
            printer: &printer_name,
            template_version: &label.template.version,
        },
    )?;
    match printer::print(target, label.zpl.as_bytes(), printer::TIMEOUT) {
        Ok(report) => {
            store.finish_label_print(id, LabelOutcome::Printed, None)?;
            let reprint = store
                .label_prints(label.pack_id)?
                .iter()
                .find(|p| p.id == id)
                .is_some_and(|p| p.reprint);
            let printed = Printed {
                print_id: id,
                printer: printer_name,
                reprint,
                template_version: label.template.version.clone(),
                report,
            };
            Ok((label, printed))
        }
        Err(e) => {
            let outcome = match e {
                PrintError::NotReady { .. } => LabelOutcome::Refused,
                PrintError::AfterJob { .. } | PrintError::Io(_) => LabelOutcome::Failed,
            };
            store.finish_label_print(id, outcome, Some(&e.to_string()))?;
            Err(ServiceError::Device(format!(
                "the label of pack {} was not printed: {e}",
                label.pack_code
            )))
        }
    }
}

/// A scan-back: what was scanned on the pack, and whether it is the pack's label.
#[derive(Debug, Clone, Serialize)]
pub struct Verified {
    pub pack_id: i64,
    pub pack_code: String,
    /// As recorded (who, when, where, what the scanner sent and what it read as).
    pub scan: crate::store::LabelScan,
    /// The symbology in words, when the scanner said.
    pub symbology_name: Option<&'static str>,
}

impl Verified {
    pub fn matched(&self) -> bool {
        self.scan.matched
    }

    /// The loud refusal of a scan that is not the pack's code, saying what to do; `None` when
    /// it matched.
    pub fn refusal(&self) -> Option<String> {
        if self.scan.matched {
            return None;
        }
        let read = if self.scan.data.is_empty() {
            "nothing".to_string()
        } else {
            format!("'{}'", label::scan::show(&self.scan.data))
        };
        Some(format!(
            "WRONG LABEL: the label scanned on pack {code} reads {read}, not {code}. Take that \
             label off, print this pack's label (label print {code}) and scan it again; the \
             refused scan is recorded (scan {id}).",
            code = self.pack_code,
            id = self.scan.id,
        ))
    }
}

/// The QR code's resolver URL of `pack_code` under `profile`'s template, if it has one.
fn qr_url(profile: &crate::profile::Profile, pack_code: &str) -> Option<String> {
    let template = template_for(profile);
    match template.qr {
        label::QrContent::Url(_) => label::zpl::qr_data(&template, pack_code).ok(),
        label::QrContent::Code => None,
    }
}

/// Scan-back: `raw` (what the scanner typed; an AIM prefix or GS1 separators are taken off)
/// scanned from the label on the pack `key` names, compared with the pack's code (or the
/// resolver URL its QR code carries) and recorded, matched or not. A scan that is not the
/// pack's code is returned with `matched() == false`; the faces refuse it loudly.
pub fn verify(station: &Station, key: &PackKey, raw: &str) -> Result<Verified> {
    verify_in(&mut *station.open()?, &station.actor, key, raw)
}

/// [`verify`] on an open store (the console's store thread), recorded as `actor`.
pub fn verify_in(
    store: &mut dyn LineStore,
    actor: &crate::store::Actor,
    key: &PackKey,
    raw: &str,
) -> Result<Verified> {
    let (pack, profile) = super::pack_and_profile(store, key)?;
    let code = labelable(&pack)?;
    let scan = label::scan::normalise(raw);
    let matched = label::scan::matches(&scan, &code, qr_url(&profile, &code).as_deref());
    let stored = store.record_label_scan(
        actor,
        &NewLabelScan {
            pack_id: pack.id,
            pack_code: &code,
            raw,
            data: &scan.data,
            symbology: scan.symbology.as_deref(),
            matched,
        },
    )?;
    Ok(Verified {
        pack_id: pack.id,
        pack_code: code,
        symbology_name: scan.symbology_name(),
        scan: stored,
    })
}

/// When `profile`'s plan requires a scan-back, the refusal of a pack whose label was not
/// scanned back: its latest scan must be its code. Called before the BMS is configured and
/// before the test runs.
pub fn scan_back_required(
    store: &dyn LineStore,
    pack: &Pack,
    profile: &crate::profile::Profile,
    doing: &str,
) -> Result<()> {
    if !profile.eol.require_label_scan {
        return Ok(());
    }
    let code = pack.label();
    let why = match store.label_scans(pack.id)?.last() {
        Some(s) if s.matched => return Ok(()),
        Some(s) => format!(
            "its last label scan ({}) read '{}', not its code",
            s.scanned_at,
            label::scan::show(&s.data)
        ),
        None => "its label has not been scanned back".to_string(),
    };
    Err(ServiceError::Refused(format!(
        "pack {code} cannot be {doing}: {why}, and its test plan ({}) requires a scan-back. \
         Scan the label on the pack (Assemble screen, v; or label verify {code} --scan TEXT), \
         printing it first if it has none (label print {code})",
        profile.eol.plan_version
    )))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::testing;

    #[test]
    fn only_a_coded_built_pack_gets_a_label() {
        let (mut store, id) = testing::store_with_pack();
        let key = PackKey::Id(id);
        let e = render(&store, &key, "line-1").unwrap_err();
        assert!(
            e.to_string().contains("gets no label: it is matched"),
            "{e}"
        );
        testing::assemble(&mut store, id, "PW00000001");
        // Coded and built, but its profile `p` cannot be loaded: no ratings, no label.
        let e = render(&store, &key, "line-1").unwrap_err();
        assert!(e.to_string().contains("needs its profile 'p'"), "{e}");
        assert!(matches!(
            render(&store, &PackKey::Id(99), "line-1"),
            Err(ServiceError::NotFound(_))
        ));
        assert_eq!(local_date("not a time"), "not a time");
        assert_eq!(local_date("2026-12-05"), "2026-12-05");
    }
}
