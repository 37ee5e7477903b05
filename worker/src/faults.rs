//! Fault switches for tests: a seeder that answers each chunk late or
//! sends wrong bytes, a downloader that claims chunks it lacks, an install
//! that aborts (like kill -9) at a named
//! step. They exist only with the `test-hooks` cargo feature, which the
//! worker's own tests turn on; without it [`Faults`] is empty and every
//! switch does nothing. They are set through the node's options (and the
//! hidden `--test-*` flags of the binary), never the environment.

/// The faults one node, command or operation is to show.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Faults {
    /// Every chunk whose `file + chunk` is a multiple of this is sent with
    /// its first byte flipped.
    #[cfg(feature = "test-hooks")]
    pub corrupt_every: Option<u32>,
    /// Each chunk answer waits this long before its first byte.
    #[cfg(feature = "test-hooks")]
    pub chunk_delay: Option<std::time::Duration>,
    /// The process aborts when an install transaction reaches this point.
    #[cfg(feature = "test-hooks")]
    pub crash_at: Option<CrashPoint>,
    /// While downloading, the node tells swarm members it holds every chunk.
    #[cfg(feature = "test-hooks")]
    pub claim_all_chunks: bool,
}

impl Faults {
    /// Waits as a slow seeder would before answering a chunk.
    pub async fn delay_chunk(&self) {
        #[cfg(feature = "test-hooks")]
        if let Some(delay) = self.chunk_delay {
            tokio::time::sleep(delay).await;
        }
    }

    /// Spoils the first byte of chunk `index` if asked to.
    pub fn corrupt_chunk(&self, index: (u32, u32), bytes: &mut [u8]) {
        #[cfg(feature = "test-hooks")]
        if let Some(n) = self.corrupt_every
            && (index.0 + index.1).is_multiple_of(n)
            && let Some(first) = bytes.first_mut()
        {
            *first ^= 0xff;
        }
        #[cfg(not(feature = "test-hooks"))]
        let _ = (index, bytes);
    }

    /// Whether to claim every chunk of a download in progress, as a liar would.
    pub fn claims_all_chunks(&self) -> bool {
        #[cfg(feature = "test-hooks")]
        return self.claim_all_chunks;
        #[cfg(not(feature = "test-hooks"))]
        false
    }

    /// Aborts the process at `point` if asked to: no unwinding, no cleanup,
    /// as kill -9 or a power cut would leave the disk.
    pub fn crash(&self, point: CrashPoint) {
        #[cfg(feature = "test-hooks")]
        if self.crash_at == Some(point) {
            eprintln!("test hook: aborting at {}", point.name());
            std::process::abort();
        }
        #[cfg(not(feature = "test-hooks"))]
        let _ = point;
    }
}

/// Where an install transaction may be stopped as by a crash, in the order
/// each operation passes them (see `install::plan`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CrashPoint {
    InstallUnpacking,
    InstallUnpacked,
    InstallSwapped,
    InstallCommitted,
    UpdateUnpacking,
    UpdateUnpacked,
    UpdateBackedUp,
    UpdateSwapped,
    UpdateCommitted,
    UninstallStarted,
    UninstallMoved,
    UninstallDeleted,
    RemoveStarted,
    RemoveSentinelDeleted,
    RemoveEmptied,
}

impl CrashPoint {
    /// Every point, for tests that crash at each.
    pub const ALL: [CrashPoint; 15] = [
        CrashPoint::InstallUnpacking,
        CrashPoint::InstallUnpacked,
        CrashPoint::InstallSwapped,
        CrashPoint::InstallCommitted,
        CrashPoint::UpdateUnpacking,
        CrashPoint::UpdateUnpacked,
        CrashPoint::UpdateBackedUp,
        CrashPoint::UpdateSwapped,
        CrashPoint::UpdateCommitted,
        CrashPoint::UninstallStarted,
        CrashPoint::UninstallMoved,
        CrashPoint::UninstallDeleted,
        CrashPoint::RemoveStarted,
        CrashPoint::RemoveSentinelDeleted,
        CrashPoint::RemoveEmptied,
    ];

    /// The point's name, `operation:point` (the `--test-crash-at` value).
    pub fn name(self) -> &'static str {
        match self {
            CrashPoint::InstallUnpacking => "install:unpacking",
            CrashPoint::InstallUnpacked => "install:unpacked",
            CrashPoint::InstallSwapped => "install:swapped",
            CrashPoint::InstallCommitted => "install:committed",
            CrashPoint::UpdateUnpacking => "update:unpacking",
            CrashPoint::UpdateUnpacked => "update:unpacked",
            CrashPoint::UpdateBackedUp => "update:backed-up",
            CrashPoint::UpdateSwapped => "update:swapped",
            CrashPoint::UpdateCommitted => "update:committed",
            CrashPoint::UninstallStarted => "uninstall:started",
            CrashPoint::UninstallMoved => "uninstall:moved",
            CrashPoint::UninstallDeleted => "uninstall:deleted",
            CrashPoint::RemoveStarted => "remove:started",
            CrashPoint::RemoveSentinelDeleted => "remove:sentinel-deleted",
            CrashPoint::RemoveEmptied => "remove:emptied",
        }
    }

    /// The point named `name`.
    pub fn named(name: &str) -> Option<CrashPoint> {
        CrashPoint::ALL.into_iter().find(|p| p.name() == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crash_points_have_one_name_each() {
        for point in CrashPoint::ALL {
            assert_eq!(CrashPoint::named(point.name()), Some(point));
        }
        let names: std::collections::BTreeSet<_> = CrashPoint::ALL.iter().map(|p| p.name()).collect();
        assert_eq!(names.len(), CrashPoint::ALL.len());
        assert_eq!(CrashPoint::named("install:nowhere"), None);
    }
}
