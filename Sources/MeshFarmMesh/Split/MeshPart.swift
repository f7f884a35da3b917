import Foundation

/// One spatial part of a split mesh (``MeshPartition``): a compact mesh
/// whose first ``cutVertexCount`` vertices lie on a cut, shared with
/// neighbouring parts. Reduction keeps those in place (they lie on the
/// part's open border), so the parts still meet exactly when stitched
/// (``MeshStitcher``).
public struct MeshPart: Sendable, Equatable {
    public var mesh: Mesh
    /// Vertices `0..<cutVertexCount` lie on a cut.
    public var cutVertexCount: Int

    public init(mesh: Mesh, cutVertexCount: Int) {
        self.mesh = mesh
        self.cutVertexCount = cutVertexCount
    }

    /// How far above the level's ratio a part stops: the stitch's seam
    /// pass removes the rest, from the whole merged mesh with nothing
    /// locked, so that the cuts' and the holes' borders (frozen in the
    /// parts) are simplified too. The seam pass runs alone, after every
    /// part, and starts its error quadrics afresh: measured on 8M
    /// triangles (`scripts/bench split`), a reserve of 1.5 made the stitch
    /// take 0.7 s and the result 0.79 of the unsplit RMS deviation; 1.25,
    /// 0.33 s and 0.70; 1.1, 0.25 s and 0.67, but an open model's holes
    /// then kept nearly all their border edges.
    public static let seamReserve = 1.25

    /// Reduces the part toward `ratio` (× ``seamReserve``) of its
    /// triangles with its cut vertices and the ring of vertices next to
    /// them locked, and never the sloppy fallback (it would move cut
    /// vertices). The result keeps the cut vertices first.
    ///
    /// meshoptimizer 0.18 has no per-vertex lock, only
    /// `meshopt_SimplifyLockBorder`, which locks every vertex on an open
    /// border: the cuts, and also the model's own open borders inside the
    /// part (the stitch's seam pass lets those simplify again). Locking the
    /// cuts alone is not enough: both neighbours of a cut may reduce the
    /// strip along it to triangles of cut vertices only, which, welded, lie
    /// on each other as zero-volume fins on non-manifold edges. So the ring
    /// next to the cuts is locked too, by making each of its vertices a
    /// border vertex: a tiny flap triangle (the vertex and two new ones a
    /// hundred-thousandth of the part's size away) that the reduction
    /// cannot touch and that is dropped afterwards. The strip between the
    /// cut and the ring then stays as it is, and the seam pass simplifies
    /// it with the rest.
    public func reduced(ratio: Double) throws(MeshError) -> (part: MeshPart, reduction: Simplifier.Reduction) {
        guard ratio > 0, ratio <= 1, ratio.isFinite else {
            throw .invalidRequest("reduction ratio must be in (0, 1], got \(ratio)")
        }
        let vertexCount = mesh.vertexCount
        var ring = [Bool](repeating: false, count: vertexCount)
        for t in 0..<mesh.triangleCount {
            let corners = mesh.indices[(3 * t)..<(3 * t + 3)].map(Int.init)
            guard corners.contains(where: { $0 < cutVertexCount }) else { continue }
            for v in corners where v >= cutVertexCount { ring[v] = true }
        }
        // A part reduced to little more than its locked vertices has no
        // inside left: pushed further, meshoptimizer squeezes it flat and
        // makes non-manifold edges. It stops at twice as many triangles as
        // it has locked vertices; the seam pass does the rest, globally.
        let locked = cutVertexCount + ring.lazy.filter { $0 }.count
        let target = min(
            mesh.triangleCount,
            max(1, 2 * locked, Int((Double(mesh.triangleCount) * min(1, ratio * Self.seamReserve)).rounded())))
        var flapped = mesh
        let offset = (mesh.bounds?.largestSide ?? 1) * 1e-5
        var flaps = 0
        for v in cutVertexCount..<vertexCount where ring[v] {
            let p = mesh.position(v)
            let first = UInt32(flapped.vertexCount)
            flapped.positions += [p.x + offset, p.y, p.z, p.x, p.y + offset, p.z]
            flapped.indices += [UInt32(v), first, first + 1]
            flaps += 1
        }
        var reduction = try Simplifier(lockBorder: true).reduce(flapped, to: .triangles(target + flaps))
        reduction.indices = Self.withoutFlaps(reduction.indices, vertexCount: vertexCount)
        reduction.targetTriangles = target
        var compactor = VertexCompactor(vertexCount: vertexCount)
        let part = compactor.compact(
            positions: mesh.positions, indices: reduction.indices, triangles: 0..<(reduction.indices.count / 3),
            isCut: { $0 < cutVertexCount })
        return (part, reduction)
    }

    /// The triangles that use none of the flaps' vertices.
    private static func withoutFlaps(_ indices: [UInt32], vertexCount: Int) -> [UInt32] {
        var kept: [UInt32] = []
        kept.reserveCapacity(indices.count)
        for t in 0..<(indices.count / 3) {
            let triangle = indices[(3 * t)..<(3 * t + 3)]
            if triangle.allSatisfy({ Int($0) < vertexCount }) { kept += triangle }
        }
        return kept
    }
}

/// Renumbers the vertices a set of triangles uses: cut vertices first,
/// then the rest, each in first-use order. The scratch arrays are sized
/// for the source mesh once and reused for every part cut from it.
struct VertexCompactor {
    private var local: [UInt32]
    private var stamp: [UInt32]
    private var round: UInt32 = 0

    init(vertexCount: Int) {
        local = [UInt32](repeating: 0, count: vertexCount)
        stamp = [UInt32](repeating: 0, count: vertexCount)
    }

    /// The triangles numbered by `triangles` of (`positions`, `indices`) as
    /// a compact part.
    mutating func compact(
        positions: [Float], indices: [UInt32], triangles: some Collection<Int>, isCut: (Int) -> Bool
    ) -> MeshPart {
        round += 1
        var newPositions: [Float] = []
        var cutCount = 0
        for wantCut in [true, false] {
            for t in triangles {
                for corner in 0..<3 {
                    let v = Int(indices[3 * t + corner])
                    guard stamp[v] != round, isCut(v) == wantCut else { continue }
                    stamp[v] = round
                    local[v] = UInt32(newPositions.count / 3)
                    newPositions.append(contentsOf: positions[(3 * v)..<(3 * v + 3)])
                }
            }
            if wantCut { cutCount = newPositions.count / 3 }
        }
        var newIndices: [UInt32] = []
        newIndices.reserveCapacity(3 * triangles.count)
        for t in triangles {
            for corner in 0..<3 { newIndices.append(local[Int(indices[3 * t + corner])]) }
        }
        return MeshPart(mesh: Mesh(positions: newPositions, indices: newIndices), cutVertexCount: cutCount)
    }
}

/// Puts reduced parts back together.
public enum MeshStitcher {
    /// Merges `parts` (``merge(_:)``), then the seam pass: one global
    /// reduction of the merged mesh (already about the target's size) to
    /// `targetTriangles`, with nothing locked, so the former cuts and the
    /// model's own open borders, frozen while the parts were reduced,
    /// simplify like the rest; with the unsplit reducer's sloppy fallback.
    /// The error, in model units, adds the parts' largest error to the
    /// seam pass's: an estimate of how far the result is from the original
    /// (meshoptimizer's errors are quadric estimates, and the seam pass's
    /// refers to the merged mesh).
    public static func stitch(_ parts: [MeshPart], targetTriangles: Int, partsErrorAbsolute: Double)
        throws(MeshError) -> Simplifier.Result
    {
        let merged = merge(parts)
        var result = try Simplifier().simplify(merged, to: .triangles(targetTriangles))
        result.targetTriangles = targetTriangles
        result.errorAbsolute += partsErrorAbsolute
        let scale = Double(merged.bounds?.largestSide ?? 0)
        result.error = scale > 0 ? result.errorAbsolute / scale : 0
        return result
    }

    /// One mesh of all `parts`' triangles, in part order, with cut vertices
    /// at the same position welded into one (exact bit equality: a cut
    /// vertex is the same source vertex in every part that has it, and
    /// reduction never moves it). Other vertices are kept as they are.
    public static func merge(_ parts: [MeshPart]) -> Mesh {
        var positions: [Float] = []
        positions.reserveCapacity(parts.reduce(0) { $0 + $1.mesh.positions.count })
        var indices: [UInt32] = []
        indices.reserveCapacity(parts.reduce(0) { $0 + $1.mesh.indices.count })
        var welded: [SIMD3<UInt32>: UInt32] = [:]
        for part in parts {
            var remap = [UInt32](repeating: 0, count: part.mesh.vertexCount)
            for v in 0..<part.mesh.vertexCount {
                let p = part.mesh.position(v)
                if v < part.cutVertexCount {
                    let key = SIMD3(p.x.bitPattern, p.y.bitPattern, p.z.bitPattern)
                    if let existing = welded[key] {
                        remap[v] = existing
                        continue
                    }
                    welded[key] = UInt32(positions.count / 3)
                }
                remap[v] = UInt32(positions.count / 3)
                positions.append(contentsOf: [p.x, p.y, p.z])
            }
            for index in part.mesh.indices { indices.append(remap[Int(index)]) }
        }
        return Mesh(positions: positions, indices: indices)
    }
}

/// The artifact of a ``MeshPart``: a mesh artifact behind a 16-byte header.
///
/// | offset | size | field |
/// |---|---|---|
/// | 0 | 8 | magic `MFPART\r\n` |
/// | 8 | 8 | cut vertex count C (little-endian; the first C vertices lie on a cut) |
/// | 16 | rest | a ``MeshArtifact`` (with its own counts and checksum) |
public enum PartArtifact {
    public static let magic: [UInt8] = Array("MFPART\r\n".utf8)

    public static func encode(_ part: MeshPart) -> Data {
        var data = Data(magic)
        withUnsafeBytes(of: UInt64(part.cutVertexCount).littleEndian) { data.append(contentsOf: $0) }
        data.append(MeshArtifact.encode(part.mesh))
        return data
    }

    /// Parses and checks a part: its magic, its mesh (counts, checksum,
    /// indices) and a cut count no larger than its vertex count.
    public static func decode(_ data: Data) throws(MeshError) -> MeshPart {
        guard data.count >= 16, Array(data.prefix(8)) == magic else {
            throw .badArtifact("not a MeshFarm part artifact (bad magic)")
        }
        let cut = data.withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(fromByteOffset: 8, as: UInt64.self)) }
        let mesh = try MeshArtifact.decode(Data(data.dropFirst(16)))
        guard cut <= UInt64(mesh.vertexCount) else {
            throw .badArtifact("\(cut) cut vertices in a part of \(mesh.vertexCount) vertices")
        }
        return MeshPart(mesh: mesh, cutVertexCount: Int(cut))
    }

    public static func read(path: String) throws -> MeshPart {
        let data: Data
        do { data = try Data(contentsOf: URL(fileURLWithPath: path)) } catch {
            throw MeshError.unreadable(path: path, reason: "\(error)")
        }
        return try decode(data)
    }
}
