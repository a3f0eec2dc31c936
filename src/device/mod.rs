//! Device tasks: each owns one port or interface and speaks through channels.

pub mod can;
pub mod handle;
pub mod serial;

use packwright_protocol::ProtocolKind;

/// A port or interface a face may open, and the protocol spoken on it.
#[derive(Debug, Clone, PartialEq)]
pub struct PortSpec {
    pub port: String,
    pub protocol: ProtocolKind,
    /// The line speed when not the protocol's default (as `bms detect` found the board).
    pub baud: Option<u32>,
    /// The board's address on the bus when not the protocol's default (JK PB Modbus address,
    /// Pace ADR, Daly board number).
    pub address: Option<u8>,
}

impl PortSpec {
    /// `protocol` on `port`, at its default speed and address.
    pub fn new(port: &str, protocol: ProtocolKind) -> PortSpec {
        PortSpec {
            port: port.to_string(),
            protocol,
            baud: None,
            address: None,
        }
    }

    pub fn label(&self) -> String {
        format!("{} ({})", self.port, self.protocol)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_are_labelled_with_their_protocol() {
        let p = PortSpec::new("/dev/ttyUSB0", ProtocolKind::Daly);
        assert_eq!(p.label(), "/dev/ttyUSB0 (daly)");
    }
}
