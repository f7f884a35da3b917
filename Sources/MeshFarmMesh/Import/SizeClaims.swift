import Foundation

/// Checks what a file's body claims (GLB chunk lengths, glTF buffer, view
/// and accessor sizes, OBJ and ASCII STL face counts) against the file and
/// the limits before assimp allocates for it. Header claims (binary STL,
/// PLY, OFF) are checked by ``FormatDetector``; 3MF and zip containers by
/// their readers.
enum SizeClaims {
    /// `sideFileRoot`: the folder a multi-file upload was unpacked into, where
    /// external glTF buffers may live; nil for a single uploaded file.
    static func check(path: String, format: ModelFormat, fileSize: Int, limits: ImportLimits, sideFileRoot: String?)
        throws(MeshError)
    {
        switch format {
        case .glb: try checkGLB(path: path, fileSize: fileSize, limits: limits, sideFileRoot: sideFileRoot)
        case .gltf:
            let json = try readJSON(path, bytes: fileSize, format: "glTF")
            try GLTFClaims(json: json, binaryChunkBytes: nil, modelPath: path, sideFileRoot: sideFileRoot)
                .check(limits: limits)
        case .obj:
            // A face line gives at most one triangle per two bytes ("f 1 2 3 4 ..."): only
            // files big enough to exceed the limit need counting.
            if fileSize / 2 > limits.maxTriangles {
                try checkCount(countOBJTriangles(path), limits: limits)
            }
        case .stlASCII:
            // "facet normal 0 0 0 outer loop vertex ... endloop endfacet" takes at least ~80 bytes.
            if fileSize / 64 > limits.maxTriangles {
                try checkCount(countLines(path, startingWith: Array("facet".utf8)), limits: limits)
            }
        default:
            break
        }
    }

    static func checkCount(_ count: Int, limits: ImportLimits) throws(MeshError) {
        if count > limits.maxTriangles { throw .tooManyTriangles(count: count, limit: limits.maxTriangles) }
    }

    // MARK: - GLB

    /// GLB 2.0: a 12-byte header (magic, version, total length), then a JSON
    /// chunk and an optional BIN chunk, each with an 8-byte header (length, type).
    static func checkGLB(path: String, fileSize: Int, limits: ImportLimits, sideFileRoot: String?) throws(MeshError) {
        let handle = try open(path)
        defer { try? handle.close() }
        let header = try read(handle, at: 0, count: 20, path: path)
        guard header.count == 20 else { throw glbError("the file is shorter than the GLB header") }
        let version = le32(header, 4)
        let length = Int(le32(header, 8))
        guard length == fileSize else {
            throw glbError("the header declares \(length) bytes but the file has \(fileSize)")
        }
        guard version == 2 else {
            if version == 1 { return }  // glTF 1.0 binary: only its total length is checked
            throw glbError("version \(version) is not 1 or 2")
        }
        let jsonLength = Int(le32(header, 12))
        guard le32(header, 16) == 0x4E4F_534A else { throw glbError("the first chunk is not JSON") }
        guard jsonLength <= fileSize - 20 else {
            throw glbError("the JSON chunk declares \(jsonLength) bytes but only \(fileSize - 20) follow")
        }
        var binaryLength: Int?
        let next = 20 + jsonLength + (4 - jsonLength % 4) % 4
        if next + 8 <= fileSize {
            let chunk = try read(handle, at: next, count: 8, path: path)
            let declared = Int(le32(chunk, 0))
            if le32(chunk, 4) == 0x004E_4942 {
                guard declared <= fileSize - next - 8 else {
                    throw glbError("the BIN chunk declares \(declared) bytes but only \(fileSize - next - 8) follow")
                }
                binaryLength = declared
            }
        }
        let jsonData = try read(handle, at: 20, count: jsonLength, path: path)
        let json = try parseJSON(Data(jsonData), format: "GLB")
        try GLTFClaims(json: json, binaryChunkBytes: binaryLength, modelPath: path, sideFileRoot: sideFileRoot)
            .check(limits: limits)
    }

    static func glbError(_ reason: String) -> MeshError { .malformed(format: "GLB", reason: reason) }

    // MARK: - Text scans

    /// Triangles the `f` lines of an OBJ make after fan triangulation.
    static func countOBJTriangles(_ path: String) throws(MeshError) -> Int {
        var triangles = 0
        try scanLines(path) { line in
            guard line.count > 2, line[line.startIndex] == UInt8(ascii: "f"),
                line[line.startIndex + 1] == 0x20 || line[line.startIndex + 1] == 0x09
            else { return }
            var corners = 0
            var inWord = false
            for byte in line.dropFirst() {
                let space = byte == 0x20 || byte == 0x09 || byte == 0x0D
                if !space && !inWord { corners += 1 }
                inWord = !space
            }
            triangles += max(0, corners - 2)
        }
        return triangles
    }

    static func countLines(_ path: String, startingWith keyword: [UInt8]) throws(MeshError) -> Int {
        var count = 0
        try scanLines(path) { line in
            if line.starts(with: keyword) { count += 1 }
        }
        return count
    }

    /// Calls `body` with each line (leading blanks removed), reading 1 MiB at a time.
    static func scanLines(_ path: String, _ body: (ArraySlice<UInt8>) -> Void) throws(MeshError) {
        let handle = try open(path)
        defer { try? handle.close() }
        var carry: [UInt8] = []
        while true {
            let chunk: Data?
            do { chunk = try handle.read(upToCount: 1 << 20) } catch {
                throw .unreadable(path: path, reason: "\(error)")
            }
            guard let chunk, !chunk.isEmpty else { break }
            carry.append(contentsOf: chunk)
            var start = 0
            while let newline = carry[start...].firstIndex(of: 0x0A) {
                var line = carry[start..<newline]
                while let first = line.first, first == 0x20 || first == 0x09 { line = line.dropFirst() }
                body(line)
                start = newline + 1
            }
            carry.removeFirst(start)
            if carry.count > 1 << 24 { carry.removeAll() }  // a 16 MiB line: not a face line worth counting
        }
        body(carry[...])
    }

    // MARK: - Files

    static func open(_ path: String) throws(MeshError) -> FileHandle {
        guard let handle = FileHandle(forReadingAtPath: path) else {
            throw .unreadable(path: path, reason: "cannot open")
        }
        return handle
    }

    static func read(_ handle: FileHandle, at offset: Int, count: Int, path: String) throws(MeshError) -> [UInt8] {
        do {
            try handle.seek(toOffset: UInt64(offset))
            return [UInt8](try handle.read(upToCount: count) ?? Data())
        } catch {
            throw .unreadable(path: path, reason: "\(error)")
        }
    }

    static func readJSON(_ path: String, bytes: Int, format: String) throws(MeshError) -> [String: Any] {
        let data: Data
        do { data = try Data(contentsOf: URL(fileURLWithPath: path)) } catch {
            throw .unreadable(path: path, reason: "\(error)")
        }
        return try parseJSON(data, format: format)
    }

    static func parseJSON(_ data: Data, format: String) throws(MeshError) -> [String: Any] {
        guard let object = try? JSONSerialization.jsonObject(with: data), let json = object as? [String: Any] else {
            throw .malformed(format: format, reason: "the JSON is not a valid glTF document (not a JSON object)")
        }
        return json
    }

    @inline(__always) static func le32(_ b: [UInt8], _ i: Int) -> UInt32 {
        UInt32(b[i]) | UInt32(b[i + 1]) << 8 | UInt32(b[i + 2]) << 16 | UInt32(b[i + 3]) << 24
    }
}
