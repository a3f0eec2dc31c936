//! BMS services over any transport (owned by the serial-BMS work; see ARCHITECTURE.md).
