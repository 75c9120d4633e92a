//! The kubelet side of the simulator's pods, as plain data: the SPDY/3.1 framer exec, attach and
//! port-forward use with older clients, a container's in-memory files and the tar archives
//! `kubectl cp` moves, the `sh -c` language of the built-in commands, and the deterministic log
//! lines.

pub mod fs;
pub mod logs;
pub mod shell;
pub mod spdy;
pub mod tar;
