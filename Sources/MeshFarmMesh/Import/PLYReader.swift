import Foundation

/// A PLY reader for ASCII, binary little-endian and binary big-endian files,
/// used instead of assimp's.
///
/// assimp 5.2's PLY importer crashes (SIGSEGV) on a misspelled `end_header`
/// and loops forever on a header cut mid-line, both found by the fuzz test.
/// PLY is simple enough to read directly: a text header declaring elements
/// and their typed properties, then the data. Every count is checked against
/// the import limits and the bytes actually present before anything is
/// allocated, and every read is bounds-checked.
struct PLYReader {
    enum Encoding { case ascii, littleEndian, bigEndian }

    enum ScalarType: String {
        case int8, uint8, int16, uint16, int32, uint32, float32, float64

        init?(name: Substring) {
            switch name {
            case "char", "int8": self = .int8
            case "uchar", "uint8": self = .uint8
            case "short", "int16": self = .int16
            case "ushort", "uint16": self = .uint16
            case "int", "int32": self = .int32
            case "uint", "uint32": self = .uint32
            case "float", "float32": self = .float32
            case "double", "float64": self = .float64
            default: return nil
            }
        }

        var size: Int {
            switch self {
            case .int8, .uint8: 1
            case .int16, .uint16: 2
            case .int32, .uint32, .float32: 4
            case .float64: 8
            }
        }
    }

    struct Property {
        var name: Substring
        var type: ScalarType
        /// For list properties, the type of the leading count.
        var countType: ScalarType?
    }

    struct Element {
        var name: Substring
        var count: Int
        var properties: [Property] = []
    }

    let limits: ImportLimits

    /// Parses a whole PLY file.
    func read(_ data: Data) throws(MeshError) -> Mesh {
        let bytes = [UInt8](data)
        let (encoding, elements, bodyStart) = try parseHeader(bytes)
        var cursor = Cursor(bytes: bytes, offset: bodyStart, encoding: encoding)
        var positions: [Float] = []
        var indices: [UInt32] = []
        var vertexCount = 0
        for element in elements {
            switch element.name {
            case "vertex":
                let axes = ["x", "y", "z"].map { axis in element.properties.firstIndex { $0.name == axis } }
                guard let xi = axes[0], let yi = axes[1], let zi = axes[2] else {
                    throw Self.error("the vertex element lacks an x, y or z property")
                }
                positions.reserveCapacity(element.count * 3)
                var values = [Double](repeating: 0, count: element.properties.count)
                for v in 0..<element.count {
                    for (p, property) in element.properties.enumerated() {
                        if let countType = property.countType {
                            try cursor.skipList(countType: countType, itemType: property.type, context: "vertex \(v)")
                        } else {
                            values[p] = try cursor.scalar(property.type, context: "vertex \(v)")
                        }
                    }
                    positions += [Float(values[xi]), Float(values[yi]), Float(values[zi])]
                }
                vertexCount = element.count
            case "face", "tristrips":
                let strips = element.name == "tristrips"
                guard
                    let listIndex = element.properties.firstIndex(where: {
                        $0.countType != nil && ($0.name == "vertex_indices" || $0.name == "vertex_index")
                    })
                else {
                    throw Self.error("the \(element.name) element has no vertex_indices list")
                }
                if !strips { indices.reserveCapacity(element.count * 3) }
                var corners: [UInt32] = []
                for f in 0..<element.count {
                    for (p, property) in element.properties.enumerated() {
                        guard let countType = property.countType else {
                            _ = try cursor.scalar(property.type, context: "\(element.name) \(f)")
                            continue
                        }
                        guard p == listIndex else {
                            try cursor.skipList(
                                countType: countType, itemType: property.type, context: "\(element.name) \(f)")
                            continue
                        }
                        let count = try cursor.scalar(countType, context: "\(element.name) \(f)")
                        // A strip holds at most one index per byte left; a face at most 1024 corners.
                        guard count >= 0, count <= (strips ? Double(bytes.count - cursor.offset) : 1024) else {
                            throw Self.error("\(element.name) \(f) claims \(count) indices")
                        }
                        corners.removeAll(keepingCapacity: true)
                        for _ in 0..<Int(count) {
                            let index = try cursor.scalar(property.type, context: "\(element.name) \(f)")
                            if strips, index == -1 {  // restart: the next index begins a new strip
                                Self.appendStrip(corners, to: &indices)
                                corners.removeAll(keepingCapacity: true)
                                continue
                            }
                            guard index >= 0, index < Double(vertexCount) else {
                                throw MeshError.indexOutOfRange(
                                    triangle: indices.count / 3, index: Int(exactly: index.rounded()) ?? -1,
                                    vertexCount: vertexCount)
                            }
                            corners.append(UInt32(index))
                        }
                        if strips {
                            Self.appendStrip(corners, to: &indices)
                        } else if corners.count >= 3 {
                            // Polygons become fans; points and lines carry no triangles.
                            for k in 1..<(corners.count - 1) { indices += [corners[0], corners[k], corners[k + 1]] }
                        }
                    }
                    if indices.count / 3 > limits.maxTriangles {
                        throw .tooManyTriangles(count: indices.count / 3, limit: limits.maxTriangles)
                    }
                }
            default:
                for i in 0..<element.count {
                    for property in element.properties {
                        if let countType = property.countType {
                            try cursor.skipList(
                                countType: countType, itemType: property.type, context: "\(element.name) \(i)")
                        } else {
                            _ = try cursor.scalar(property.type, context: "\(element.name) \(i)")
                        }
                    }
                }
            }
        }
        if indices.isEmpty { throw .noTriangles }
        return Mesh(positions: positions, indices: indices)
    }

    /// Triangles of one strip: triangle k is (s[k], s[k+1], s[k+2]) with
    /// the first two swapped when k is odd, so every triangle keeps the
    /// strip's winding. Degenerate triangles (a repeated index, which
    /// strips use to join runs) are dropped; they still count for parity.
    static func appendStrip(_ strip: [UInt32], to indices: inout [UInt32]) {
        guard strip.count >= 3 else { return }
        for k in 0..<(strip.count - 2) {
            let (a, b, c) = (strip[k], strip[k + 1], strip[k + 2])
            if a == b || b == c || a == c { continue }
            if k % 2 == 0 { indices += [a, b, c] } else { indices += [b, a, c] }
        }
    }

    private func parseHeader(_ bytes: [UInt8]) throws(MeshError) -> (Encoding, [Element], Int) {
        // The header is text ending with "end_header\n"; 64 KiB is plenty.
        let window = bytes.prefix(65_536)
        guard let end = Self.find(Array("end_header".utf8), in: window) else {
            throw Self.error("no end_header line in the first 64 KiB")
        }
        var bodyStart = end + "end_header".utf8.count
        if bodyStart < bytes.count, bytes[bodyStart] == 0x0D { bodyStart += 1 }
        if bodyStart < bytes.count, bytes[bodyStart] == 0x0A { bodyStart += 1 }

        let header = String(decoding: bytes[..<end], as: UTF8.self)
        var lines = header.split(whereSeparator: \.isNewline).makeIterator()
        guard lines.next()?.trimmingSpaces == "ply" else { throw Self.error("the first line is not 'ply'") }
        var encoding: Encoding?
        var elements: [Element] = []
        var claimedBytes = 0
        while let rawLine = lines.next() {
            let words = rawLine.split(whereSeparator: { $0 == " " || $0 == "\t" })
            guard let keyword = words.first else { continue }
            switch keyword {
            case "format":
                guard words.count >= 2 else { throw Self.error("format line without an encoding") }
                switch words[1] {
                case "ascii": encoding = .ascii
                case "binary_little_endian": encoding = .littleEndian
                case "binary_big_endian": encoding = .bigEndian
                default: throw Self.error("unknown encoding '\(words[1])'")
                }
            case "element":
                guard words.count == 3, let count = Int(words[2]), count >= 0 else {
                    throw Self.error("bad element line '\(rawLine)'")
                }
                if words[1] == "face", count > limits.maxTriangles {
                    throw .tooManyTriangles(count: count, limit: limits.maxTriangles)
                }
                guard count <= bytes.count else {
                    throw Self.error(
                        "element \(words[1]) claims \(count) entries but the file has only \(bytes.count) bytes")
                }
                elements.append(Element(name: words[1], count: count))
            case "property":
                guard !elements.isEmpty else { throw Self.error("property before any element") }
                if words.count == 5, words[1] == "list" {
                    guard let countType = ScalarType(name: words[2]), let itemType = ScalarType(name: words[3]) else {
                        throw Self.error("bad list property '\(rawLine)'")
                    }
                    elements[elements.count - 1].properties.append(
                        Property(name: words[4], type: itemType, countType: countType))
                } else if words.count == 3, let type = ScalarType(name: words[1]) {
                    elements[elements.count - 1].properties.append(Property(name: words[2], type: type))
                } else {
                    throw Self.error("bad property line '\(rawLine)'")
                }
            case "comment", "obj_info":
                continue
            default:
                throw Self.error("unexpected header line '\(rawLine.prefix(60))'")
            }
        }
        guard let encoding else { throw Self.error("no format line") }
        // Every entry takes at least one byte per scalar (binary) or two
        // characters (ASCII): reject impossible claims before allocating.
        for element in elements {
            let perEntry = element.properties.reduce(0) { $0 + ($1.countType?.size ?? $1.type.size) }
            claimedBytes += element.count * (encoding == .ascii ? 2 * element.properties.count : perEntry)
        }
        guard claimedBytes <= bytes.count - bodyStart else {
            throw Self.error(
                "the header announces at least \(claimedBytes) bytes of data but only \(bytes.count - bodyStart) follow"
            )
        }
        return (encoding, elements, bodyStart)
    }

    static func error(_ reason: String) -> MeshError {
        .malformed(format: "PLY", reason: reason)
    }

    static func find(_ needle: [UInt8], in haystack: ArraySlice<UInt8>) -> Int? {
        guard haystack.count >= needle.count else { return nil }
        var i = haystack.startIndex
        while i <= haystack.endIndex - needle.count {
            if haystack[i] == needle[0], haystack[i..<(i + needle.count)].elementsEqual(needle) { return i }
            i += 1
        }
        return nil
    }

    /// Reads scalars from the body in the file's encoding, bounds-checked.
    struct Cursor {
        let bytes: [UInt8]
        var offset: Int
        let encoding: Encoding

        mutating func scalar(_ type: ScalarType, context: @autoclosure () -> String) throws(MeshError) -> Double {
            if encoding == .ascii { return try asciiNumber(context()) }
            guard offset + type.size <= bytes.count else {
                throw PLYReader.error("the data ends early, in \(context())")
            }
            var raw: UInt64 = 0
            for k in 0..<type.size {
                let byte = UInt64(bytes[offset + (encoding == .littleEndian ? k : type.size - 1 - k)])
                raw |= byte << (8 * UInt64(k))
            }
            offset += type.size
            switch type {
            case .int8: return Double(Int8(truncatingIfNeeded: raw))
            case .uint8: return Double(UInt8(truncatingIfNeeded: raw))
            case .int16: return Double(Int16(truncatingIfNeeded: raw))
            case .uint16: return Double(UInt16(truncatingIfNeeded: raw))
            case .int32: return Double(Int32(truncatingIfNeeded: raw))
            case .uint32: return Double(UInt32(truncatingIfNeeded: raw))
            case .float32: return Double(Float(bitPattern: UInt32(truncatingIfNeeded: raw)))
            case .float64: return Double(bitPattern: raw)
            }
        }

        mutating func skipList(countType: ScalarType, itemType: ScalarType, context: @autoclosure () -> String)
            throws(MeshError)
        {
            let count = try scalar(countType, context: context())
            guard count >= 0, count <= 1_000_000 else {
                throw PLYReader.error("list of \(count) items in \(context())")
            }
            for _ in 0..<Int(count) { _ = try scalar(itemType, context: context()) }
        }

        private mutating func asciiNumber(_ context: String) throws(MeshError) -> Double {
            while offset < bytes.count,
                bytes[offset] == 0x20 || bytes[offset] == 0x09 || bytes[offset] == 0x0A
                    || bytes[offset] == 0x0D
            {
                offset += 1
            }
            let start = offset
            while offset < bytes.count,
                !(bytes[offset] == 0x20 || bytes[offset] == 0x09 || bytes[offset] == 0x0A
                    || bytes[offset] == 0x0D)
            {
                offset += 1
            }
            guard offset > start else { throw PLYReader.error("the data ends early, in \(context)") }
            guard offset - start <= 64, let value = Double(String(decoding: bytes[start..<offset], as: UTF8.self))
            else {
                throw PLYReader.error(
                    "'\(String(decoding: bytes[start..<min(offset, start + 20)], as: UTF8.self))' is not a number, in \(context)"
                )
            }
            return value
        }
    }
}

extension Substring {
    fileprivate var trimmingSpaces: Substring {
        var s = self
        while s.first == " " || s.first == "\t" || s.first == "\r" { s.removeFirst() }
        while s.last == " " || s.last == "\t" || s.last == "\r" { s.removeLast() }
        return s
    }
}
