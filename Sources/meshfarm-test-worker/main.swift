// A worker process for the messaging tests: the real runtime and AMQP
// transport with handlers that sleep, compute, echo or crash, so tests can
// kill it, starve it or poison it. Not shipped in any image.
//
//   meshfarm-test-worker --broker URL --prefix P [--pool cpu] [--concurrency N]
//       [--heartbeat S] [--delivery-limit N] [--name NAME] [--time-limit S]
//       [--broker-consumer-timeout S]
import Foundation
import Logging
import MeshFarmAMQP
import MeshFarmMessaging

var options: [String: String] = [:]
var arguments = CommandLine.arguments.dropFirst()
while let key = arguments.popFirst() {
    guard key.hasPrefix("--"), let value = arguments.popFirst() else {
        FileHandle.standardError.write(Data("usage: meshfarm-test-worker --broker URL --prefix P ...\n".utf8))
        exit(2)
    }
    options[String(key.dropFirst(2))] = value
}
let farm = FarmTopology(
    prefix: options["prefix"] ?? "meshfarm", deliveryLimit: Int(options["delivery-limit"] ?? "") ?? 5)
let name = options["name"] ?? "test-worker-\(getpid())"
let logger: Logger = {
    var logger = Logger(label: name)
    logger.logLevel = .info
    return logger
}()

let handlers: [String: any TaskHandler<JSONValue, JSONValue>] = [
    "sleep": JSONTaskHandler { task, _ in
        Thread.sleep(
            forTimeInterval: task.payload["seconds"].flatMap { if case .number(let s) = $0 { s } else { nil } } ?? 0)
        return .object(["worker": .string(name)])
    },
    "compute": JSONTaskHandler { task, context in
        // Busy CPU work for the given seconds: the thread never yields.
        let seconds = task.payload["seconds"].flatMap { if case .number(let s) = $0 { s } else { nil } } ?? 1
        let end = Date().addingTimeInterval(seconds)
        var x: UInt64 = 1
        while Date() < end {
            for _ in 0..<100_000 { x = x &* 6_364_136_223_846_793_005 &+ 1 }
        }
        context.progress(1)
        return .object(["worker": .string(name), "x": .number(Double(x % 1000))])
    },
    "wait": JSONTaskHandler { task, context in
        // Waits the given seconds, or until the task is abandoned.
        let seconds = task.payload["seconds"].flatMap { if case .number(let s) = $0 { s } else { nil } } ?? 1
        let end = Date().addingTimeInterval(seconds)
        while Date() < end, !context.isCancelled { Thread.sleep(forTimeInterval: 0.02) }
        return .object(["worker": .string(name), "stopped": .bool(context.isCancelled)])
    },
    "echo": JSONTaskHandler { task, _ in task.payload },
    "crash": JSONTaskHandler { _, _ in
        kill(getpid(), SIGKILL)
        Thread.sleep(forTimeInterval: 10)
        return .null
    },
]

let transport = AMQPTransport(
    configuration: .init(
        url: try AMQPURL(options["broker"] ?? "amqp://guest:guest@127.0.0.1:5672/"),
        heartbeat: Int(options["heartbeat"] ?? "") ?? 30),
    logger: logger)
let runtime = WorkerRuntime(
    transport: transport,
    configuration: WorkerConfiguration(
        queue: farm.queue(forPool: options["pool"] ?? "cpu"), eventsExchange: farm.eventsExchange,
        controlExchange: farm.controlExchange,
        concurrency: Int(options["concurrency"] ?? "") ?? 1, workerName: name,
        defaultTimeLimit: Double(options["time-limit"] ?? "") ?? 4 * 3600,
        brokerConsumerTimeout: Double(options["broker-consumer-timeout"] ?? "") ?? 3 * 3600, shutdownGrace: 5),
    handlers: handlers, logger: logger)

signal(SIGTERM, SIG_IGN)
let sigterm = DispatchSource.makeSignalSource(signal: SIGTERM)
sigterm.setEventHandler {
    Task {
        await runtime.shutdown()
        await transport.close()
        exit(0)
    }
}
sigterm.resume()

// Top-level code runs on the main actor: block nothing here, let the
// detached task own the work and park the main thread in dispatchMain().
Task.detached {
    do {
        try await transport.declare(farm.topology)
        FileHandle.standardOutput.write(Data("ready\n".utf8))
        try await runtime.run()
        exit(0)
    } catch {
        logger.error("worker stopped: \(error)")
        exit(1)
    }
}
dispatchMain()
