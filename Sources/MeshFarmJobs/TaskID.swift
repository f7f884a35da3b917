/// The name of one task of a job: which job, which kind, and for levels of
/// detail and view chunks which ones. Written as text where tasks travel
/// (messages, the API, logs): `j1.analyze`, `j1.reduce-2`,
/// `j1.render-2-4` (level 2 from view 4), `j1.finalize`; for a split
/// reduction `j1.partition`, `j1.reduce-part-2-3` (level 2, part 3) and
/// `j1.stitch-2`.
public struct TaskID: Sendable, Hashable, Comparable, Codable, CustomStringConvertible, LosslessStringConvertible {
    public var job: String
    public var kind: TaskKind
    /// Level of detail (reduce, reduce-part, stitch, render).
    public var lod: Int?
    /// First view of the chunk (render).
    public var firstView: Int?
    /// Part of a split level (reduce-part).
    public var part: Int?

    public static func analyze(_ job: String) -> TaskID { TaskID(job: job, kind: .analyze) }
    public static func reduce(_ job: String, lod: Int) -> TaskID { TaskID(job: job, kind: .reduce, lod: lod) }
    public static func render(_ job: String, lod: Int, firstView: Int) -> TaskID {
        TaskID(job: job, kind: .render, lod: lod, firstView: firstView)
    }
    public static func finalize(_ job: String) -> TaskID { TaskID(job: job, kind: .finalize) }
    public static func partition(_ job: String) -> TaskID { TaskID(job: job, kind: .partition) }
    public static func reducePart(_ job: String, lod: Int, part: Int) -> TaskID {
        TaskID(job: job, kind: .reducePart, lod: lod, part: part)
    }
    public static func stitch(_ job: String, lod: Int) -> TaskID { TaskID(job: job, kind: .stitch, lod: lod) }

    init(job: String, kind: TaskKind, lod: Int? = nil, firstView: Int? = nil, part: Int? = nil) {
        self.job = job
        self.kind = kind
        self.lod = lod
        self.firstView = firstView
        self.part = part
    }

    public var description: String {
        switch kind {
        case .analyze, .partition, .finalize: "\(job).\(kind.rawValue)"
        case .reduce, .stitch: "\(job).\(kind.rawValue)-\(lod ?? 0)"
        case .reducePart: "\(job).reduce-part-\(lod ?? 0)-\(part ?? 0)"
        case .render: "\(job).render-\(lod ?? 0)-\(firstView ?? 0)"
        }
    }

    /// Reads the text form; nil for anything else (the job is everything
    /// before the last dot; the kind is the words before the first number).
    public init?(_ text: String) {
        guard let dot = text.lastIndex(of: "."), dot != text.startIndex else { return nil }
        let job = String(text[..<dot])
        let words = text[text.index(after: dot)...].split(separator: "-", omittingEmptySubsequences: false)
        let kindWords = words.prefix { $0.first?.isNumber != true }
        guard let kind = TaskKind(rawValue: kindWords.joined(separator: "-")) else { return nil }
        let numbers = words.dropFirst(kindWords.count).map { Int($0) }
        guard numbers.allSatisfy({ $0 != nil && $0! >= 0 }) else { return nil }
        switch (kind, numbers.count) {
        case (.analyze, 0), (.partition, 0), (.finalize, 0): self.init(job: job, kind: kind)
        case (.reduce, 1), (.stitch, 1): self.init(job: job, kind: kind, lod: numbers[0])
        case (.reducePart, 2): self.init(job: job, kind: kind, lod: numbers[0], part: numbers[1])
        case (.render, 2): self.init(job: job, kind: kind, lod: numbers[0], firstView: numbers[1])
        default: return nil
        }
    }

    /// Tasks of a job in planning order: analyze, partition, reductions
    /// (parts, then stitches), renders, finalize.
    public static func < (a: TaskID, b: TaskID) -> Bool {
        func rank(_ id: TaskID) -> (String, Int, Int, Int) {
            let order = TaskKind.allCases.firstIndex(of: id.kind)!
            return (id.job, order, id.lod ?? 0, id.firstView ?? id.part ?? 0)
        }
        return rank(a) < rank(b)
    }

    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        guard let id = TaskID(text) else {
            throw DecodingError.dataCorrupted(
                .init(codingPath: decoder.codingPath, debugDescription: "'\(text)' is not a task id"))
        }
        self = id
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }
}

extension TaskID: ExpressibleByStringLiteral {
    /// A task id written in code (`"j1.reduce-2"`); a malformed literal is a
    /// programming error.
    public init(stringLiteral text: String) {
        guard let id = TaskID(text) else { preconditionFailure("'\(text)' is not a task id") }
        self = id
    }
}
