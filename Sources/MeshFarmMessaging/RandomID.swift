import Foundation

/// Random 128-bit identifiers as 32 hex digits, for trace ids and other
/// identifiers minted per message.
///
/// Foundation's `UUID()` on Linux opens `/dev/urandom` for every value; at
/// several ids per task that was a measurable share of the runtime's
/// overhead. The 16 bytes come from one `arc4random_buf` call (glibc 2.36
/// and later, as in Debian 12: one `getrandom(2)`; the standard library's
/// generator makes one per 8 bytes).
public enum RandomID {
    public static func make() -> String {
        var bytes: (UInt64, UInt64) = (0, 0)
        withUnsafeMutableBytes(of: &bytes) { arc4random_buf($0.baseAddress!, $0.count) }
        return hex(bytes.0) + hex(bytes.1)
    }

    private static func hex(_ value: UInt64) -> String {
        let digits = String(value, radix: 16)
        return String(repeating: "0", count: 16 - digits.count) + digits
    }
}
