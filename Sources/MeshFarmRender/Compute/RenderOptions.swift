import MeshFarmImage

/// How to shade one view.
public struct RenderOptions: Sendable, Equatable, Codable {
    /// Supersampling factor per axis: 1, 2 or 4.
    public var ssaa: Int
    /// Flat (per-face) normals instead of smooth vertex normals.
    public var flatShading: Bool
    /// Draw triangle edges over the shading.
    public var wireframe: Bool
    /// Also return linear view depth.
    public var depth: Bool
    /// Also return world-space normals.
    public var normals: Bool

    public init(
        ssaa: Int = 1, flatShading: Bool = false, wireframe: Bool = false, depth: Bool = false, normals: Bool = false
    ) {
        self.ssaa = ssaa
        self.flatShading = flatShading
        self.wireframe = wireframe
        self.depth = depth
        self.normals = normals
    }
}

/// One rendered view.
public struct RenderedView: Sendable {
    /// RGBA8, transparent background (alpha 0), fractional alpha on
    /// supersampled edges.
    public var image: RGBAImage
    /// Linear view depth (distance from the eye plane along the viewing
    /// direction) of the nearest surface, 0 where there is none.
    public var depth: FloatImage?
    /// World-space unit normals facing the camera, encoded `n * 0.5 + 0.5`
    /// in RGB, alpha 255 where there is a surface.
    public var normals: RGBAImage?
}

/// Errors for requests the renderer cannot satisfy.
public struct RenderError: Error, Sendable, CustomStringConvertible {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
