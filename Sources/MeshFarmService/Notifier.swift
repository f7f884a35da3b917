import Foundation
import Logging
import MeshFarmAPI
import MeshFarmCoordinator
import MeshFarmJobs
import MeshFarmMessaging
import ServiceLifecycle

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// Sends each finished job's ``JobNotice`` to its callback, signed with the
/// farm's secret, and tries again with backoff (2 s doubling to 10 min,
/// for about a day) until the receiver answers 2xx; then the coordinator
/// records it (`notifiedAt`), so a restart sends only what was not taken.
/// Each notice keeps one delivery id and is signed afresh per try (a
/// receiver should drop a timestamp older than a few minutes, and
/// duplicates by delivery id: a notice may arrive twice if an answer is
/// lost).
public struct Notifier: Service {
    public struct Configuration: Sendable {
        public var secret: String
        /// Prefix of the links in notices (`--public-url`); empty: paths.
        public var publicURL: String
        public var backoff = Backoff(initial: 2, maximum: 600, jitter: true)
        /// Tries of one notice before it is given up (about a day).
        public var attempts = 150
        public var timeout: Double = 10

        public init(secret: String, publicURL: String) {
            self.secret = secret
            self.publicURL = publicURL
        }
    }

    let coordinator: Coordinator
    let configuration: Configuration
    let logger = Logger(label: "meshfarm.notifier")
    /// Follows no redirect: the callback checked at the job's creation is
    /// the only address a notice goes to.
    let session = URLSession(configuration: .ephemeral, delegate: NoRedirects(), delegateQueue: nil)

    public init(coordinator: Coordinator, configuration: Configuration) {
        self.coordinator = coordinator
        self.configuration = configuration
    }

    public func run() async throws {
        await withDiscardingTaskGroup { group in
            for await job in coordinator.notices.cancelOnGracefulShutdown() {
                group.addTask { await deliver(job) }
            }
            group.cancelAll()
        }
    }

    /// Tries one notice until it is taken, given up, or the service stops.
    func deliver(_ job: JobRecord) async {
        guard let callback = job.callback, let url = URL(string: callback) else { return }
        let delivery = UUID().uuidString.lowercased()
        let body: Data
        do { body = try APICoding.encoder().encode(JobNotice(job: job, base: configuration.publicURL)) } catch {
            return logger.error("cannot encode a notice", metadata: ["job": "\(job.id)", "error": "\(error)"])
        }
        for attempt in 1...configuration.attempts {
            guard !Task.isCancelled else { return }
            let timestamp = Int(Date().timeIntervalSince1970)
            var request = URLRequest(url: url, timeoutInterval: configuration.timeout)
            request.httpMethod = "POST"
            request.httpBody = body
            request.setValue("application/json", forHTTPHeaderField: "Content-Type")
            request.setValue("\(timestamp)", forHTTPHeaderField: "MeshFarm-Timestamp")
            request.setValue(delivery, forHTTPHeaderField: "MeshFarm-Delivery")
            request.setValue(
                JobNotice.signature(secret: configuration.secret, timestamp: timestamp, body: body),
                forHTTPHeaderField: "MeshFarm-Signature")
            let outcome: String
            do {
                let (_, response) = try await session.data(for: request)
                let status = (response as? HTTPURLResponse)?.statusCode ?? 0
                if (200..<300).contains(status) {
                    coordinator.notified(job.id, at: Date())
                    logger.info("notice taken", metadata: ["job": "\(job.id)", "attempt": "\(attempt)"])
                    return
                }
                outcome = "answered \(status)"
            } catch {
                outcome = "\(error.localizedDescription)"
            }
            let wait = configuration.backoff.delay(retry: attempt)
            logger.warning(
                "a callback did not take its notice; trying again",
                metadata: ["job": "\(job.id)", "outcome": "\(outcome)", "in": "\(Int(wait)) s"])
            try? await Task.sleep(for: .seconds(wait))
        }
        logger.error("giving up a notice", metadata: ["job": "\(job.id)", "callback": "\(callback)"])
    }
}

/// Answers every redirect with "do not follow".
final class NoRedirects: NSObject, URLSessionTaskDelegate, Sendable {
    func urlSession(
        _ session: URLSession, task: URLSessionTask, willPerformHTTPRedirection response: HTTPURLResponse,
        newRequest request: URLRequest, completionHandler: @escaping (URLRequest?) -> Void
    ) {
        completionHandler(nil)
    }
}
