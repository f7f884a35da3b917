/// Edge-level topology of a triangle list: how many triangles use each
/// edge, in which direction, and which triangles are connected through edges.
///
/// Every triangle contributes three directed edges packed into one `UInt64`
/// (smaller vertex index in the high half, so the two directions of an edge
/// sort next to each other) plus a direction bit and the triangle number.
/// One sort groups all uses of an edge; a scan over the groups yields the
/// counts, and a union-find over triangles in the same group yields the
/// components. Sorting beats hashing here: one allocation, cache-friendly,
/// and deterministic.
struct EdgeTopology {
    var boundaryEdges = 0
    var nonManifoldEdges = 0
    var windingConsistent = true
    var components = 0

    init(indices: [UInt32]) {
        let triangleCount = indices.count / 3
        // (edge key, triangle << 1 | reversed) pairs.
        var uses: [(key: UInt64, tag: UInt32)] = []
        uses.reserveCapacity(indices.count)
        for t in 0..<triangleCount {
            for corner in 0..<3 {
                let a = indices[3 * t + corner]
                let b = indices[3 * t + (corner + 1) % 3]
                if a == b { continue }  // a repeated vertex is not an edge
                let reversed: UInt32 = a > b ? 1 : 0
                let key = UInt64(min(a, b)) << 32 | UInt64(max(a, b))
                uses.append((key, UInt32(t) << 1 | reversed))
            }
        }
        uses.sort { $0.key < $1.key }

        var sets = UnionFind(count: triangleCount)
        var start = 0
        while start < uses.count {
            var end = start + 1
            while end < uses.count, uses[end].key == uses[start].key { end += 1 }
            switch end - start {
            case 1:
                boundaryEdges += 1
            case 2:
                // Consistent winding: the two triangles walk the edge in
                // opposite directions.
                if uses[start].tag & 1 == uses[start + 1].tag & 1 { windingConsistent = false }
            default:
                nonManifoldEdges += 1
            }
            let first = Int(uses[start].tag >> 1)
            for k in (start + 1)..<end { sets.union(first, Int(uses[k].tag >> 1)) }
            start = end
        }
        components = sets.rootCount
    }
}

/// Disjoint sets with path halving and union by size.
struct UnionFind {
    private var parent: [Int32]
    private var size: [Int32]
    private(set) var rootCount: Int

    init(count: Int) {
        parent = (0..<Int32(count)).map { $0 }
        size = [Int32](repeating: 1, count: count)
        rootCount = count
    }

    mutating func find(_ x: Int) -> Int {
        var x = x
        while Int(parent[x]) != x {
            parent[x] = parent[Int(parent[x])]
            x = Int(parent[x])
        }
        return x
    }

    mutating func union(_ a: Int, _ b: Int) {
        var ra = find(a)
        var rb = find(b)
        if ra == rb { return }
        if size[ra] < size[rb] { swap(&ra, &rb) }
        parent[rb] = Int32(ra)
        size[ra] += size[rb]
        rootCount -= 1
    }
}
