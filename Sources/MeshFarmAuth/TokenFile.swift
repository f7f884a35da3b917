import Foundation
import Logging
import Synchronization

/// A tokens file, read at start and again whenever it changes: a thread
/// looks at its modification time, size and inode every second (so an
/// edit, a replacement by rename, or a Kubernetes Secret update is seen
/// within about a second), and ``reload()`` (SIGHUP) reads it at once.
/// Removing a line revokes its token without a restart. A file that no
/// longer parses keeps the tokens read last, and says why in the log.
public final class TokenFile: Sendable {
    public let path: String
    private let logger: Logger
    private let state: Mutex<(book: TokenBook, stamp: Stamp?)>
    private let stopped = Mutex(false)

    struct Stamp: Equatable {
        var modified: timespec
        var size: off_t
        var inode: ino_t

        static func == (a: Stamp, b: Stamp) -> Bool {
            a.modified.tv_sec == b.modified.tv_sec && a.modified.tv_nsec == b.modified.tv_nsec && a.size == b.size
                && a.inode == b.inode
        }
    }

    /// Reads `path`; throws when it cannot be read or parsed, so a service
    /// never starts with tokens it did not mean.
    public init(path: String, logger: Logger = Logger(label: "meshfarm.auth")) throws {
        self.path = path
        self.logger = logger
        let stamp = Self.stamp(path)
        let text: String
        do { text = try String(contentsOfFile: path, encoding: .utf8) } catch {
            throw TokenFileError(line: 0, "cannot read \(path): \(error.localizedDescription)")
        }
        state = Mutex((try TokenBook(parsing: text), stamp))
        let thread = Thread { [weak self] in
            while let self, !self.stopped.withLock({ $0 }) {
                self.reloadIfChanged()
                Thread.sleep(forTimeInterval: 1)
            }
        }
        thread.start()
    }

    deinit { stopped.withLock { $0 = true } }

    /// The tokens in force.
    public var book: TokenBook { state.withLock { $0.book } }

    /// Reads the file again now.
    public func reload() {
        let stamp = Self.stamp(path)
        do {
            let book = try TokenBook(parsing: try String(contentsOfFile: path, encoding: .utf8))
            let before = state.withLock { s -> Int in
                defer { s = (book, stamp) }
                return s.book.entries.count
            }
            logger.info(
                "tokens file read",
                metadata: ["path": "\(path)", "tokens": "\(book.entries.count)", "before": "\(before)"])
        } catch {
            state.withLock { $0.stamp = stamp }  // not again until it changes
            logger.error(
                "the tokens file does not parse; keeping the tokens read before", metadata: ["error": "\(error)"])
        }
    }

    func reloadIfChanged() {
        let stamp = Self.stamp(path)
        guard stamp != state.withLock({ $0.stamp }) else { return }
        reload()
    }

    static func stamp(_ path: String) -> Stamp? {
        var info = stat()
        guard stat(path, &info) == 0 else { return nil }
        return Stamp(modified: info.st_mtim, size: info.st_size, inode: info.st_ino)
    }
}
