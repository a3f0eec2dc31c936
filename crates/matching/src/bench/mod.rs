//! Benchmark: the matcher against baselines on synthetic and real inventories.
