/// The rules an entry name must follow to be extracted safely: names are
/// relative paths confined to the archive.
public enum ZipPath {
    /// Normalises `raw` (backslashes become `/`) and checks it: not empty,
    /// no NUL, not absolute (`/x`, `C:x`), no `.` or `..` component, no empty
    /// component except a folder's trailing `/`. Returns the normalised name.
    public static func check(_ raw: String) throws(ZipError) -> String {
        let name = raw.replacingOccurrences(of: "\\", with: "/")
        guard !name.isEmpty else { throw .unsafePath("an entry has an empty name") }
        guard !name.utf8.contains(0) else { throw .unsafePath("an entry name contains a NUL byte") }
        guard !name.hasPrefix("/") else { throw .unsafePath("'\(raw)' is an absolute path") }
        let utf8 = Array(name.utf8)
        if utf8.count >= 2, utf8[1] == UInt8(ascii: ":"), (utf8[0] | 0x20) >= UInt8(ascii: "a"),
            (utf8[0] | 0x20) <= UInt8(ascii: "z")
        {
            throw .unsafePath("'\(raw)' names a drive")
        }
        var components = name.split(separator: "/", omittingEmptySubsequences: false)
        if components.last == "" { components.removeLast() }  // a folder's trailing slash
        for component in components {
            if component.isEmpty { throw .unsafePath("'\(raw)' has an empty path component") }
            if component == ".." { throw .unsafePath("'\(raw)' climbs out of the archive with '..'") }
            if component == "." { throw .unsafePath("'\(raw)' has a '.' component") }
        }
        return name
    }
}
