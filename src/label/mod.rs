//! Pack labels: rendering them as ZPL II (`zpl`, pure), reading a Zebra printer's `~HS` host
//! status (`status`, pure), reducing a scan of a label to its data (`scan`, pure), and sending a job to a printer (`printer`: TCP port 9100, a file
//! or a spool command — the only I/O here).

pub mod printer;
pub mod scan;
pub mod status;
pub mod zpl;

pub use printer::{PrintError, PrintReport, PrinterTarget};
pub use status::HostStatus;
pub use zpl::{render, LabelError, LabelFields, LabelTemplate, QrContent};
