import CheckpointImage
import Dispatch

/// Loads (reads and checksums) the section the lazy pager will most likely
/// copy next on a second thread, while the current one goes into its
/// process: the pager alone read, checked and copied in turn, and took up
/// to 1.7x an eager restore to have every page in. Two loaders alternate;
/// data handed out stays valid until the next `load`, as with one loader.
final class SectionPrefetcher: @unchecked Sendable {
    private let loaders: [PagesSectionLoader]
    /// The loader whose data was handed out last.
    private var current = 0
    private let queue = DispatchQueue(label: "swiftcr.lazy-prefetch")
    /// The prefetched section (its start in the image) and what loading it gave; written on `queue`.
    private var ready: (start: UInt64, result: Result<UnsafeRawBufferPointer, Error>)?

    /// Off in a PID namespace we entered (unshare(CLONE_NEWPID)): the kernel
    /// refuses new threads there, and libdispatch then waits forever for one.
    private let enabled: Bool

    init(fd: Int32, enabled: Bool) {
        loaders = [PagesSectionLoader(fd: fd), PagesSectionLoader(fd: fd)]
        self.enabled = enabled
    }

    /// The section's page data: the prefetched copy when it is this section, else read now.
    func load(_ section: ImageReader.PagesSection) throws -> UnsafeRawBufferPointer {
        let prefetched = queue.sync { () -> Result<UnsafeRawBufferPointer, Error>? in
            defer { ready = nil }
            guard let r = ready, r.start == section.sectionStart else { return nil }
            return r.result
        }
        if let prefetched {
            current = 1 - current
            return try prefetched.get()
        }
        return try loaders[current].load(section)
    }

    /// Starts loading `section` into the loader not in use (call after `load`).
    func prefetch(_ section: ImageReader.PagesSection) {
        guard enabled else { return }
        // The spare loader is touched only on the queue until the next `load` waits for it.
        let job = Job(loader: loaders[1 - current], section: section)
        queue.async { [self] in
            CPUPin.freePoolThread()
            ready = (job.section.sectionStart, Result { try job.loader.load(job.section) })
        }
    }

    private struct Job: @unchecked Sendable {
        let loader: PagesSectionLoader
        let section: ImageReader.PagesSection
    }

    /// Waits for a load still running (before the image's descriptor closes).
    func finish() { queue.sync { ready = nil } }
}
