/// Detects a model's format from its first bytes and size, never from its
/// name alone: users upload `.stl` files that are OBJ and binary STL files
/// whose header starts with `solid`.
///
/// Also reads what headers *claim* (facet, vertex and face counts) so that an
/// absurd claim (a 1 KB file announcing a billion triangles) is rejected
/// before the importer allocates for it.
public enum FormatDetector {
    /// What the header of a file announces, when the format has such a header.
    public struct Claims: Sendable, Equatable {
        /// Triangles or faces announced by the header.
        public var faces: Int?
        /// Vertices announced by the header.
        public var vertices: Int?
        /// Minimum number of bytes the file must have to hold what it claims.
        public var minimumBytes: Int?
    }

    /// Detects the format of `bytes`, the start of a file of `fileSize` bytes.
    /// `bytes` should hold at least the first 4 KiB (or the whole file).
    public static func detect(prefix bytes: [UInt8], fileSize: Int) -> ModelFormat? {
        if bytes.starts(with: Array("glTF".utf8)) { return .glb }
        if bytes.starts(with: [0x50, 0x4B, 0x03, 0x04]) || bytes.starts(with: [0x50, 0x4B, 0x05, 0x06]) {
            return isThreeMFEntry(bytes) ? .threeMF : .zip  // the importer decides from the whole directory
        }
        if bytes.starts(with: Array("Kaydara FBX Binary".utf8)) { return .fbx }
        if bytes.starts(with: Array("ply".utf8)), bytes.count > 3, bytes[3] == 0x0A || bytes[3] == 0x0D {
            let header = String(decoding: bytes.prefix(512), as: UTF8.self)
            if header.contains("format binary_little_endian") { return .plyBinaryLittleEndian }
            if header.contains("format binary_big_endian") { return .plyBinaryBigEndian }
            return .plyASCII
        }
        // Binary STL: 80-byte header, UInt32 facet count, 50 bytes per facet.
        // Checked before ASCII STL because binary headers often start "solid".
        if fileSize >= 84, bytes.count >= 84 {
            let count = Int(littleEndianUInt32(bytes, at: 80))
            if 84 + 50 * count == fileSize { return .stlBinary }
        }
        let text = String(decoding: bytes.prefix(4096), as: UTF8.self)
        let trimmed = text.drop { $0.isWhitespace || $0 == "\u{FEFF}" }
        if trimmed.hasPrefix("solid"), text.contains("facet") || text.contains("endsolid") { return .stlASCII }
        if trimmed.hasPrefix("<"), text.contains("<COLLADA") { return .collada }
        if trimmed.hasPrefix("{"), text.contains("\"asset\"") { return .gltf }
        if text.contains("FBXHeaderExtension") || trimmed.hasPrefix("; FBX") { return .fbx }
        if let first = trimmed.split(whereSeparator: \.isNewline).first,
            ["OFF", "COFF", "NOFF", "CNOFF", "STOFF", "4OFF"].contains(where: { first.hasPrefix($0) })
        {
            return .off
        }
        if bytes.prefix(4096).contains(0) { return nil }  // binary data in an unknown format
        if looksLikeOBJ(text) { return .obj }
        return nil
    }

    /// Reads the element counts a header announces.
    public static func claims(prefix bytes: [UInt8], format: ModelFormat) -> Claims {
        switch format {
        case .stlBinary:
            let count = Int(littleEndianUInt32(bytes, at: 80))
            return Claims(faces: count, vertices: nil, minimumBytes: 84 + 50 * count)
        case .plyASCII, .plyBinaryLittleEndian, .plyBinaryBigEndian:
            return plyClaims(bytes, binary: format != .plyASCII)
        case .off:
            return offClaims(bytes)
        default:
            return Claims()
        }
    }

    // MARK: - Helpers

    static func littleEndianUInt32(_ bytes: [UInt8], at offset: Int) -> UInt32 {
        UInt32(bytes[offset]) | UInt32(bytes[offset + 1]) << 8 | UInt32(bytes[offset + 2]) << 16
            | UInt32(bytes[offset + 3]) << 24
    }

    /// True when the zip's first local header names a part every 3MF has.
    static func isThreeMFEntry(_ bytes: [UInt8]) -> Bool {
        guard bytes.count >= 30, bytes[0...3] == [0x50, 0x4B, 0x03, 0x04] else { return false }
        let length = Int(bytes[26]) | Int(bytes[27]) << 8
        guard bytes.count >= 30 + length else { return false }
        let name = String(decoding: bytes[30..<(30 + length)], as: UTF8.self)
        return name == "[Content_Types].xml" || name.hasPrefix("_rels/") || name.hasPrefix("3D/")
    }

    static func looksLikeOBJ(_ text: String) -> Bool {
        var statements = 0
        for line in text.split(whereSeparator: \.isNewline).prefix(200) {
            let trimmed = line.drop { $0 == " " || $0 == "\t" }
            guard let keyword = trimmed.split(separator: " ", maxSplits: 1).first else { continue }
            switch keyword {
            case "v", "vn", "vt", "f", "o", "g", "s", "usemtl", "mtllib", "l", "p": statements += 1
            default: break
            }
        }
        return statements > 0
    }

    /// PLY: `element vertex N` and `element face M`. Every binary face takes at
    /// least 1 + 3 bytes (uchar count + three uchar indices), every ASCII face
    /// at least "3 0 0 0\n" minus separators' slack: 6 bytes.
    static func plyClaims(_ bytes: [UInt8], binary: Bool) -> Claims {
        let header = String(decoding: bytes.prefix(4096), as: UTF8.self)
        var vertices: Int?
        var faces: Int?
        for line in header.split(whereSeparator: \.isNewline) {
            let words = line.split(separator: " ")
            if words.first == "end_header" { break }
            // Clamped so that absurd claims cannot overflow the size arithmetic.
            guard words.count == 3, words[0] == "element", let n = Int(words[2]).map({ min(max($0, 0), 1 << 40) })
            else { continue }
            if words[1] == "vertex" { vertices = n }
            if words[1] == "face" { faces = n }
        }
        let perVertex = binary ? 12 : 6
        let perFace = binary ? 4 : 6
        let minimum = (vertices ?? 0) * perVertex + (faces ?? 0) * perFace
        return Claims(faces: faces, vertices: vertices, minimumBytes: minimum)
    }

    /// OFF: first non-comment line after the keyword holds `V F E`.
    static func offClaims(_ bytes: [UInt8]) -> Claims {
        let text = String(decoding: bytes.prefix(4096), as: UTF8.self)
        var lines = text.split(whereSeparator: \.isNewline).map {
            $0.split(separator: "#", omittingEmptySubsequences: false).first ?? ""
        }
        .filter { $0.contains { !$0.isWhitespace } }
        guard !lines.isEmpty else { return Claims() }
        var first = lines.removeFirst().split(separator: " ")
        first.removeFirst()  // the OFF keyword; counts may follow on the same line
        let counts = (first.isEmpty ? (lines.first?.split(separator: " ") ?? []) : first)
            .compactMap { Int($0).map { min(max($0, 0), 1 << 40) } }
        guard counts.count >= 2 else { return Claims() }
        return Claims(faces: counts[1], vertices: counts[0], minimumBytes: counts[0] * 6 + counts[1] * 8)
    }
}
