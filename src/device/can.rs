//! SocketCAN device task.
