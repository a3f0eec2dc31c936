//! The eligible cells in the layout the algorithms want: flat columns indexed by `u32`.

/// Eligible cells, column by column. Missing optional measurements are `NaN`.
#[derive(Debug, Default, Clone)]
pub(crate) struct Data {
    /// Capacity rounded to whole mAh: sums are exact and the integer bound applies.
    pub cap: Vec<i64>,
    pub ir: Vec<f64>,
    pub ocv: Vec<f64>,
    pub sd: Vec<f64>,
    /// Index of the cell in the caller's slice.
    pub src: Vec<u32>,
}

impl Data {
    pub fn len(&self) -> usize {
        self.cap.len()
    }

    /// Cells with these capacities and nothing else measured (tests).
    #[cfg(test)]
    pub fn with_caps(caps: &[i64]) -> Data {
        let none = vec![f64::NAN; caps.len()];
        Data {
            cap: caps.to_vec(),
            ir: none.clone(),
            ocv: none.clone(),
            sd: none,
            src: (0..caps.len() as u32).collect(),
        }
    }

    /// No cells yet, room for `n`.
    pub fn with_capacity(n: usize) -> Data {
        Data {
            cap: Vec::with_capacity(n),
            ir: Vec::with_capacity(n),
            ocv: Vec::with_capacity(n),
            sd: Vec::with_capacity(n),
            src: Vec::with_capacity(n),
        }
    }

    /// The cells in the order of `order` (indices into `self`).
    pub fn permuted(&self, order: &[u32]) -> Data {
        let pick_f = |v: &[f64]| order.iter().map(|&i| v[i as usize]).collect();
        Data {
            cap: order.iter().map(|&i| self.cap[i as usize]).collect(),
            ir: pick_f(&self.ir),
            ocv: pick_f(&self.ocv),
            sd: pick_f(&self.sd),
            src: order.iter().map(|&i| self.src[i as usize]).collect(),
        }
    }
}

/// Hard limits that involve more than one cell.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct Limits {
    /// Max − min OCV inside a parallel group, mV.
    pub ocv_mv: Option<f64>,
    /// Max − min IR inside a parallel group, mΩ.
    pub ir_mohm: Option<f64>,
    /// Max − min group capacity over the pack's mean group, percent.
    pub range_pct: Option<f64>,
    /// Balance slack: the larger of this many mAh …
    pub slack_mah: f64,
    /// … and this percentage of the pack's mean group …
    pub slack_pct: f64,
    /// … and the pack's lower bound, when set.
    pub slack_of_bound: bool,
}

/// Float slack for limit checks: a limit met to the last bit must not fail on rounding.
const SLACK: f64 = 1e-9;

impl Limits {
    /// True when a parallel group is constrained beyond its capacity.
    pub fn has_group_limits(&self) -> bool {
        self.ocv_mv.is_some() || self.ir_mohm.is_some()
    }

    /// How far a group is outside its OCV/IR limits, each excess relative to its limit
    /// (0 when within). Cells missing a limited measurement never reach here (rejected).
    pub fn group_violation(&self, ocv_span: f64, ir_span: f64) -> f64 {
        excess(ocv_span, self.ocv_mv) + excess(ir_span, self.ir_mohm)
    }

    /// The balance slack of a pack with this mean group and lower bound, whole mAh.
    pub fn slack_for(&self, mean_group: f64, bound: i64) -> i64 {
        let s = self
            .slack_mah
            .max(self.slack_pct / 100.0 * mean_group)
            .floor() as i64;
        if self.slack_of_bound {
            s.max(bound)
        } else {
            s
        }
    }

    pub fn range_ok(&self, range: i64, mean_group: f64) -> bool {
        match self.range_pct {
            Some(lim) => mean_group > 0.0 && range as f64 / mean_group * 100.0 <= lim + SLACK,
            None => true,
        }
    }

    /// "OCV within 20 mV, IR within 0.15 mΩ in a group; group capacities within 3 %".
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        if let Some(v) = self.ocv_mv {
            parts.push(format!("OCV within {v} mV in a group"));
        }
        if let Some(v) = self.ir_mohm {
            parts.push(format!("IR within {v} mΩ in a group"));
        }
        if let Some(v) = self.range_pct {
            parts.push(format!("group capacities within {v} % of each other"));
        }
        parts.join(", ")
    }
}

fn excess(span: f64, limit: Option<f64>) -> f64 {
    match limit {
        Some(lim) if span > lim + SLACK => (span - lim) / lim,
        _ => 0.0,
    }
}

/// Running min/max of one measurement over some cells, ignoring unmeasured (`NaN`) ones.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Span {
    pub min: f64,
    pub max: f64,
    pub n: usize,
}

impl Default for Span {
    fn default() -> Self {
        Span {
            min: f64::INFINITY,
            max: f64::NEG_INFINITY,
            n: 0,
        }
    }
}

impl Span {
    pub fn add(&mut self, v: f64) {
        if !v.is_nan() {
            self.min = self.min.min(v);
            self.max = self.max.max(v);
            self.n += 1;
        }
    }

    /// Both spans' values together.
    pub fn merge(&mut self, o: &Span) {
        self.min = self.min.min(o.min);
        self.max = self.max.max(o.max);
        self.n += o.n;
    }

    /// Max − min, 0 with fewer than two measured values.
    pub fn width(&self) -> f64 {
        if self.n >= 2 {
            self.max - self.min
        } else {
            0.0
        }
    }

    pub fn width_opt(&self) -> Option<f64> {
        (self.n >= 2).then_some(self.max - self.min)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn span_ignores_unmeasured() {
        let mut s = Span::default();
        for v in [3.0, f64::NAN, 1.0, 2.5] {
            s.add(v);
        }
        assert_eq!(s.n, 3);
        assert_eq!(s.width(), 2.0);
        let mut one = Span::default();
        one.add(4.0);
        assert_eq!(one.width(), 0.0);
        assert_eq!(one.width_opt(), None);
    }

    #[test]
    fn violation_is_relative_excess_and_zero_within() {
        let lim = Limits {
            ocv_mv: Some(20.0),
            ir_mohm: Some(0.5),
            ..Limits::default()
        };
        assert_eq!(lim.group_violation(20.0, 0.5), 0.0);
        assert!((lim.group_violation(30.0, 0.5) - 0.5).abs() < 1e-12);
        assert!((lim.group_violation(30.0, 1.0) - 1.5).abs() < 1e-12);
        assert_eq!(Limits::default().group_violation(1e9, 1e9), 0.0);
    }

    #[test]
    fn range_limit_is_percent_of_mean_group() {
        let lim = Limits {
            range_pct: Some(3.0),
            ..Limits::default()
        };
        assert!(lim.range_ok(30, 1000.0));
        assert!(!lim.range_ok(31, 1000.0));
        assert!(Limits::default().range_ok(1_000_000, 1.0));
    }

    #[test]
    fn slack_is_the_larger_of_mah_percent_and_the_bound_when_asked() {
        let lim = Limits {
            slack_mah: 5.0,
            slack_pct: 0.1,
            ..Limits::default()
        };
        assert_eq!(lim.slack_for(2000.0, 50), 5); // 0.1 % of 2000 = 2 < 5
        assert_eq!(lim.slack_for(210_000.0, 50), 210);
        let default = Limits {
            slack_pct: 0.1,
            slack_of_bound: true,
            ..Limits::default()
        };
        assert_eq!(default.slack_for(210_000.0, 50), 210);
        assert_eq!(default.slack_for(210_000.0, 3500), 3500);
    }
}
