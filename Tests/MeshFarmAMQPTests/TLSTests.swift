import Foundation
import MeshFarmAMQP
import MeshFarmMessaging
import MeshFarmTestSupport
import Testing

/// `amqps://` through librabbitmq's SSL socket, against a broker node of its
/// own with a TLS listener and certificates made for the test.
@Suite(.serialized) struct TLSTests {
    /// A CA and a server certificate for localhost signed by it.
    static func makeCertificates(in directory: URL) throws -> (ca: String, cert: String, key: String) {
        let ca = directory.appendingPathComponent("ca.pem").path
        let caKey = directory.appendingPathComponent("ca.key").path
        let key = directory.appendingPathComponent("server.key").path
        let csr = directory.appendingPathComponent("server.csr").path
        let cert = directory.appendingPathComponent("server.pem").path
        let extensions = directory.appendingPathComponent("san.cnf")
        try "subjectAltName = DNS:localhost, IP:127.0.0.1\n".write(to: extensions, atomically: true, encoding: .utf8)
        let steps: [[String]] = [
            [
                "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", caKey, "-out", ca, "-days", "2", "-subj",
                "/CN=MeshFarm test CA",
            ],
            ["req", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", csr, "-subj", "/CN=localhost"],
            [
                "x509", "-req", "-in", csr, "-CA", ca, "-CAkey", caKey, "-CAcreateserial", "-out", cert, "-days", "2",
                "-extfile", extensions.path,
            ],
        ]
        for step in steps {
            let outcome = try ChildProcess.run("/usr/bin/openssl", step, timeout: 60)
            guard outcome.status == 0 else { throw BrokerError("openssl \(step[0]) failed: \(outcome.stderrText)") }
        }
        // The broker runs as this user but reads keys through Erlang: make them readable.
        for file in [key, cert, ca] { chmod(file, 0o644) }
        return (ca, cert, key)
    }

    @Test func amqpsConnectsWithTheCAAndRefusesAnUnknownOne() async throws {
        let directory = TestEnvironment.outputDirectory("tls")
        let (ca, cert, key) = try Self.makeCertificates(in: directory)
        let amqpPort = Int(ProcessInfo.processInfo.environment["MESHFARM_TLS_AMQP_PORT"] ?? "") ?? 5694
        let tlsPort = amqpPort + 1
        let node = BrokerNode(
            port: amqpPort,
            extraConfig: """
                listeners.ssl.default = \(tlsPort)
                ssl_options.cacertfile = \(ca)
                ssl_options.certfile = \(cert)
                ssl_options.keyfile = \(key)
                ssl_options.verify = verify_none
                ssl_options.fail_if_no_peer_cert = false
                """)
        try node.start()
        defer { try? node.stop() }

        let url = try AMQPURL("amqps://guest:guest@localhost:\(tlsPort)/?cacertfile=\(ca)")
        #expect(url.tls && url.caCertFile == ca)
        // The transport over TLS: declare, publish with a confirm, consume.
        let transport = AMQPTransport(configuration: .init(url: url, heartbeat: 5))
        let queue = TestEnvironment.uniqueName("tls")
        try await transport.declare(
            Topology(
                exchanges: [], queues: [.init(name: queue, quorum: true, deliveryLimit: nil, deadLetterExchange: nil)],
                bindings: []))
        try await transport.publish(OutgoingMessage(exchange: "", routingKey: queue, body: Data("over TLS".utf8)))
        let stream = try await transport.consume(queue: queue, prefetch: 1)
        var iterator = stream.makeAsyncIterator()
        let delivery = try #require(await iterator.next())
        #expect(String(decoding: delivery.message.body, as: UTF8.self) == "over TLS")
        try await delivery.ack()
        await transport.close()

        // A CA that did not sign the server's certificate: the handshake fails.
        let stranger = directory.appendingPathComponent("other")
        try FileManager.default.createDirectory(at: stranger, withIntermediateDirectories: true)
        let (otherCA, _, _) = try Self.makeCertificates(in: stranger)
        #expect(throws: AMQPError.self) {
            try AMQPConnection(url: try AMQPURL("amqps://guest:guest@localhost:\(tlsPort)/?cacertfile=\(otherCA)"))
        }
    }
}
