/// A model file format MeshFarm accepts, as detected from the file's bytes.
public enum ModelFormat: String, Sendable, Codable, CaseIterable {
    case obj
    case stlASCII = "stl-ascii"
    case stlBinary = "stl-binary"
    case plyASCII = "ply-ascii"
    case plyBinaryLittleEndian = "ply-binary-le"
    case plyBinaryBigEndian = "ply-binary-be"
    case gltf
    case glb
    case threeMF = "3mf"
    /// A zip archive of one model and its side files.
    case zip
    case off
    case collada
    case fbx

    /// The file extension assimp expects for this format (its import hint).
    public var assimpHint: String {
        switch self {
        case .obj: "obj"
        case .stlASCII, .stlBinary: "stl"
        case .plyASCII, .plyBinaryLittleEndian, .plyBinaryBigEndian: "ply"
        case .gltf: "gltf"
        case .glb: "glb"
        case .threeMF: "3mf"
        case .zip: "zip"
        case .off: "off"
        case .collada: "dae"
        case .fbx: "fbx"
        }
    }

    /// One of the three PLY encodings (read by MeshFarm's own reader).
    public var isPLY: Bool {
        self == .plyASCII || self == .plyBinaryLittleEndian || self == .plyBinaryBigEndian
    }

    /// Extensions that name this format on disk.
    public var extensions: Set<String> {
        switch self {
        case .collada: ["dae", "xml"]
        case .off: ["off", "noff", "coff"]
        default: [assimpHint]
        }
    }
}
