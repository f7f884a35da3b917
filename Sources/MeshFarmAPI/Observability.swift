import Foundation
import Logging
import Metrics
import Prometheus

/// Process-wide logging and metrics set-up shared by every MeshFarm server
/// process: structured logs on stderr (level from `MESHFARM_LOG_LEVEL`,
/// default `info`) and swift-metrics exported in Prometheus format.
public enum Observability {
    /// The registry `/metrics` emits.
    public static let registry = PrometheusCollectorRegistry()

    private static let once: Void = {
        let level =
            ProcessInfo.processInfo.environment["MESHFARM_LOG_LEVEL"].flatMap { Logger.Level(rawValue: $0) } ?? .info
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))
    }()

    /// Bootstraps once; later calls do nothing.
    public static func bootstrap() { _ = once }

    /// The metrics text for `/metrics`.
    public static func metricsText() -> [UInt8] { registry.emitToBuffer() }
}
