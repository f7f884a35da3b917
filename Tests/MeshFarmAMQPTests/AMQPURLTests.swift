import MeshFarmAMQP
import Testing

@Suite struct AMQPURLTests {
    @Test func defaultsAndVhost() throws {
        let url = try AMQPURL("amqp://guest:guest@127.0.0.1:5672/")
        #expect(url.host == "127.0.0.1" && url.port == 5672 && url.vhost == "/" && !url.tls)
        let custom = try AMQPURL("amqps://u%40x:p%3Ass@broker.example:5999/farm%2Fprod?heartbeat=5&cacertfile=/ca.pem")
        #expect(custom.tls && custom.user == "u@x" && custom.password == "p:ss")
        #expect(custom.vhost == "farm/prod" && custom.port == 5999 && custom.heartbeat == 5)
        #expect(custom.caCertFile == "/ca.pem")
        #expect(try AMQPURL("amqps://h").port == 5671)
        #expect(!custom.description.contains("p:ss"))
    }

    @Test(arguments: [
        "http://h/", "amqp://", "amqp://h:70000/", "amqp://h/a/b", "amqp://h/?verify=maybe", "amqp://h/?certfile=x",
    ])
    func invalidURLsAreRejected(_ string: String) {
        #expect(throws: AMQPError.self) { try AMQPURL(string) }
    }
}
