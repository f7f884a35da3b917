// swift-tools-version: 6.1
import PackageDescription

let package = Package(
    name: "MeshFarm",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "meshfarm", targets: ["meshfarm"]),
        .executable(name: "meshfarm-submit", targets: ["meshfarm-submit"]),
        .executable(name: "meshfarm-cpu-worker", targets: ["meshfarm-cpu-worker"]),
        .executable(name: "meshfarm-gpu-worker", targets: ["meshfarm-gpu-worker"]),
        .executable(name: "meshfarm-import", targets: ["meshfarm-import"]),
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
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/hummingbird-project/hummingbird-auth", from: "2.5.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
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
        .systemLibrary(name: "CDeflate", pkgConfig: "libdeflate", providers: [.apt(["libdeflate-dev"])]),
        .systemLibrary(name: "COpenSSL", pkgConfig: "libcrypto", providers: [.apt(["libssl-dev"])]),
        .systemLibrary(name: "CZlib", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"])]),
        .systemLibrary(name: "CXML2", pkgConfig: "libxml-2.0", providers: [.apt(["libxml2-dev"])]),
        // clone + exec with limits: the steps between the two must be async-signal-safe C.
        .target(name: "CSandbox"),

        // MARK: Build tools
        .plugin(name: "ShaderCompiler", capability: .buildTool()),

        // MARK: Libraries
        // Models: zip containers, import/analysis/reduction, contained import, images, rendering.
        .target(name: "MeshFarmZip", dependencies: ["CZlib"]),
        .target(name: "MeshFarmMesh", dependencies: ["CAssimp", "CMeshOptimizer", "CXML2", "MeshFarmZip"]),
        .target(
            name: "MeshFarmSandbox",
            dependencies: [
                "CSandbox", "MeshFarmMesh", .product(name: "Logging", package: "swift-log"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]),
        .target(name: "MeshFarmImage", dependencies: ["CPNG", "CDeflate"]),
        .target(
            name: "MeshFarmRender", dependencies: ["CVulkan", "MeshFarmMesh", "MeshFarmImage"],
            plugins: ["ShaderCompiler"]),
        // Vulkan's graphics pipeline: the tests' reference and the benchmark's baseline, not shipped.
        .target(
            name: "MeshFarmRenderReference", dependencies: ["CVulkan", "MeshFarmRender", "MeshFarmMesh", "MeshFarmImage"],
            plugins: ["ShaderCompiler"]),
        // Messaging: the transport seam and the worker runtime; RabbitMQ through librabbitmq.
        .target(name: "MeshFarmMessaging", dependencies: [.product(name: "Logging", package: "swift-log")]),
        .target(
            name: "MeshFarmAMQP",
            dependencies: ["CAMQP", "MeshFarmMessaging", .product(name: "Logging", package: "swift-log")]),
        // The farm: jobs (pure), artifacts, the coordinator and its job stores, the HTTP API, the processes.
        .target(name: "MeshFarmJobs", dependencies: ["MeshFarmMessaging"]),
        .target(
            name: "MeshFarmArtifacts", dependencies: ["COpenSSL", .product(name: "NIOPosix", package: "swift-nio")]),
        .target(
            name: "MeshFarmCoordinator",
            dependencies: [
                "MeshFarmJobs", "MeshFarmMessaging", "MeshFarmArtifacts", .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Logging", package: "swift-log"), .product(name: "Metrics", package: "swift-metrics"),
            ]),
        // Who may do what: roles, tokens and the tokens file.
        .target(
            name: "MeshFarmAuth", dependencies: ["MeshFarmArtifacts", .product(name: "Logging", package: "swift-log")]),
        .target(
            name: "MeshFarmAPI",
            dependencies: [
                "MeshFarmJobs", "MeshFarmMessaging", "MeshFarmAuth", "MeshFarmArtifacts", .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Metrics", package: "swift-metrics"), .product(name: "Logging", package: "swift-log"),
            ]),
        .target(
            name: "MeshFarmService",
            dependencies: [
                "MeshFarmAPI", "MeshFarmCoordinator", "MeshFarmArtifacts", "MeshFarmJobs", "MeshFarmMessaging",
                "MeshFarmAMQP", "MeshFarmAuth", "MeshFarmZip", .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdAuth", package: "hummingbird-auth"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]),
        .target(
            name: "MeshFarmWorker",
            dependencies: [
                "MeshFarmAPI", "MeshFarmArtifacts", "MeshFarmJobs", "MeshFarmMesh", "MeshFarmImage", "MeshFarmMessaging",
                "MeshFarmAMQP", .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Metrics", package: "swift-metrics"),
            ]),
        .target(name: "MeshFarmGPUWorker", dependencies: ["MeshFarmWorker", "MeshFarmRender", "MeshFarmJobs"]),
        .target(
            name: "MeshFarmTestSupport", dependencies: [.product(name: "Hummingbird", package: "hummingbird")],
            path: "Sources/MeshFarmTestSupport"),

        // MARK: Executables
        .executableTarget(
            name: "meshfarm",
            dependencies: [
                "MeshFarmMesh", "MeshFarmRender", "MeshFarmImage", "MeshFarmJobs", "MeshFarmMessaging",
                "MeshFarmArtifacts", "MeshFarmCoordinator", "MeshFarmWorker", "MeshFarmGPUWorker", "MeshFarmAPI",
                "MeshFarmSandbox", "MeshFarmZip", "MeshFarmAuth", .product(name: "Logging", package: "swift-log"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]),

        .executableTarget(
            name: "meshfarm-submit",
            dependencies: [
                "MeshFarmService", "MeshFarmAPI", "MeshFarmArtifacts", "MeshFarmJobs", "MeshFarmMessaging", "MeshFarmAuth",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]),
        .executableTarget(
            name: "meshfarm-cpu-worker",
            dependencies: [
                "MeshFarmWorker", "MeshFarmAPI", "MeshFarmSandbox", "MeshFarmMesh", "MeshFarmArtifacts",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]),
        .executableTarget(
            name: "meshfarm-gpu-worker",
            dependencies: [
                "MeshFarmWorker", "MeshFarmGPUWorker", "MeshFarmRender", "MeshFarmAPI", "MeshFarmArtifacts",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]),
        .executableTarget(
            name: "meshfarm-bench",
            dependencies: [
                "MeshFarmMesh", "MeshFarmRender", "MeshFarmRenderReference", "MeshFarmImage", "MeshFarmAMQP",
                "MeshFarmMessaging", "CMeshOptimizer", "MeshFarmAPI", "MeshFarmJobs", "MeshFarmSandbox",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]),

        .executableTarget(name: "meshfarm-import", dependencies: ["MeshFarmSandbox"]),
        .executableTarget(name: "meshfarm-test-importer", dependencies: ["MeshFarmSandbox"]),

        .executableTarget(
            name: "meshfarm-test-worker",
            dependencies: ["MeshFarmAMQP", "MeshFarmMessaging", .product(name: "Logging", package: "swift-log")]),

        // MARK: Tests
        .testTarget(
            name: "MeshFarmMeshTests", dependencies: ["MeshFarmMesh", "MeshFarmTestSupport", "CAssimp", "MeshFarmZip"]),
        .testTarget(name: "MeshFarmZipTests", dependencies: ["MeshFarmZip", "MeshFarmTestSupport"]),
        .testTarget(
            name: "MeshFarmSandboxTests", dependencies: ["MeshFarmSandbox", "MeshFarmMesh", "MeshFarmTestSupport"]),
        .testTarget(name: "MeshFarmImageTests", dependencies: ["MeshFarmImage", "MeshFarmTestSupport"]),
        .testTarget(
            name: "MeshFarmRenderTests", dependencies: ["MeshFarmRender", "MeshFarmRenderReference", "MeshFarmTestSupport"]),
        .testTarget(name: "MeshFarmAMQPTests", dependencies: ["MeshFarmAMQP", "MeshFarmTestSupport"]),
        .testTarget(name: "MeshFarmJobsTests", dependencies: ["MeshFarmJobs"]),
        .testTarget(name: "MeshFarmAuthTests", dependencies: ["MeshFarmAuth", "MeshFarmTestSupport"]),
        .testTarget(
            name: "MeshFarmCoordinatorTests",
            dependencies: [
                "MeshFarmCoordinator", "MeshFarmJobs", "MeshFarmMessaging", "MeshFarmTestSupport",
                .product(name: "GRDB", package: "GRDB.swift"),
            ]),
        .testTarget(
            name: "MeshFarmFarmTests",
            dependencies: [
                "MeshFarmAPI", "MeshFarmJobs", "MeshFarmImage", "MeshFarmMesh", "MeshFarmService",
                "MeshFarmTestSupport", "MeshFarmAMQP", "MeshFarmMessaging", "MeshFarmAuth", "MeshFarmZip",
            ]),
        .testTarget(
            name: "MeshFarmServiceTests",
            dependencies: [
                "MeshFarmService", "MeshFarmAPI", "MeshFarmArtifacts", "MeshFarmCoordinator", "MeshFarmJobs",
                "MeshFarmMessaging", "MeshFarmTestSupport", "MeshFarmAuth", "MeshFarmZip",
                .product(name: "HummingbirdTesting", package: "hummingbird"),
            ]),
        .testTarget(name: "MeshFarmArtifactsTests", dependencies: ["MeshFarmArtifacts", "MeshFarmTestSupport"]),
        .testTarget(name: "MeshFarmMessagingTests", dependencies: ["MeshFarmMessaging", "MeshFarmTestSupport"]),
        .testTarget(
            name: "MeshFarmWorkerTests",
            dependencies: [
                "MeshFarmWorker", "MeshFarmGPUWorker", "MeshFarmRender", "MeshFarmMesh", "MeshFarmMessaging",
                "MeshFarmJobs", "MeshFarmAPI", "MeshFarmArtifacts", "MeshFarmTestSupport",
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Hummingbird", package: "hummingbird"),
            ]),
    ],
    swiftLanguageModes: [.v6]
)
