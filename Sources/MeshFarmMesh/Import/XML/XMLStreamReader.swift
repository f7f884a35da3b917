import CXML2
import Foundation

/// Receives the elements of an XML document as ``XMLStreamReader`` reads them.
protocol XMLStreamHandler: AnyObject {
    /// An element starts. Throwing stops the parse with that error.
    func start(_ element: XMLElementView) throws(MeshError)
    /// An element ends.
    func end(namespace: XMLText?, localName: XMLText) throws(MeshError)
}

/// A streaming XML reader on libxml2's SAX2 push parser: the document is
/// fed in pieces (straight from the zip inflater) and never held whole;
/// element names and attribute values are handed over as views into the
/// parser's buffers, so millions of `<vertex>` elements cost no allocation.
///
/// Safe for hostile input: a DTD (`<!DOCTYPE`) stops the parse (3MF forbids
/// DTDs, and with them go entity-expansion bombs and external entities), no
/// network access, and libxml2's default limits on depth and text size
/// stay in force.
final class XMLStreamReader {
    private let handler: any XMLStreamHandler
    private let partName: String
    private var context: xmlParserCtxtPtr?
    private var failure: MeshError?
    private let errorFormat: String

    /// `partName` names the document in error messages; `format` is the
    /// format named by ``MeshError/malformed(format:reason:)``.
    init(handler: any XMLStreamHandler, partName: String, format: String) {
        self.handler = handler
        self.partName = partName
        self.errorFormat = format
    }

    /// Parses a whole document delivered by `produce`, which calls its
    /// argument with each piece in order.
    func parse(_ produce: (_ feed: (UnsafeRawBufferPointer) throws -> Void) throws -> Void) throws {
        var sax = xmlSAXHandler()
        sax.initialized = meshfarm_xml_sax2_magic()
        sax.startElementNs = { user, localName, _, uri, namespaceCount, namespaces, attributeCount, _, attributes in
            guard let user, let localName else { return }
            let reader = Unmanaged<XMLStreamReader>.fromOpaque(user).takeUnretainedValue()
            let element = XMLElementView(
                namespace: uri.map(XMLText.init(cString:)), localName: XMLText(cString: localName),
                attributes: attributes, attributeCount: Int(attributeCount), namespaces: namespaces,
                namespaceCount: Int(namespaceCount))
            reader.deliver { () throws(MeshError) in try reader.handler.start(element) }
        }
        sax.endElementNs = { user, localName, _, uri in
            guard let user, let localName else { return }
            let reader = Unmanaged<XMLStreamReader>.fromOpaque(user).takeUnretainedValue()
            reader.deliver { () throws(MeshError) in
                try reader.handler.end(
                    namespace: uri.map(XMLText.init(cString:)), localName: XMLText(cString: localName))
            }
        }
        sax.internalSubset = { user, _, _, _ in
            guard let user else { return }
            let reader = Unmanaged<XMLStreamReader>.fromOpaque(user).takeUnretainedValue()
            reader.deliver { () throws(MeshError) in
                throw .malformed(
                    format: reader.errorFormat,
                    reason:
                        "\(reader.partName) contains a DTD (<!DOCTYPE>), which 3MF forbids (core spec 2.3.2, OPC M1.18)"
                )
            }
        }
        sax.serror = { user, error in
            guard let user, let error else { return }
            let reader = Unmanaged<XMLStreamReader>.fromOpaque(user).takeUnretainedValue()
            guard reader.failure == nil, error.pointee.level.rawValue >= XML_ERR_ERROR.rawValue else { return }
            let message = error.pointee.message.map { String(cString: $0) }?.trimmingCharacters(
                in: .whitespacesAndNewlines)
            reader.failure = .malformed(
                format: reader.errorFormat,
                reason:
                    "\(reader.partName) is not well-formed XML (line \(error.pointee.line)): \(message ?? "parse error")"
            )
        }

        let me = Unmanaged.passUnretained(self).toOpaque()
        guard let context = xmlCreatePushParserCtxt(&sax, me, nil, 0, partName) else {
            throw MeshError.malformed(format: errorFormat, reason: "libxml2 could not start a parser")
        }
        self.context = context
        defer {
            xmlFreeParserCtxt(context)
            self.context = nil
        }
        xmlCtxtUseOptions(context, Int32(XML_PARSE_NONET.rawValue | XML_PARSE_NOCDATA.rawValue))
        try withExtendedLifetime(self) {
            try produce { piece in
                if let failure { throw failure }
                guard piece.count > 0 else { return }
                let status = xmlParseChunk(
                    context, piece.baseAddress!.assumingMemoryBound(to: CChar.self), Int32(piece.count), 0)
                if let failure { throw failure }
                if status != 0 {
                    throw MeshError.malformed(format: errorFormat, reason: "\(partName) is not well-formed XML")
                }
            }
            let status = xmlParseChunk(context, nil, 0, 1)
            if let failure { throw failure }
            if status != 0 || context.pointee.wellFormed == 0 {
                throw MeshError.malformed(format: errorFormat, reason: "\(partName) is not well-formed XML")
            }
        }
    }

    /// Runs a handler call from a C callback; the first error stops the parser.
    private func deliver(_ body: () throws(MeshError) -> Void) {
        guard failure == nil else { return }
        do { try body() } catch {
            failure = error
            if let context { xmlStopParser(context) }
        }
    }
}

/// A start tag: its name and attributes, valid only during the callback.
struct XMLElementView {
    let namespace: XMLText?
    let localName: XMLText
    let attributes: UnsafeMutablePointer<UnsafePointer<xmlChar>?>?
    let attributeCount: Int
    let namespaces: UnsafeMutablePointer<UnsafePointer<xmlChar>?>?
    let namespaceCount: Int

    /// The namespaces this element declares, as prefix (nil for the default
    /// namespace) -> URI.
    var declaredNamespaces: [String?: String] {
        guard let namespaces else { return [:] }
        var result: [String?: String] = [:]
        for i in 0..<namespaceCount {
            guard let uri = namespaces[2 * i + 1] else { continue }
            result[namespaces[2 * i].map { XMLText(cString: $0).string }] = XMLText(cString: uri).string
        }
        return result
    }

    /// True when the element is `localName` in `namespace`.
    @inline(__always)
    func `is`(_ localName: StaticString, in namespace: StaticString) -> Bool {
        self.localName == localName && self.namespace.map { $0 == namespace } == true
    }

    /// The value of the attribute `localName` (without a namespace, or in
    /// `namespace`).
    func attribute(_ localName: StaticString, namespace: StaticString? = nil) -> XMLText? {
        guard let attributes else { return nil }
        for i in 0..<attributeCount {
            // Five pointers per attribute: local name, prefix, URI, value, end of value.
            guard let name = attributes[5 * i], let value = attributes[5 * i + 3], let end = attributes[5 * i + 4]
            else { continue }
            guard XMLText(cString: name) == localName else { continue }
            let uri = attributes[5 * i + 2]
            if let namespace {
                guard let uri, XMLText(cString: uri) == namespace else { continue }
            } else if uri != nil {
                continue
            }
            return XMLText(base: value, count: end - value)
        }
        return nil
    }
}

/// A view of UTF-8 bytes inside the parser's buffers.
struct XMLText: CustomStringConvertible {
    let base: UnsafePointer<UInt8>
    let count: Int

    init(base: UnsafePointer<UInt8>, count: Int) {
        self.base = base
        self.count = count
    }

    init(cString: UnsafePointer<UInt8>) {
        self.init(base: cString, count: strlen(UnsafeRawPointer(cString).assumingMemoryBound(to: CChar.self)))
    }

    var string: String { String(decoding: UnsafeBufferPointer(start: base, count: count), as: UTF8.self) }
    var description: String { string }

    @inline(__always)
    static func == (lhs: XMLText, rhs: StaticString) -> Bool {
        lhs.count == rhs.utf8CodeUnitCount && memcmp(lhs.base, rhs.utf8Start, lhs.count) == 0
    }

    /// An `ST_Number` of the 3MF schema: optional sign, digits with an
    /// optional fraction (or a fraction alone), optional exponent. No
    /// spaces, NaN, infinity or hex. Nil when the text is not one.
    func number() -> Double? {
        guard count > 0, count < 64 else { return nil }
        var i = 0
        func digits() -> Int {
            let start = i
            while i < count, base[i] &- 0x30 < 10 { i += 1 }
            return i - start
        }
        if base[0] == 0x2D || base[0] == 0x2B { i = 1 }
        let whole = digits()
        var fraction = 0
        if i < count, base[i] == 0x2E {
            i += 1
            fraction = digits()
            if fraction == 0 { return nil }
        }
        guard whole + fraction > 0 else { return nil }
        if i < count, base[i] | 0x20 == 0x65 {  // e or E
            i += 1
            if i < count, base[i] == 0x2D || base[i] == 0x2B { i += 1 }
            if digits() == 0 { return nil }
        }
        guard i == count else { return nil }
        return withUnsafeTemporaryAllocation(of: CChar.self, capacity: count + 1) { buffer in
            UnsafeMutableRawPointer(buffer.baseAddress!).copyMemory(from: base, byteCount: count)
            buffer[count] = 0
            let value = strtod(buffer.baseAddress!, nil)
            return value.isFinite ? value : nil
        }
    }

    /// A non-negative decimal integer below 2^31 (`ST_ResourceID`,
    /// `ST_ResourceIndex`); nil otherwise.
    func index() -> Int? {
        guard count > 0, count <= 10 else { return nil }
        var value = 0
        for i in 0..<count {
            let digit = Int(base[i] &- 0x30)
            guard digit < 10 else { return nil }
            value = value * 10 + digit
        }
        return value < 1 << 31 ? value : nil
    }
}
