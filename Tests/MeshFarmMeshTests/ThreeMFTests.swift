import Foundation
import MeshFarmMesh
import MeshFarmTestSupport
import Testing

/// MeshFarm's own 3MF reader: structures (components, transforms, units,
/// several objects, production paths) with counts, areas and volumes
/// worked out by hand, and one hand-made file per rule it enforces.
@Suite struct ThreeMFTests {
    let directory = TestEnvironment.outputDirectory("3mf")
    typealias B = ThreeMFBuilder

    /// A 2 x 2 x 2 cube: 12 triangles, area 24, volume 8.
    static let cube = Mesh.box(min: .zero, max: SIMD3(2, 2, 2))
    static var cubeObject: String { "<object id=\"1\" type=\"model\">\(B.meshXML(cube))</object>" }

    func load(_ builder: ThreeMFBuilder, limits: ImportLimits = ImportLimits()) throws -> ImportedModel {
        try MeshImporter(limits: limits).load(
            path: builder.write(to: directory, name: "\(UUID().uuidString.prefix(8)).3mf"))
    }

    func error(_ builder: ThreeMFBuilder, limits: ImportLimits = ImportLimits()) -> String {
        do {
            _ = try load(builder, limits: limits)
            return "no error"
        } catch { return "\(error)" }
    }

    func analysis(_ builder: ThreeMFBuilder) throws -> MeshAnalysis { MeshAnalysis(model: try load(builder)) }

    // MARK: - Structures

    @Test func oneMeshWithTheDefaultUnit() throws {
        let a = try analysis(B(model: B.model(resources: Self.cubeObject, build: "<item objectid=\"1\"/>")))
        #expect(a.format == "3mf" && a.triangles == 12 && a.vertices == 8 && a.watertight)
        #expect(abs(a.surfaceArea - 24) < 1e-9 && abs(a.volume - 8) < 1e-9)
        #expect(a.unit == "millimeter" && a.sizeMillimeters == [2, 2, 2] && a.volumeCubicMillimeters == 8)
    }

    @Test(arguments: LengthUnit.allCases)
    func unitsGiveSizesInMillimetres(unit: LengthUnit) throws {
        let a = try analysis(
            B(model: B.model(resources: Self.cubeObject, build: "<item objectid=\"1\"/>", unit: unit.rawValue)))
        #expect(a.unit == unit.rawValue)
        let side = try #require(a.sizeMillimeters?.first)
        #expect(abs(side - 2 * unit.millimeters) < 1e-9 * unit.millimeters)
        #expect(abs(a.volumeCubicMillimeters! - 8 * pow(unit.millimeters, 3)) < 1e-6 * pow(unit.millimeters, 3))
        #expect(abs(a.surfaceAreaSquareMillimeters! - 24 * pow(unit.millimeters, 2)) < 1e-6 * pow(unit.millimeters, 2))
    }

    @Test func nestedComponentsAndBuildItemsCompose() throws {
        // Object 2: the cube at x+10, and the cube scaled by 2 (row vectors: p' = p M).
        // Object 3: object 2 as is, and object 2 rotated 90 degrees about z then moved up by 100.
        // The build places object 3 moved by (0, 0, -50): four cubes, two of each size.
        let resources =
            Self.cubeObject + """
                <object id="2"><components><component objectid="1" transform="1 0 0 0 1 0 0 0 1 10 0 0"/>\
                <component objectid="1" transform="2 0 0 0 2 0 0 0 2 0 0 0"/></components></object>\
                <object id="3"><components><component objectid="2"/>\
                <component objectid="2" transform="0 1 0 -1 0 0 0 0 1 0 0 100"/></components></object>
                """
        let model = try load(
            B(
                model: B.model(
                    resources: resources, build: "<item objectid=\"3\" transform=\"1 0 0 0 1 0 0 0 1 0 0 -50\"/>")))
        let a = MeshAnalysis(model: model)
        #expect(a.triangles == 48 && a.components == 4)
        // Area: 2 cubes of side 2 (24 each) + 2 of side 4 (96 each).
        #expect(abs(a.surfaceArea - 240) < 1e-6)
        #expect(abs(a.volume - (8 + 8 + 64 + 64)) < 1e-6)
        // Bounds by hand: unrotated copy spans x 0...12, y 0...4, z -50...-46; the rotated one
        // maps (x, y) to (-y, x): x -4...0, y 0...12, z 50...54.
        #expect(a.bounds.min == [-4, 0, -50] && a.bounds.max == [12, 12, 54])
    }

    @Test func mirroringItemsKeepVolumesPositive() throws {
        let build = """
            <item objectid="1"/><item objectid="1" transform="-1 0 0 0 1 0 0 0 1 -5 0 0"/>
            """
        let model = try load(B(model: B.model(resources: Self.cubeObject, build: build)))
        let a = MeshAnalysis(model: model)
        #expect(a.triangles == 24 && a.watertight && a.windingConsistent)
        // |signed volume| of both: 16 only if the mirrored copy's winding was flipped (else 8 - 8 = 0).
        #expect(abs(a.volume - 16) < 1e-9)
        #expect(a.bounds.min[0] == -7 && a.bounds.max[0] == 2)
    }

    @Test func severalObjectsAndAnUnbuiltOne() throws {
        let tetra = Mesh(
            positions: [0, 0, 0, 3, 0, 0, 0, 3, 0, 0, 0, 3], indices: [0, 2, 1, 0, 1, 3, 0, 3, 2, 1, 2, 3])
        let resources =
            Self.cubeObject + "<object id=\"7\" type=\"support\">\(B.meshXML(tetra))</object>"
            + "<object id=\"9\" type=\"other\">\(B.meshXML(Self.cube))</object>"  // defined, never built
        let a = try analysis(
            B(
                model: B.model(
                    resources: resources,
                    build: "<item objectid=\"1\"/><item objectid=\"7\" transform=\"1 0 0 0 1 0 0 0 1 10 0 0\"/>")))
        #expect(a.triangles == 16 && a.components == 2)
        #expect(abs(a.volume - (8 + 4.5)) < 1e-9)
    }

    @Test func productionExtensionPathsReadOtherModelParts() throws {
        // The child part has its own object ids: its object 1 is a tetrahedron, unlike the root's cube.
        let tetra = Mesh(
            positions: [0, 0, 0, 3, 0, 0, 0, 3, 0, 0, 0, 3], indices: [0, 2, 1, 0, 1, 3, 0, 3, 2, 1, 2, 3])
        let child = B.model(resources: "<object id=\"1\">\(B.meshXML(tetra))</object>", build: "")
        let resources =
            Self.cubeObject + """
                <object id="2"><components><component p:path="/3D/parts/tetra.model" objectid="1" \
                transform="1 0 0 0 1 0 0 0 1 20 0 0"/><component objectid="1"/></components></object>
                """
        let build = "<item objectid=\"2\"/><item p:path=\"/3D/parts/tetra.model\" objectid=\"1\"/>"
        var builder = B(
            model: B.model(resources: resources, build: build, attributes: " requiredextensions=\"p\""))
        builder.set("3D/parts/tetra.model", child)
        builder.set("3D/_rels/3dmodel.model.rels", B.relationships(["/3D/parts/tetra.model"]))
        let a = try analysis(builder)
        #expect(a.triangles == 12 + 4 + 4)
        #expect(abs(a.volume - (8 + 4.5 + 4.5)) < 1e-9)
        #expect(a.bounds.max[0] == 23)
    }

    @Test func materialsAndPropertiesDoNotChangeGeometry() throws {
        let resources = """
            <basematerials id="5"><base name="red" displaycolor="#FF0000"/></basematerials>\
            <object id="1" pid="5" pindex="0">\(B.meshXML(Self.cube).replacingOccurrences(of: "<triangle ", with: "<triangle pid=\"5\" p1=\"0\" "))</object>
            """
        let a = try analysis(B(model: B.model(resources: resources, build: "<item objectid=\"1\"/>")))
        #expect(a.triangles == 12 && abs(a.volume - 8) < 1e-9)
    }

    @Test func anAssimpExported3MFReads() throws {
        // A writer other than our own tests: assimp's 3MF exporter (covered in FormatTests too).
        let path = try FormatTests.assimpExport("3mf", extension: "3mf")
        let model = try MeshImporter().load(path: path)
        #expect(model.format == .threeMF && model.mesh.triangleCount == 5856 && model.unit == .millimeter)
    }

    // MARK: - Rules

    static let good = B.model(resources: cubeObject, build: "<item objectid=\"1\"/>")

    func breaking(_ model: String) -> ThreeMFBuilder { B(model: model) }

    @Test func packageRules() throws {
        var noTypes = B(model: Self.good)
        noTypes.set("[Content_Types].xml", nil)
        #expect(error(noTypes).contains("no [Content_Types].xml"))

        var noRels = B(model: Self.good)
        noRels.set("_rels/.rels", nil)
        #expect(error(noRels).contains("no _rels/.rels") && error(noRels).contains("core spec 2.1.1"))

        let broken = B(model: Self.good, rootTarget: "/3D/missing.model")
        #expect(error(broken).contains("targets /3D/missing.model, which is not in the package"))

        var two = B(model: Self.good)
        two.set("_rels/.rels", B.relationships(["/3D/3dmodel.model", "/3D/other.model"]))
        two.set("3D/other.model", Self.good)
        #expect(error(two).contains("2 StartPart relationships"))

        var wrongType = B(model: Self.good)
        wrongType.set(
            "[Content_Types].xml",
            B.contentTypes.replacingOccurrences(of: "Extension=\"model\"", with: "Extension=\"xml\""))
        #expect(error(wrongType).contains("content type"))

        var brokenModelRel = B(model: Self.good)
        brokenModelRel.set("3D/_rels/3dmodel.model.rels", B.relationships(["/3D/gone.model"]))
        #expect(error(brokenModelRel).contains("production extension 3.3"))
    }

    @Test(
        arguments: [
            // (what is broken, the model, words the error must contain)
            (
                "metadata names repeat",
                B.model(
                    resources: cubeObject, build: "<item objectid=\"1\"/>",
                    head: "<metadata name=\"Title\">a</metadata><metadata name=\"Title\">b</metadata>"),
                "core spec 3.4.1"
            ),
            (
                "no build element",
                B.model(resources: cubeObject, build: "").replacingOccurrences(of: "<build></build>", with: ""),
                "<build> is required"
            ),
            (
                "an object of an invalid type",
                B.model(
                    resources: cubeObject.replacingOccurrences(of: "type=\"model\"", with: "type=\"part\""),
                    build: "<item objectid=\"1\"/>"), "ST_ObjectType"
            ),
            (
                "two resources share an id",
                B.model(resources: cubeObject + cubeObject, build: "<item objectid=\"1\"/>"), "resource ids are unique"
            ),
            (
                "the root is not a core model",
                B.model(resources: cubeObject, build: "").replacingOccurrences(
                    of: "/core/2015/02", with: "/core/2099/01"), "core spec 3.4"
            ),
            (
                "a vertex index out of range",
                B.model(
                    resources: cubeObject.replacingOccurrences(of: "v3=\"2\"", with: "v3=\"8\""),
                    build: "<item objectid=\"1\"/>"), "indices reference the mesh's vertices"
            ),
            (
                "a triangle repeats a vertex",
                B.model(
                    resources:
                        "<object id=\"1\"><mesh><vertices><vertex x=\"0\" y=\"0\" z=\"0\"/><vertex x=\"1\" y=\"0\" z=\"0\"/><vertex x=\"0\" y=\"1\" z=\"0\"/></vertices><triangles><triangle v1=\"0\" v2=\"1\" v3=\"1\"/></triangles></mesh></object>",
                    build: "<item objectid=\"1\"/>"), "must be distinct"
            ),
            (
                "a coordinate is not a number",
                B.model(
                    resources:
                        "<object id=\"1\"><mesh><vertices><vertex x=\"0\" y=\"nan\" z=\"0\"/><vertex x=\"1\" y=\"0\" z=\"0\"/><vertex x=\"0\" y=\"1\" z=\"0\"/></vertices><triangles><triangle v1=\"0\" v2=\"1\" v3=\"2\"/></triangles></mesh></object>",
                    build: "<item objectid=\"1\"/>"), "ST_Number"
            ),
            (
                "a component references a later object",
                B.model(
                    resources: "<object id=\"2\"><components><component objectid=\"1\"/></components></object>"
                        + cubeObject, build: "<item objectid=\"2\"/>"), "defined before they are referenced"
            ),
            (
                "an item builds an object of type other",
                B.model(
                    resources: cubeObject.replacingOccurrences(of: "type=\"model\"", with: "type=\"other\""),
                    build: "<item objectid=\"1\"/>"), "core spec 3.4.3.1"
            ),
            (
                "an item names no object", B.model(resources: cubeObject, build: "<item objectid=\"4\"/>"),
                "not defined before it"
            ),
            (
                "a transform has eleven numbers",
                B.model(resources: cubeObject, build: "<item objectid=\"1\" transform=\"1 0 0 0 1 0 0 0 1 0 0\"/>"),
                "ST_Matrix3D"
            ),
            (
                "an unknown unit", B.model(resources: cubeObject, build: "<item objectid=\"1\"/>", unit: "parsec"),
                "ST_Unit"
            ),
            (
                "an object with a mesh and components",
                B.model(
                    resources: cubeObject.replacingOccurrences(
                        of: "</mesh>", with: "</mesh><components><component objectid=\"1\"/></components>"),
                    build: "<item objectid=\"1\"/>"), "exactly one mesh or components"
            ),
            (
                "a required extension MeshFarm lacks",
                B.model(
                    resources: cubeObject, build: "<item objectid=\"1\"/>",
                    attributes:
                        " xmlns:s=\"http://schemas.microsoft.com/3dmanufacturing/slice/2015/07\" requiredextensions=\"s\""
                ), "slice extension"
            ),
            (
                "a required prefix is undeclared",
                B.model(
                    resources: cubeObject, build: "<item objectid=\"1\"/>", attributes: " requiredextensions=\"q\""),
                "does not declare"
            ),
            (
                "a pid names nothing",
                B.model(
                    resources: cubeObject.replacingOccurrences(
                        of: "<object id=\"1\"", with: "<object id=\"1\" pid=\"42\""), build: "<item objectid=\"1\"/>"),
                "pid"
            ),
            (
                "a DTD",
                "<?xml version=\"1.0\"?><!DOCTYPE model [<!ENTITY a \"aaaaaaaaaa\">]>"
                    + B.model(resources: cubeObject, build: "<item objectid=\"1\"/>").split(
                        separator: "\n", maxSplits: 1)[1], "core spec 2.3.2"
            ),
            (
                "UTF-16 declared",
                B.model(resources: cubeObject, build: "<item objectid=\"1\"/>").replacingOccurrences(
                    of: "UTF-8", with: "UTF-16"), "XML parts are UTF-8"
            ),
            ("not XML at all", "<model xmlns=\"\(B.coreNamespace)\"><resources></model>", "not well-formed XML"),
        ] as [(String, String, String)])
    func eachBrokenRuleIsNamed(what: String, model: String, expected: String) {
        let message = error(breaking(model))
        #expect(message.contains(expected), "\(what): \(message)")
        #expect(message.hasPrefix("the 3MF file is malformed"), "\(what): \(message)")
    }

    @Test func productionPathRules() throws {
        let tetra = Mesh(
            positions: [0, 0, 0, 3, 0, 0, 0, 3, 0, 0, 0, 3], indices: [0, 2, 1, 0, 1, 3, 0, 3, 2, 1, 2, 3])
        // A component in a child part must not reference yet another part.
        let child = B.model(
            resources:
                "<object id=\"1\">\(B.meshXML(tetra))</object><object id=\"2\"><components><component p:path=\"/3D/x.model\" objectid=\"1\"/></components></object>",
            build: "")
        var builder = B(
            model: B.model(resources: Self.cubeObject, build: "<item p:path=\"/3D/child.model\" objectid=\"2\"/>"))
        builder.set("3D/child.model", child)
        #expect(error(builder).contains("production extension 3.2"))

        let missing = B(
            model: B.model(resources: Self.cubeObject, build: "<item p:path=\"/3D/nowhere.model\" objectid=\"1\"/>"))
        #expect(error(missing).contains("p:path names /3D/nowhere.model"))

        let escaping = B(
            model: B.model(resources: Self.cubeObject, build: "<item p:path=\"/../../etc/passwd\" objectid=\"1\"/>"))
        #expect(error(escaping).contains("leaves the package"))
    }

    // MARK: - Limits

    @Test func aModelPartOverTheUncompressedLimitIsRefusedBeforeInflating() throws {
        let big = B.model(
            resources: Self.cubeObject + "<!--" + String(repeating: "x", count: 200_000) + "-->",
            build: "<item objectid=\"1\"/>")
        let message = error(B(model: big), limits: ImportLimits(maxUncompressedBytes: 100_000))
        #expect(message.contains("would inflate to") && message.contains("100000"), "\(message)")
    }

    @Test func aComponentBombIsRefusedByArithmetic() throws {
        // Ten levels of ten copies of the previous level: 10^10 cubes, 1.2 * 10^11 triangles in a few KB.
        var resources = Self.cubeObject
        for level in 2...11 {
            let components = (0..<10).map {
                "<component objectid=\"\(level - 1)\" transform=\"1 0 0 0 1 0 0 0 1 \($0 * 3) 0 0\"/>"
            }
            resources += "<object id=\"\(level)\"><components>\(components.joined())</components></object>"
        }
        let start = Date()
        let message = error(B(model: B.model(resources: resources, build: "<item objectid=\"11\"/>")))
        #expect(message.contains("120000000000 triangles"), "\(message)")
        #expect(Date().timeIntervalSince(start) < 5)
    }

    @Test func triangleLimitStopsTheParse() throws {
        let message = error(B(model: Self.good), limits: ImportLimits(maxTriangles: 5))
        #expect(message.contains("over the limit of 5"), "\(message)")
    }
}
