import Foundation
import PackagePlugin

/// Compiles the GLSL compute/vertex/fragment shaders in the package's
/// top-level `shaders/` folder to SPIR-V with `glslc` and embeds the words in a
/// generated Swift file, so the render library carries its shaders inside the
/// binary and the build needs no GPU. `reference.*` (the graphics pipeline
/// that tests compare against) go to the target whose name ends in
/// `Reference`; every other shader to the other targets.
///
/// One build command per shader keeps rebuilds incremental; every `*.glsl`
/// include is an input of every command, so editing a shared header rebuilds
/// all shaders. glslc's diagnostics (`file:line: error: ...`) pass through
/// unchanged and fail the build.
@main
struct ShaderCompiler: BuildToolPlugin {
    /// Shader stages glslc infers from the file extension.
    static let stageExtensions: Set<String> = ["comp", "vert", "frag"]

    func createBuildCommands(context: PluginContext, target: Target) throws -> [Command] {
        let shaderDirectory = context.package.directoryURL.appending(path: "shaders")
        let files = try FileManager.default.contentsOfDirectory(
            at: shaderDirectory, includingPropertiesForKeys: nil
        ).sorted { $0.lastPathComponent < $1.lastPathComponent }
        let includes = files.filter { $0.pathExtension == "glsl" }
        let forReference = target.name.hasSuffix("Reference")
        let shaders = files.filter {
            Self.stageExtensions.contains($0.pathExtension)
                && $0.lastPathComponent.hasPrefix("reference.") == forReference
        }
        let glslc = try Self.findGLSLC()

        return shaders.map { shader in
            let symbol = Self.swiftSymbol(for: shader.lastPathComponent)
            let output = context.pluginWorkDirectoryURL.appending(path: "\(shader.lastPathComponent).swift")
            // glslc prints the module as comma-separated hex words (-mfmt=num);
            // the shell wraps them in a Swift declaration and only replaces the
            // output when glslc succeeded.
            let script = """
                set -e
                tmp="$3.tmp"
                { printf 'extension SPIRV {\\n    /// SPIR-V of shaders/%s.\\n    static let %s: [UInt32] = [\\n' "$4" "$2"
                  "$0" --target-env=vulkan1.2 -O -I "$5" -mfmt=num -o - "$1"
                  printf '\\n    ]\\n}\\n'
                } > "$tmp"
                mv "$tmp" "$3"
                """
            return .buildCommand(
                displayName: "Compiling shader \(shader.lastPathComponent)",
                executable: URL(fileURLWithPath: "/bin/sh"),
                arguments: [
                    "-c", script, glslc, shader.path, symbol, output.path, shader.lastPathComponent,
                    shaderDirectory.path,
                ],
                inputFiles: [shader] + includes,
                outputFiles: [output]
            )
        }
    }

    /// `context.tool(named:)` does not search `PATH`, so look for glslc the way
    /// a shell would.
    static func findGLSLC() throws -> String {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? ""
        let candidates = path.split(separator: ":").map { "\($0)/glslc" } + ["/usr/bin/glslc", "/usr/local/bin/glslc"]
        for candidate in candidates where FileManager.default.isExecutableFile(atPath: candidate) {
            return candidate
        }
        throw ShaderCompilerError.glslcNotFound
    }

    /// `raster_small.comp` -> `rasterSmallComp`.
    static func swiftSymbol(for fileName: String) -> String {
        let parts = fileName.split(whereSeparator: { $0 == "_" || $0 == "." || $0 == "-" })
        return parts.enumerated().map { index, part in
            index == 0 ? part.lowercased() : part.prefix(1).uppercased() + part.dropFirst().lowercased()
        }.joined()
    }
}

enum ShaderCompilerError: Error, CustomStringConvertible {
    case glslcNotFound

    var description: String {
        "glslc not found on PATH: install it with scripts/deps (Debian package 'glslc')"
    }
}
