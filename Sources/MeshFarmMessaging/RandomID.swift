/// Random 128-bit identifiers as 32 hex digits, for trace ids and other
/// identifiers minted per message.
///
/// Foundation's `UUID()` on Linux opens `/dev/urandom` for every value; at
/// several ids per task that was a measurable share of the runtime's
/// overhead. The standard library's generator uses `getrandom(2)`.
public enum RandomID {
    public static func make() -> String {
        var generator = SystemRandomNumberGenerator()
        let high = generator.next() as UInt64
        let low = generator.next() as UInt64
        return hex(high) + hex(low)
    }

    private static func hex(_ value: UInt64) -> String {
        let digits = String(value, radix: 16)
        return String(repeating: "0", count: 16 - digits.count) + digits
    }
}
