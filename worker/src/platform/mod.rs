//! Everything that differs between Linux and Windows, one module per concern.

pub mod fs;
pub mod paths;
pub mod signals;
pub mod unbuffered;
