//! Integration tests for the worker: real processes, real QUIC on loopback,
//! real mDNS inside network namespaces the tests make themselves.

mod archives;
mod bandwidth;
mod covers;
mod download;
// Extra loopback addresses (127.0.0.2 and on) stand in for other PCs.
#[cfg(target_os = "linux")]
mod flood;
mod hostile;
mod hostile_peer;
mod install;
mod liars;
// Reads /proc and sets limits with the shell's ulimit: Linux only.
#[cfg(target_os = "linux")]
mod limits;
mod listen;
mod manifests;
mod many_files;
mod mdns_lab;
mod operations;
// Packs made with the Unix tools people use (tar, zip, 7z).
#[cfg(unix)]
mod packs;
mod rescan;
mod seeding;
mod static_peers;
mod streamed;
mod support;
mod swarm;
mod swarm_liars;
mod trust;
// Drives the Windows build under Wine from Linux (scripts/windows-check.sh).
#[cfg(target_os = "linux")]
mod windows;
