import Foundation

/// The tokens a service accepts, parsed from a tokens file: one line per
/// token, `<name> <role> sha256:<hex>`; blank lines and `#` comments are
/// ignored. `meshfarm token create` prints such a line.
public struct TokenBook: Sendable, Equatable {
    public struct Entry: Sendable, Equatable {
        public var principal: Principal
        /// `sha256:<64 hex digits>`.
        public var hash: String
    }

    public private(set) var entries: [Entry]

    public init(entries: [Entry] = []) { self.entries = entries }

    /// Parses a tokens file; throws with the line number of the first bad
    /// line.
    public init(parsing text: String) throws {
        var entries: [Entry] = []
        for (number, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = raw.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
            let fields = line.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\r" })
            if fields.isEmpty { continue }
            guard fields.count == 3 else {
                throw TokenFileError(line: number + 1, "expected '<name> <role> sha256:<hex>'")
            }
            let name = String(fields[0])
            guard Self.isValidName(name) else {
                throw TokenFileError(line: number + 1, "a name is 1 to 64 of A-Z a-z 0-9 . _ @ -")
            }
            guard let role = Role(rawValue: String(fields[1])) else {
                throw TokenFileError(
                    line: number + 1,
                    "unknown role '\(fields[1])' (\(Role.allCases.map(\.rawValue).joined(separator: ", ")))")
            }
            let hash = String(fields[2])
            guard hash.hasPrefix("sha256:"), hash.count == 71,
                hash.dropFirst(7).allSatisfy({ $0.isHexDigit && !$0.isUppercase })
            else { throw TokenFileError(line: number + 1, "the hash must be sha256: and 64 lowercase hex digits") }
            guard !entries.contains(where: { $0.principal.name == name }) else {
                throw TokenFileError(line: number + 1, "the name '\(name)' is used twice")
            }
            entries.append(Entry(principal: Principal(name: name, role: role), hash: hash))
        }
        self.entries = entries
    }

    /// The line that grants `token` to `principal`.
    public static func line(for principal: Principal, token: String) -> String {
        "\(principal.name) \(principal.role.rawValue) \(AccessToken.hash(token))"
    }

    public static func isValidName(_ name: String) -> Bool {
        (1...64).contains(name.count)
            && name.unicodeScalars.allSatisfy {
                $0.isASCII && (CharacterSet.alphanumerics.contains($0) || "._@-".unicodeScalars.contains($0))
            }
    }

    /// The principal `token` belongs to. Every entry is compared, in
    /// constant time, whichever matches.
    public func principal(for token: String) -> Principal? {
        let hash = AccessToken.hash(token)
        var found: Principal?
        for entry in entries where AccessToken.constantTimeEqual(entry.hash, hash) { found = entry.principal }
        return found
    }
}

public struct TokenFileError: Error, Sendable, Equatable, CustomStringConvertible {
    public var line: Int
    public var reason: String

    public init(line: Int, _ reason: String) {
        self.line = line
        self.reason = reason
    }

    public var description: String { "tokens file, line \(line): \(reason)" }
}
