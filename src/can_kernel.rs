//! Conversions between the protocol crate's [`CanFrame`] and the kernel's SocketCAN frames:
//! shared by the client's device task and the CAN simulators, like a codec (neither one's
//! transport logic is in here).

use packwright_protocol::can::CanFrame;
use socketcan::{EmbeddedFrame, ExtendedId, Frame, Id, StandardId};

/// Converts a kernel frame; `None` for error frames (handled apart).
pub fn from_socketcan(frame: &socketcan::CanFrame) -> Option<CanFrame> {
    match frame {
        socketcan::CanFrame::Data(d) => CanFrame::new(d.raw_id(), d.is_extended(), d.data()).ok(),
        socketcan::CanFrame::Remote(r) => {
            CanFrame::remote(r.raw_id(), r.is_extended(), r.dlc()).ok()
        }
        socketcan::CanFrame::Error(_) => None,
    }
}

/// Converts to a kernel frame. Our frames are valid by construction, so this only fails on
/// an id the kernel types reject, which [`CanFrame`] already excludes.
pub fn to_socketcan(frame: &CanFrame) -> Option<socketcan::CanFrame> {
    let id: Id = if frame.is_extended() {
        ExtendedId::new(frame.id())?.into()
    } else {
        StandardId::new(u16::try_from(frame.id()).ok()?)?.into()
    };
    if frame.is_remote() {
        socketcan::CanFrame::new_remote(id, frame.len())
    } else {
        socketcan::CanFrame::new(id, frame.data())
    }
}
