//! Data the binary carries: the real cell inventories of `data/cells/` (sources in
//! `data/cells/SOURCES.md`), embedded so the demo and `packwright bench match` work from any
//! folder on a machine that has only the binary.

/// Each real inventory: its file stem and its CSV text.
pub const REAL_INVENTORIES: &[(&str, &str)] = &[
    (
        "kuking_18650",
        include_str!("../data/cells/kuking_18650.csv"),
    ),
    (
        "mackelec_lto_300",
        include_str!("../data/cells/mackelec_lto_300.csv"),
    ),
    ("nikasal_91", include_str!("../data/cells/nikasal_91.csv")),
    (
        "packbuilder_39",
        include_str!("../data/cells/packbuilder_39.csv"),
    ),
    (
        "pulsebat_lfp_35ah",
        include_str!("../data/cells/pulsebat_lfp_35ah.csv"),
    ),
    (
        "pulsebat_lmo_10ah",
        include_str!("../data/cells/pulsebat_lmo_10ah.csv"),
    ),
    (
        "pulsebat_nmc_21ah",
        include_str!("../data/cells/pulsebat_nmc_21ah.csv"),
    ),
    (
        "pulsebat_nmc_2p1ah",
        include_str!("../data/cells/pulsebat_nmc_2p1ah.csv"),
    ),
    (
        "robbimount_lfp_198",
        include_str!("../data/cells/robbimount_lfp_198.csv"),
    ),
];

/// The inventory the demo line resamples: PulseBat's retired LFP prismatic cells.
pub const DEMO_INVENTORY: &str = include_str!("../data/cells/pulsebat_lfp_35ah.csv");
