import MeshFarmMesh
import MeshFarmRender

/// An independent plain-Swift z-buffer: projects each triangle with
/// ``Camera/project(_:)``, tests pixel centers with floating-point edge
/// functions and keeps the nearest perspective-correct depth. No clipping:
/// use it with cameras that see the whole mesh in front of the near plane.
struct CPUZBuffer {
    var width: Int
    var height: Int
    /// Linear view depth per pixel, 0 where nothing was drawn.
    var depth: [Double]

    init(mesh: Mesh, camera: Camera) {
        width = camera.width
        height = camera.height
        depth = [Double](repeating: 0, count: width * height)
        let projected = (0..<mesh.vertexCount).map { v -> (x: Double, y: Double, depth: Double)? in
            let p = mesh.position(v)
            return camera.project(SIMD3(Double(p.x), Double(p.y), Double(p.z)))
        }
        for t in 0..<mesh.triangleCount {
            guard let a = projected[Int(mesh.indices[3 * t])], let b = projected[Int(mesh.indices[3 * t + 1])],
                let c = projected[Int(mesh.indices[3 * t + 2])]
            else { continue }
            let area = (b.x - a.x) * (c.y - a.y) - (b.y - a.y) * (c.x - a.x)
            if area == 0 { continue }
            let minX = max(0, Int((min(a.x, b.x, c.x) - 0.5).rounded(.up)))
            let maxX = min(width - 1, Int((max(a.x, b.x, c.x) - 0.5).rounded(.down)))
            let minY = max(0, Int((min(a.y, b.y, c.y) - 0.5).rounded(.up)))
            let maxY = min(height - 1, Int((max(a.y, b.y, c.y) - 0.5).rounded(.down)))
            if minX > maxX || minY > maxY { continue }
            for y in minY...maxY {
                for x in minX...maxX {
                    let px = Double(x) + 0.5, py = Double(y) + 0.5
                    let w0 = ((c.x - b.x) * (py - b.y) - (c.y - b.y) * (px - b.x)) / area
                    let w1 = ((a.x - c.x) * (py - c.y) - (a.y - c.y) * (px - c.x)) / area
                    let w2 = 1 - w0 - w1
                    guard w0 >= 0, w1 >= 0, w2 >= 0 else { continue }
                    let z = 1 / (w0 / a.depth + w1 / b.depth + w2 / c.depth)
                    let i = y * width + x
                    if depth[i] == 0 || z < depth[i] { depth[i] = z }
                }
            }
        }
    }

    var coverage: [Bool] { depth.map { $0 > 0 } }
}

/// Intersection over union of two coverage masks.
func iou(_ a: [Bool], _ b: [Bool]) -> Double {
    var intersection = 0
    var union = 0
    for i in a.indices {
        if a[i] && b[i] { intersection += 1 }
        if a[i] || b[i] { union += 1 }
    }
    return union == 0 ? 1 : Double(intersection) / Double(union)
}
