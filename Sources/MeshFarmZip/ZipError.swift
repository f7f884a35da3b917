/// Why a zip archive cannot be used, worded for the person who uploaded it.
public enum ZipError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The file is not a zip archive, or its directory cannot be found.
    case notAnArchive(String)
    /// A structure of the archive contradicts itself or the file's size.
    case corrupt(String)
    /// The archive uses something this reader does not (encryption, a
    /// compression method other than stored and deflate, several disks).
    case unsupported(String)
    /// The archive claims more than the limits allow; checked before inflating.
    case overLimit(String)
    /// An entry's name would escape the archive (absolute, `..`, a link).
    case unsafePath(String)
    /// No entry of that name.
    case missingEntry(String)

    public var description: String {
        switch self {
        case .notAnArchive(let reason): "not a zip archive: \(reason)"
        case .corrupt(let reason): "corrupt zip archive: \(reason)"
        case .unsupported(let reason): "unsupported zip archive: \(reason)"
        case .overLimit(let reason): reason
        case .unsafePath(let reason): "unsafe path in the zip archive: \(reason)"
        case .missingEntry(let name): "the zip archive has no entry '\(name)'"
        }
    }
}
