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
}

impl PortSpec {
    pub fn label(&self) -> String {
        format!("{} ({})", self.port, self.protocol)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_are_labelled_with_their_protocol() {
        let p = PortSpec {
            port: "/dev/ttyUSB0".into(),
            protocol: ProtocolKind::Daly,
        };
        assert_eq!(p.label(), "/dev/ttyUSB0 (daly)");
    }
}
