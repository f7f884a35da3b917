import Foundation

/// Times in the API and `report.json`: ISO-8601 in UTC with milliseconds
/// (`2026-11-30T03:04:05.123Z`), precise enough to draw a 40 ms task on a
/// timeline. Readers take whole seconds too (what earlier releases wrote).
public enum TimeStamps {
    static let precise = Date.ISO8601FormatStyle(includingFractionalSeconds: true)
    static let whole = Date.ISO8601FormatStyle()

    public static func format(_ date: Date) -> String { precise.format(date) }

    public static func parse(_ text: String) -> Date? {
        (try? precise.parse(text)) ?? (try? whole.parse(text))
    }

    public static let encoding = JSONEncoder.DateEncodingStrategy.custom { date, encoder in
        var container = encoder.singleValueContainer()
        try container.encode(format(date))
    }

    public static let decoding = JSONDecoder.DateDecodingStrategy.custom { decoder in
        let container = try decoder.singleValueContainer()
        let text = try container.decode(String.self)
        guard let date = parse(text) else {
            throw DecodingError.dataCorruptedError(
                in: container, debugDescription: "'\(text)' is not an ISO-8601 time (e.g. 2026-11-30T03:04:05.123Z)")
        }
        return date
    }
}
