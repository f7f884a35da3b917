/// Cutting one mesh into spatial parts that separate workers reduce.
///
/// **Assignment**: recursive bisection on triangle centroids. A range of
/// triangles that must become `k` parts is split along the longest axis of
/// its centroids' bounds at the position that gives the two halves
/// `⌊k/2⌋` and `⌈k/2⌉` parts' worth of triangles, found by selection
/// (not a sort) on keys that pack the centroid coordinate's ordered bits
/// with the triangle number into one `UInt64`: one contiguous array,
/// deterministic, O(T log k) in all. Parts come out with triangle counts
/// that differ by at most one.
///
/// **Parts**: each part is its own compact mesh (only the vertices its
/// triangles use); a vertex that triangles of more than one part use lies
/// on a cut. Cut vertices come first in a part's vertex buffer
/// (``MeshPart/cutVertexCount``), so the part records them without a
/// separate table.
public enum MeshPartition {
    /// The part (0..<`parts`) of each triangle.
    public static func assign(_ mesh: Mesh, parts: Int) -> [UInt32] {
        let triangleCount = mesh.triangleCount
        var partOf = [UInt32](repeating: 0, count: triangleCount)
        guard parts > 1, triangleCount > 0 else { return partOf }
        var keys = [UInt64](repeating: 0, count: triangleCount)
        for t in 0..<triangleCount { keys[t] = UInt64(t) }
        mesh.positions.withUnsafeBufferPointer { positions in
            mesh.indices.withUnsafeBufferPointer { indices in
                keys.withUnsafeMutableBufferPointer { keys in
                    partOf.withUnsafeMutableBufferPointer { out in
                        bisect(
                            keys, 0..<triangleCount, parts: parts, firstPart: 0,
                            centroids: Centroids(positions: positions, indices: indices), out: out)
                    }
                }
            }
        }
        return partOf
    }

    /// Splits `mesh` into `parts` compact parts (fewer only when the mesh
    /// has fewer triangles than parts).
    public static func split(_ mesh: Mesh, parts: Int) -> [MeshPart] {
        var all: [MeshPart] = []
        split(mesh, parts: parts) { all.append($1) }
        return all
    }

    /// Splits `mesh` and hands each part to `body` as soon as it is cut
    /// (with its number), so that only one part is held at a time beside
    /// the mesh.
    public static func split(_ mesh: Mesh, parts: Int, each body: (Int, MeshPart) throws -> Void) rethrows {
        let count = max(1, min(parts, mesh.triangleCount))
        try split(mesh, assignment: assign(mesh, parts: count), parts: count, each: body)
    }

    /// Splits `mesh` by a given assignment of triangles to parts; parts
    /// without triangles are skipped.
    static func split(
        _ mesh: Mesh, assignment partOf: [UInt32], parts: Int, each body: (Int, MeshPart) throws -> Void
    ) rethrows {
        let vertexCount = mesh.vertexCount
        // Which vertices more than one part uses.
        let unowned = UInt32.max
        var owner = [UInt32](repeating: unowned, count: vertexCount)
        var onCut = [Bool](repeating: false, count: vertexCount)
        var trianglesPerPart = [Int](repeating: 0, count: parts)
        for t in 0..<mesh.triangleCount {
            let part = partOf[t]
            trianglesPerPart[Int(part)] += 1
            for corner in 0..<3 {
                let v = Int(mesh.indices[3 * t + corner])
                if owner[v] == unowned {
                    owner[v] = part
                } else if owner[v] != part {
                    onCut[v] = true
                }
            }
        }
        owner = []
        // Triangles grouped by part (a counting sort keeps their order).
        var start = [Int](repeating: 0, count: parts + 1)
        for p in 0..<parts { start[p + 1] = start[p] + trianglesPerPart[p] }
        var grouped = [UInt32](repeating: 0, count: mesh.triangleCount)
        var fill = start
        for t in 0..<mesh.triangleCount {
            grouped[fill[Int(partOf[t])]] = UInt32(t)
            fill[Int(partOf[t])] += 1
        }
        var compactor = VertexCompactor(vertexCount: vertexCount)
        var number = 0
        for part in 0..<parts {
            let triangles = grouped[start[part]..<start[part + 1]].lazy.map { Int($0) }
            guard !triangles.isEmpty else { continue }
            try body(
                number,
                compactor.compact(
                    positions: mesh.positions, indices: mesh.indices, triangles: triangles, isCut: { onCut[$0] }))
            number += 1
        }
    }

    // MARK: - Bisection

    /// Assigns `range` of `keys` (triangle numbers in the low 32 bits) to
    /// `parts` parts numbered from `firstPart`.
    private static func bisect(
        _ keys: UnsafeMutableBufferPointer<UInt64>, _ range: Range<Int>, parts: Int, firstPart: Int,
        centroids: Centroids, out: UnsafeMutableBufferPointer<UInt32>
    ) {
        if parts == 1 {
            for i in range { out[Int(keys[i] & 0xFFFF_FFFF)] = UInt32(firstPart) }
            return
        }
        // The longest axis of the centroids' bounds.
        var lo = SIMD3<Float>(repeating: .infinity)
        var hi = SIMD3<Float>(repeating: -.infinity)
        for i in range {
            let t = Int(keys[i] & 0xFFFF_FFFF)
            let c = centroids[t]
            lo = pointwiseMin(lo, c)
            hi = pointwiseMax(hi, c)
        }
        let extent = hi - lo
        let axis = extent.x >= extent.y && extent.x >= extent.z ? 0 : (extent.y >= extent.z ? 1 : 2)
        // Key: the coordinate's bits in an order that sorts like the float, then the triangle.
        for i in range {
            let t = keys[i] & 0xFFFF_FFFF
            keys[i] = UInt64(orderedBits(centroids[Int(t)][axis])) << 32 | t
        }
        let leftParts = parts / 2
        let middle = range.lowerBound + range.count * leftParts / parts
        select(keys, range, nth: middle)
        bisect(keys, range.lowerBound..<middle, parts: leftParts, firstPart: firstPart, centroids: centroids, out: out)
        bisect(
            keys, middle..<range.upperBound, parts: parts - leftParts, firstPart: firstPart + leftParts,
            centroids: centroids, out: out)
    }

    /// Triangle centroids times 3 (the sums of the corners: the same order,
    /// one multiply fewer), computed when asked rather than stored: the
    /// mesh is the largest thing a partition holds, and a table of
    /// centroids would be two thirds of its size again.
    struct Centroids {
        let positions: UnsafeBufferPointer<Float>
        let indices: UnsafeBufferPointer<UInt32>

        @inline(__always)
        subscript(_ t: Int) -> SIMD3<Float> {
            let a = 3 * Int(indices[3 * t]), b = 3 * Int(indices[3 * t + 1]), c = 3 * Int(indices[3 * t + 2])
            return SIMD3(
                positions[a] + positions[b] + positions[c], positions[a + 1] + positions[b + 1] + positions[c + 1],
                positions[a + 2] + positions[b + 2] + positions[c + 2])
        }
    }

    /// A float's bits, mapped so that unsigned order is the float's order.
    @inline(__always)
    static func orderedBits(_ value: Float) -> UInt32 {
        let bits = value.bitPattern
        return bits & 0x8000_0000 != 0 ? ~bits : bits | 0x8000_0000
    }

    /// Reorders `range` so that the element at `nth` is the one a sort
    /// would put there, with nothing greater before it and nothing smaller
    /// after it (quickselect, median-of-three pivots).
    static func select(_ keys: UnsafeMutableBufferPointer<UInt64>, _ range: Range<Int>, nth: Int) {
        var lo = range.lowerBound
        var hi = range.upperBound - 1
        guard nth >= lo, nth <= hi else { return }
        while hi > lo {
            let mid = lo + (hi - lo) / 2
            // Median of three into keys[mid].
            if keys[mid] < keys[lo] { keys.swapAt(mid, lo) }
            if keys[hi] < keys[lo] { keys.swapAt(hi, lo) }
            if keys[hi] < keys[mid] { keys.swapAt(hi, mid) }
            let pivot = keys[mid]
            var i = lo
            var j = hi
            while i <= j {
                while keys[i] < pivot { i += 1 }
                while keys[j] > pivot { j -= 1 }
                if i <= j {
                    keys.swapAt(i, j)
                    i += 1
                    j -= 1
                }
            }
            if nth <= j {
                hi = j
            } else if nth >= i {
                lo = i
            } else {
                return
            }
        }
    }
}
