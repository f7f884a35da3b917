/// The length unit a format declares for its coordinates.
///
/// 3MF names one in its `unit` attribute (millimetre by default); glTF
/// coordinates are metres by definition. OBJ, STL, PLY and OFF carry no
/// unit: their models are reported as unitless. The mesh keeps the source
/// coordinates; analyses add sizes in millimetres where the unit is known.
public enum LengthUnit: String, Sendable, Codable, CaseIterable {
    case micron, millimeter, centimeter, inch, foot, meter

    /// Millimetres in one unit.
    public var millimeters: Double {
        switch self {
        case .micron: 0.001
        case .millimeter: 1
        case .centimeter: 10
        case .inch: 25.4
        case .foot: 304.8
        case .meter: 1000
        }
    }
}
