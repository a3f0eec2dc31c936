//! The stratum's spare cells a pack may trade with.

/// The stratum's unused cells, sorted by capacity, that a pack may trade with.
#[derive(Debug, Default, Clone)]
pub(crate) struct Pool {
    pub(super) cells: Vec<u32>,
}

impl Pool {
    pub fn new(mut cells: Vec<u32>, cap: &[i64]) -> Self {
        cells.sort_by_key(|&c| (cap[c as usize], c));
        Pool { cells }
    }

    pub fn len(&self) -> usize {
        self.cells.len()
    }

    pub fn is_empty(&self) -> bool {
        self.cells.is_empty()
    }

    pub fn into_vec(self) -> Vec<u32> {
        self.cells
    }

    fn key(c: u32, cap: &[i64]) -> (i64, u32) {
        (cap[c as usize], c)
    }

    /// Index of the first cell with capacity ≥ `v`.
    pub(super) fn lower_bound(&self, v: i64, cap: &[i64]) -> usize {
        self.cells.partition_point(|&c| cap[c as usize] < v)
    }

    pub(super) fn insert(&mut self, c: u32, cap: &[i64]) {
        let k = Self::key(c, cap);
        let at = self.cells.partition_point(|&x| Self::key(x, cap) < k);
        self.cells.insert(at, c);
    }

    pub(super) fn remove(&mut self, c: u32, cap: &[i64]) {
        let k = Self::key(c, cap);
        let at = self.cells.partition_point(|&x| Self::key(x, cap) < k);
        debug_assert_eq!(self.cells.get(at), Some(&c));
        self.cells.remove(at);
    }
}
