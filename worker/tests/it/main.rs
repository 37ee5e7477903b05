//! Integration tests for the worker: real processes, real QUIC on loopback,
//! real mDNS inside network namespaces the tests make themselves.

mod archives;
mod download;
mod hostile;
mod install;
mod listen;
mod manifests;
mod mdns_lab;
mod rescan;
mod static_peers;
mod support;
