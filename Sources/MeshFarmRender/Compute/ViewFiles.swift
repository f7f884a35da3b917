import Foundation
import MeshFarmImage

/// How one rendered view is described in `views.json` and job reports.
public struct ViewRecord: Sendable, Equatable, Codable {
    public var index: Int
    /// The color PNG, relative to the output directory.
    public var file: String
    /// Linear view depth as PFM, when requested.
    public var depth: String?
    /// World-space normals as PNG, when requested.
    public var normals: String?
    public var camera: Camera

    public init(index: Int, file: String, depth: String? = nil, normals: String? = nil, camera: Camera) {
        self.index = index
        self.file = file
        self.depth = depth
        self.normals = normals
        self.camera = camera
    }
}

extension RenderedView {
    /// Writes the color PNG at `directory/name.png` and, when present,
    /// `name-depth.pfm` and `name-normals.png`; returns the record.
    public func write(to directory: URL, name: String, index: Int, camera: Camera) throws -> ViewRecord {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        var record = ViewRecord(index: index, file: "\(name).png", camera: camera)
        try PNGCodec.write(image, to: directory.appendingPathComponent(record.file).path)
        if let depth {
            record.depth = "\(name)-depth.pfm"
            try PFMCodec.encode(depth).write(to: directory.appendingPathComponent(record.depth!), options: .atomic)
        }
        if let normals {
            record.normals = "\(name)-normals.png"
            try PNGCodec.write(normals, to: directory.appendingPathComponent(record.normals!).path)
        }
        return record
    }
}
