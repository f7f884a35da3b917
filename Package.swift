// swift-tools-version: 6.1
import PackageDescription

let package = Package(
    name: "MeshFarm",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "meshfarm", targets: ["meshfarm"]),
        .library(name: "MeshFarmMesh", targets: ["MeshFarmMesh"]),
        .library(name: "MeshFarmRender", targets: ["MeshFarmRender"]),
        .library(name: "MeshFarmMessaging", targets: ["MeshFarmMessaging"]),
        .library(name: "MeshFarmAMQP", targets: ["MeshFarmAMQP"]),
        .library(name: "MeshFarmImage", targets: ["MeshFarmImage"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
    ],
    targets: [
        // MARK: C libraries (Debian packages, see scripts/deps)
        .systemLibrary(
            name: "CAMQP", pkgConfig: "librabbitmq", providers: [.apt(["librabbitmq-dev"])]),
        .systemLibrary(
            name: "CVulkan", pkgConfig: "vulkan", providers: [.apt(["libvulkan-dev", "mesa-vulkan-drivers"])]),
        .systemLibrary(name: "CMeshOptimizer", providers: [.apt(["libmeshoptimizer-dev"])]),
        .systemLibrary(name: "CAssimp", pkgConfig: "assimp", providers: [.apt(["libassimp-dev"])]),
        .systemLibrary(name: "CPNG", pkgConfig: "libpng", providers: [.apt(["libpng-dev"])]),
        .systemLibrary(name: "COpenSSL", pkgConfig: "libcrypto", providers: [.apt(["libssl-dev"])]),

        // MARK: Build tools
        .plugin(name: "ShaderCompiler", capability: .buildTool()),

        // MARK: Libraries
        .target(name: "MeshFarmMesh", dependencies: ["CAssimp", "CMeshOptimizer"]),
        .target(name: "MeshFarmImage", dependencies: ["CPNG"]),
        .target(
            name: "MeshFarmRender", dependencies: ["CVulkan", "MeshFarmMesh", "MeshFarmImage"],
            plugins: ["ShaderCompiler"]),
        .target(name: "MeshFarmJobs", dependencies: ["MeshFarmMessaging"]),
        .target(
            name: "MeshFarmStorage",
            dependencies: ["MeshFarmJobs", "COpenSSL", .product(name: "GRDB", package: "GRDB.swift")]),
        .target(
            name: "MeshFarmCoordinator",
            dependencies: [
                "MeshFarmJobs", "MeshFarmMessaging", "MeshFarmStorage", .product(name: "Logging", package: "swift-log"),
            ]),
        .target(
            name: "MeshFarmTasks",
            dependencies: ["MeshFarmJobs", "MeshFarmMesh", "MeshFarmImage", "MeshFarmMessaging", "MeshFarmStorage"]),
        .target(
            name: "MeshFarmGPUTasks",
            dependencies: ["MeshFarmTasks", "MeshFarmRender", "MeshFarmJobs", "MeshFarmMessaging"]),
        .target(name: "MeshFarmMessaging", dependencies: [.product(name: "Logging", package: "swift-log")]),
        .target(
            name: "MeshFarmAMQP",
            dependencies: ["CAMQP", "MeshFarmMessaging", .product(name: "Logging", package: "swift-log")]),
        .target(name: "MeshFarmTestSupport", path: "Sources/MeshFarmTestSupport"),

        // MARK: Executables
        .executableTarget(
            name: "meshfarm",
            dependencies: [
                "MeshFarmMesh", "MeshFarmRender", "MeshFarmImage", "MeshFarmJobs", "MeshFarmMessaging",
                "MeshFarmStorage",
                "MeshFarmCoordinator", "MeshFarmTasks", "MeshFarmGPUTasks",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]),

        .executableTarget(
            name: "meshfarm-bench",
            dependencies: [
                "MeshFarmMesh", "MeshFarmRender", "MeshFarmImage", "MeshFarmAMQP", "MeshFarmMessaging",
                "CMeshOptimizer",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]),

        .executableTarget(
            name: "meshfarm-test-worker",
            dependencies: ["MeshFarmAMQP", "MeshFarmMessaging", .product(name: "Logging", package: "swift-log")]),

        // MARK: Tests
        .testTarget(name: "MeshFarmMeshTests", dependencies: ["MeshFarmMesh", "MeshFarmTestSupport", "CAssimp"]),
        .testTarget(name: "MeshFarmImageTests", dependencies: ["MeshFarmImage", "MeshFarmTestSupport"]),
        .testTarget(name: "MeshFarmRenderTests", dependencies: ["MeshFarmRender", "MeshFarmTestSupport"]),
        .testTarget(name: "MeshFarmAMQPTests", dependencies: ["MeshFarmAMQP", "MeshFarmTestSupport"]),
        .testTarget(name: "MeshFarmJobsTests", dependencies: ["MeshFarmJobs"]),
        .testTarget(name: "MeshFarmStorageTests", dependencies: ["MeshFarmStorage", "MeshFarmTestSupport"]),
        .testTarget(name: "MeshFarmMessagingTests", dependencies: ["MeshFarmMessaging", "MeshFarmTestSupport"]),
    ],
    swiftLanguageModes: [.v6]
)
