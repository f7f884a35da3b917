import COpenSSL
import Foundation

/// Incremental SHA-256 (OpenSSL's EVP digest), for content addresses.
public final class SHA256Hasher {
    private let context: OpaquePointer

    public init() {
        context = EVP_MD_CTX_new()!
        EVP_DigestInit_ex(context, EVP_sha256(), nil)
    }

    deinit { EVP_MD_CTX_free(context) }

    public func update(_ bytes: UnsafeRawBufferPointer) {
        guard let base = bytes.baseAddress, !bytes.isEmpty else { return }
        EVP_DigestUpdate(context, base, bytes.count)
    }

    public func update(_ data: Data) { data.withUnsafeBytes { update($0) } }

    /// Lowercase hex of the digest; the hasher is spent afterwards.
    public func finalize() -> String {
        var digest = [UInt8](repeating: 0, count: 32)
        var length: UInt32 = 0
        EVP_DigestFinal_ex(context, &digest, &length)
        return digest.map { String(format: "%02x", $0) }.joined()
    }

    /// The SHA-256 of `data`.
    public static func hex(_ data: Data) -> String {
        let hasher = SHA256Hasher()
        hasher.update(data)
        return hasher.finalize()
    }

    /// The SHA-256 of the file at `url`, read in 1 MiB blocks.
    public static func hex(file url: URL) throws -> String {
        let handle = try FileHandle(forReadingFrom: url)
        defer { try? handle.close() }
        let hasher = SHA256Hasher()
        while let block = try handle.read(upToCount: 1 << 20), !block.isEmpty { hasher.update(block) }
        return hasher.finalize()
    }

    /// HMAC-SHA256 of `message` under `key` (RFC 2104), in lowercase hex.
    public static func hmac(key: Data, message: Data) -> String {
        var key = key.count > 64 ? Data(hexBytes(hex(key))) : key
        key.append(Data(count: 64 - key.count))
        let inner = SHA256Hasher()
        inner.update(Data(key.map { $0 ^ 0x36 }))
        inner.update(message)
        let outer = SHA256Hasher()
        outer.update(Data(key.map { $0 ^ 0x5c }))
        outer.update(Data(hexBytes(inner.finalize())))
        return outer.finalize()
    }

    private static func hexBytes(_ hex: String) -> [UInt8] {
        let digits = Array(hex.utf8)
        return stride(from: 0, to: digits.count, by: 2).map {
            UInt8(String(decoding: digits[$0..<$0 + 2], as: UTF8.self), radix: 16)!
        }
    }

    /// Whether `string` looks like a SHA-256 in lowercase hex.
    public static func isValid(_ string: String) -> Bool {
        string.utf8.count == 64 && string.utf8.allSatisfy { (0x30...0x39).contains($0) || (0x61...0x66).contains($0) }
    }
}
