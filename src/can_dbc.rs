//! DBC decoding for BMS boards whose CAN frames are not built in.
