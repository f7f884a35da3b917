import Foundation
import MeshFarmMesh

/// A perspective camera, written out with every view so anyone can
/// reproduce an image with an independent renderer.
///
/// Conventions: right-handed world, the camera looks from `eye` at `target`
/// with `up` as the approximate up direction; `fovY` is the full vertical
/// field of view in degrees; pixel (0,0) is the top-left pixel of a
/// `width` x `height` image, rows go down and pixel centers sit at
/// half-integers. Geometry nearer than `near` or beyond `far` (distances
/// along the viewing direction) is clipped.
public struct Camera: Sendable, Equatable, Codable {
    public var eye: SIMD3<Double>
    public var target: SIMD3<Double>
    public var up: SIMD3<Double>
    public var fovY: Double
    public var width: Int
    public var height: Int
    public var near: Double
    public var far: Double

    public init(
        eye: SIMD3<Double>, target: SIMD3<Double>, up: SIMD3<Double> = [0, 1, 0], fovY: Double = 35, width: Int,
        height: Int, near: Double, far: Double
    ) {
        self.eye = eye
        self.target = target
        self.up = up
        self.fovY = fovY
        self.width = width
        self.height = height
        self.near = near
        self.far = far
    }

    /// The camera's orthonormal basis: right, true up, and forward (the
    /// viewing direction).
    public var basis: (right: SIMD3<Double>, up: SIMD3<Double>, forward: SIMD3<Double>) {
        let forward = normalized(target - eye)
        var right = crossD(forward, up)
        if lengthD(right) < 1e-12 {
            // Looking along `up`: pick any perpendicular.
            right = crossD(forward, abs(forward.x) < 0.9 ? [1, 0, 0] : [0, 0, 1])
        }
        right = normalized(right)
        return (right, crossD(right, forward), forward)
    }

    /// Rows of the 3x4 world-to-view matrix (view space looks down -Z).
    public var viewRows: [SIMD4<Double>] {
        let (r, u, f) = basis
        return [
            SIMD4(r.x, r.y, r.z, -dotD(r, eye)),
            SIMD4(u.x, u.y, u.z, -dotD(u, eye)),
            SIMD4(-f.x, -f.y, -f.z, dotD(f, eye)),
        ]
    }

    /// Projection scales: NDC x = sx * x / -z, NDC y = sy * y / -z.
    public var projectionScale: (sx: Double, sy: Double) {
        let sy = 1 / tan(fovY * .pi / 360)
        return (sy * Double(height) / Double(width), sy)
    }

    /// Column-major 4x4 view-projection matrix in Vulkan clip space (y down,
    /// depth 0 at `near` and 1 at `far`), for the graphics-pipeline reference.
    public var vulkanViewProjection: [Float] {
        let rows = viewRows
        let (sx, sy) = projectionScale
        let a = far / (near - far)
        let b = near * far / (near - far)
        // Rows of P * V.
        let m: [SIMD4<Double>] = [
            rows[0] * sx,
            rows[1] * -sy,
            rows[2] * a + SIMD4(0, 0, 0, b),
            -rows[2],
        ]
        var columnMajor = [Float](repeating: 0, count: 16)
        for row in 0..<4 { for column in 0..<4 { columnMajor[column * 4 + row] = Float(m[row][column]) } }
        return columnMajor
    }

    /// Where a world point lands: pixel coordinates (x right, y down, pixel
    /// centers at half-integers) and linear view depth; nil behind the eye.
    public func project(_ point: SIMD3<Double>) -> (x: Double, y: Double, depth: Double)? {
        let rows = viewRows
        let p = SIMD4(point.x, point.y, point.z, 1)
        let view = SIMD3((rows[0] * p).sum(), (rows[1] * p).sum(), (rows[2] * p).sum())
        guard view.z < 0 else { return nil }
        let (sx, sy) = projectionScale
        let ndcX = view.x * sx / -view.z
        let ndcY = view.y * sy / -view.z
        return ((ndcX * 0.5 + 0.5) * Double(width), (0.5 - ndcY * 0.5) * Double(height), -view.z)
    }
}

/// Evenly spaced views around a model, the turntable a user looks at before
/// printing or publishing.
public struct TurntableRig: Sendable, Equatable, Codable {
    public var views: Int
    /// Degrees above the horizontal plane.
    public var elevation: Double
    /// Full vertical field of view, degrees.
    public var fovY: Double
    public var width: Int
    public var height: Int

    public init(views: Int = 8, elevation: Double = 20, fovY: Double = 35, width: Int = 512, height: Int = 512) {
        self.views = views
        self.elevation = elevation
        self.fovY = fovY
        self.width = width
        self.height = height
    }

    /// View `j` of `views`: azimuth `360 * j / views` degrees around +Y
    /// (view 0 looks from +Z toward -Z), looking at the bounding-box center
    /// from the distance at which the bounding sphere just fits the narrower
    /// field of view.
    public func camera(_ j: Int, bounds: Bounds) -> Camera {
        let center = SIMD3<Double>(Double(bounds.center.x), Double(bounds.center.y), Double(bounds.center.z))
        let halfDiagonal = Double(bounds.diagonal) / 2
        // A point-like mesh still gets a usable camera.
        let magnitude = max(1, Swift.max(abs(center.x), abs(center.y), abs(center.z)))
        let radius: Double = Swift.max(halfDiagonal, 1e-4 * magnitude)
        let halfFovY = fovY * .pi / 360
        let halfFovX = atan(tan(halfFovY) * Double(width) / Double(height))
        let distance: Double = radius / sin(Swift.min(halfFovY, halfFovX))
        let azimuth = 2 * Double.pi * Double(j) / Double(views)
        let el = elevation * .pi / 180
        let direction = SIMD3(cos(el) * sin(azimuth), sin(el), cos(el) * cos(azimuth))
        return Camera(
            eye: center + direction * distance, target: center, up: [0, 1, 0], fovY: fovY, width: width, height: height,
            near: (distance - radius) * 0.9, far: (distance + radius) * 1.1)
    }

    /// All views.
    public func cameras(bounds: Bounds) -> [Camera] {
        (0..<views).map { camera($0, bounds: bounds) }
    }
}

func dotD(_ a: SIMD3<Double>, _ b: SIMD3<Double>) -> Double { (a * b).sum() }
func lengthD(_ a: SIMD3<Double>) -> Double { dotD(a, a).squareRoot() }
func normalized(_ a: SIMD3<Double>) -> SIMD3<Double> { a / lengthD(a) }
func crossD(_ a: SIMD3<Double>, _ b: SIMD3<Double>) -> SIMD3<Double> {
    SIMD3(a.y * b.z - a.z * b.y, a.z * b.x - a.x * b.z, a.x * b.y - a.y * b.x)
}
