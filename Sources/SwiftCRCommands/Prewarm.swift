import Glibc

/// This VM hands freed memory back to its host after a few idle seconds,
/// and memory it then takes again costs up to ten times as much to touch
/// (2 GiB written to tmpfs: 0.74 s warm, 2.3-5.4 s cold). Each timed figure
/// starts right after touching and freeing as much memory as it will take,
/// so dd, dump and restore all start from warm pages and their ratios
/// compare the work, not what the host did meanwhile.
enum Prewarm {
    static func memory(bytes: Int) {
        guard bytes > 0, let at = mmap(nil, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0), at != MAP_FAILED else { return }
        // MADV_POPULATE_WRITE (23) faults every page in without a loop of our own; memset where the kernel lacks it.
        if madvise(at, bytes, 23) != 0 { memset(at, 1, bytes) }
        munmap(at, bytes)
    }
}
