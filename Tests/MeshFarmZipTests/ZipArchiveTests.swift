import Foundation
import MeshFarmTestSupport
import MeshFarmZip
import Testing

/// The zip reader against archives built entry by entry, honest and hostile.
@Suite struct ZipArchiveTests {
    let directory = TestEnvironment.outputDirectory("zip")

    func write(_ name: String, _ data: Data) throws -> String {
        let path = directory.appendingPathComponent(name).path
        try data.write(to: URL(fileURLWithPath: path))
        return path
    }

    func open(_ data: Data, limits: ZipLimits = ZipLimits()) throws -> ZipArchive {
        try ZipArchive(path: try write("a-\(UUID().uuidString.prefix(6)).zip", data), limits: limits)
    }

    func error(_ data: Data, limits: ZipLimits = ZipLimits()) -> ZipError? {
        do {
            let archive = try open(data, limits: limits)
            for entry in archive.entries { _ = try archive.data(of: entry, limit: 1 << 30) }
            return nil
        } catch let error as ZipError { return error } catch { return .corrupt("\(error)") }
    }

    static let text = Data(String(repeating: "MeshFarm reads zip archives. ", count: 400).utf8)

    @Test func storedAndDeflatedEntriesReadBack() throws {
        var writer = ZipWriter()
        try writer.add("stored.txt", Self.text, method: .stored)
        try writer.add("folder/deflated.txt", Self.text, method: .deflate)
        try writer.add("empty.txt", Data(), method: .stored)
        let archive = try open(writer.finish())
        #expect(archive.entries.map(\.name) == ["stored.txt", "folder/deflated.txt", "empty.txt"])
        let deflated = try #require(archive.entry(named: "FOLDER/Deflated.TXT"))  // case-insensitive, as OPC
        #expect(deflated.compressedSize < Self.text.count / 10)
        #expect(try archive.data(of: deflated, limit: 1 << 20) == Self.text)
        #expect(try archive.data(of: archive.entries[0], limit: 1 << 20) == Self.text)
        #expect(try archive.data(of: archive.entries[2], limit: 10).isEmpty)
        #expect(archive.totalUncompressedBytes == 2 * Self.text.count)
    }

    @Test func aStreamedArchiveReadsBackHereAndInPython() throws {
        var stream = ZipStream()
        var archive = Data()
        for (name, data) in [("report.json", Data("{}".utf8)), ("views/lod0-view0.png", Self.text), ("empty", Data())] {
            archive += try stream.begin(name)
            // In pieces, as files are streamed from disk.
            for start in stride(from: 0, to: data.count, by: 1000) {
                archive += try stream.data(data[start..<min(data.count, start + 1000)])
            }
            archive += try stream.end()
        }
        archive += try stream.finish()
        let path = try write("streamed.zip", archive)
        let read = try ZipArchive(path: path)
        #expect(read.entries.map(\.name) == ["report.json", "views/lod0-view0.png", "empty"])
        #expect(try read.data(of: read.entries[1], limit: 1 << 20) == Self.text)
        #expect(try read.data(of: read.entries[0], limit: 10) == Data("{}".utf8))
        // Another reader checks the CRCs and the data descriptors too.
        let check = try ChildProcess.run(
            "/usr/bin/env",
            ["python3", "-c", "import zipfile, sys; z = zipfile.ZipFile(sys.argv[1]); print(z.testzip())", path])
        #expect(check.status == 0 && check.stdoutText.trimmingCharacters(in: .whitespacesAndNewlines) == "None")
        var misuse = ZipStream()
        #expect(throws: ZipError.self) { try misuse.end() }
        _ = try misuse.begin("a")
        #expect(throws: ZipError.self) { try misuse.finish() }
    }

    @Test func archiveWrittenByPythonReads() throws {
        // An archive from another writer (CPython's zipfile, deflate, a comment, a data descriptor-free layout).
        let path = directory.appendingPathComponent("python.zip").path
        let script = """
            import zipfile, sys
            with zipfile.ZipFile(sys.argv[1], 'w', zipfile.ZIP_DEFLATED) as z:
                z.comment = b'a comment at the end'
                z.writestr('a/b.txt', 'hello ' * 1000)
                z.writestr('c.bin', bytes(range(256)) * 50)
            """
        let outcome = try ChildProcess.run("/usr/bin/env", ["python3", "-c", script, path])
        try #require(outcome.status == 0, "\(outcome.stderrText)")
        let archive = try ZipArchive(path: path)
        #expect(try archive.data(of: try #require(archive.entry(named: "a/b.txt")), limit: 1 << 20).count == 6000)
        let binary = try archive.data(of: try #require(archive.entry(named: "c.bin")), limit: 1 << 20)
        #expect(binary == Data((0..<50).flatMap { _ in (0..<256).map { UInt8($0) } }))
    }

    @Test func declaredSizesOverTheLimitsAreRefusedBeforeInflating() throws {
        var writer = ZipWriter()
        try writer.add("big.txt", Self.text)
        let data = writer.finish()
        #expect(
            error(data, limits: ZipLimits(maxEntryBytes: 1000))
                == .overLimit(
                    "'big.txt' would inflate to \(Self.text.count) bytes, over the limit of 1000"))
        #expect(error(data, limits: ZipLimits(maxTotalBytes: 1000))?.description.contains("the limit") == true)
        #expect(error(data, limits: ZipLimits(maxEntries: 0))?.description.contains("1 entries") == true)

        // A classic bomb: 64 MiB of zeros deflate to ~64 KiB (ratio ~1000:1).
        var bomb = ZipWriter()
        try bomb.add("zeros", Data(count: 64 << 20))
        let bombError = error(bomb.finish())
        #expect(bombError?.description.contains("compression ratio") == true, "\(String(describing: bombError))")
    }

    @Test func anEntryThatInflatesBeyondItsDeclaredSizeStops() throws {
        var writer = ZipWriter()
        try writer.add("lies.txt", Self.text)
        var bytes = [UInt8](writer.finish())
        // Declare 100 bytes in both headers; the data inflates to 12,000.
        patch32(&bytes, at: 22, 100)
        let directory = try #require(find(bytes, [0x50, 0x4B, 0x01, 0x02]))
        patch32(&bytes, at: directory + 24, 100)
        let e = error(Data(bytes))
        #expect(
            e?.description.contains("inflates to more than its declared 100 bytes") == true, "\(String(describing: e))")
    }

    @Test func corruptedDataFailsItsChecksum() throws {
        var writer = ZipWriter()
        try writer.add("a.txt", Self.text, method: .stored)
        var bytes = [UInt8](writer.finish())
        bytes[30 + 5 + 100] ^= 0xFF  // a byte of the stored data
        #expect(error(Data(bytes)) == .corrupt("'a.txt' fails its CRC-32 check"))
    }

    @Test(arguments: [
        ("../escape.txt", "climbs out"), ("a/../../b", "climbs out"), ("/etc/passwd", "absolute"),
        ("C:\\windows\\x", "drive"), ("a\\..\\..\\x", "climbs out"), ("a//b", "empty path component"),
    ])
    func unsafeNamesAreRefused(name: String, reason: String) throws {
        var writer = ZipWriter()
        try writer.add(name, Data("x".utf8))
        let e = error(writer.finish())
        guard case .unsafePath(let message)? = e else {
            Issue.record("expected an unsafe path error, got \(String(describing: e))")
            return
        }
        #expect(message.contains(reason), "\(message)")
    }

    @Test func symbolicLinksAndDuplicatesAreRefused() throws {
        var link = ZipWriter()
        try link.add("model.bin", Data("/etc/passwd".utf8), method: .stored, unixMode: 0o120777)
        #expect(error(link.finish()) == .unsafePath("'model.bin' is a symbolic link"))

        var twins = ZipWriter()
        try twins.add("Model.obj", Data("a".utf8))
        try twins.add("model.OBJ", Data("b".utf8))
        #expect(error(twins.finish()) == .corrupt("two entries are named 'model.OBJ'"))
    }

    @Test func overlappingEntriesAreRefused() throws {
        // Two directory records pointing at the same local data: the "overlapping files" bomb.
        var writer = ZipWriter()
        try writer.add("a.txt", Self.text)
        try writer.add("b.txt", Self.text)
        var bytes = [UInt8](writer.finish())
        var directory = try #require(find(bytes, [0x50, 0x4B, 0x01, 0x02]))
        directory = try #require(find(bytes, [0x50, 0x4B, 0x01, 0x02], from: directory + 4))
        patch32(&bytes, at: directory + 42, 0)  // b.txt's local header offset := a.txt's
        // b's name in the local header is now "a.txt": the mismatch or the overlap is caught.
        let e = error(Data(bytes))
        #expect(
            e?.description.contains("local header names another file") == true
                || e?.description.contains("overlap") == true)
    }

    @Test func truncatedAndForeignFilesAreNotArchives() throws {
        var writer = ZipWriter()
        try writer.add("a.txt", Self.text)
        let full = writer.finish()
        #expect(error(full.prefix(full.count - 10))?.description.contains("not a zip archive") == true)
        #expect(error(Data("PK\u{3}\u{4} not really".utf8))?.description.contains("not a zip archive") == true)
        // A directory that claims far more entries than it has room for.
        var bytes = [UInt8](full)
        let end = bytes.count - 22
        bytes[end + 8] = 0xFF
        bytes[end + 9] = 0x0F
        bytes[end + 10] = 0xFF
        bytes[end + 11] = 0x0F
        #expect(error(Data(bytes)).map { "\($0)" }?.contains("room for") == true)
    }

    @Test func encryptionAndOtherMethodsAreUnsupported() throws {
        var writer = ZipWriter()
        try writer.add("a.txt", Self.text, method: .stored)
        var encrypted = [UInt8](writer.finish())
        let directory = try #require(find(encrypted, [0x50, 0x4B, 0x01, 0x02]))
        encrypted[directory + 8] |= 1
        #expect(error(Data(encrypted)) == .unsupported("'a.txt' is encrypted"))

        var lzma = [UInt8](writer.finish())
        lzma[directory + 10] = 14
        #expect(error(Data(lzma))?.description.contains("compression method 14") == true)
    }

    func patch32(_ bytes: inout [UInt8], at offset: Int, _ value: UInt32) {
        for k in 0..<4 { bytes[offset + k] = UInt8((value >> (8 * UInt32(k))) & 0xFF) }
    }

    func find(_ bytes: [UInt8], _ needle: [UInt8], from start: Int = 0) -> Int? {
        var i = start
        while i + needle.count <= bytes.count {
            if Array(bytes[i..<(i + needle.count)]) == needle { return i }
            i += 1
        }
        return nil
    }
}
