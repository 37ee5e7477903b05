//! Free space on the disk that holds the game directory (status bar).

use std::path::Path;

use sysinfo::Disks;

/// Bytes free for `path`'s filesystem: the mounted disk with the longest
/// mount point that contains the path. `None` when no disk matches.
pub fn free_space(path: &Path) -> Option<u64> {
    let path = crate::platform::plain_path(std::fs::canonicalize(path).ok()?);
    let disks = Disks::new_with_refreshed_list();
    disks
        .list()
        .iter()
        .filter(|disk| path.starts_with(disk.mount_point()))
        .max_by_key(|disk| disk.mount_point().as_os_str().len())
        .map(sysinfo::Disk::available_space)
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_temp_dir_has_a_disk_with_free_space() {
        let dir = tempfile::tempdir().unwrap();
        let free = super::free_space(dir.path()).expect("a disk holds the temp dir");
        assert!(free > 0);
        assert_eq!(super::free_space(std::path::Path::new("/nonexistent/x")), None);
    }
}
