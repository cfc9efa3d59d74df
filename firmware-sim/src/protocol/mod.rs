//! Wire formats, without I/O: each module turns values into bytes and back and is tested
//! synchronously. The device tasks (started by [`crate::Simulator`]) own the sockets and
//! terminals.

pub mod accel_frame;
pub mod rtu;
pub mod text_line;
