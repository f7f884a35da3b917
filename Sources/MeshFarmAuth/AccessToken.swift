import Foundation
import MeshFarmArtifacts

/// Bearer tokens: 256 random bits, shown once; only their SHA-256 is
/// stored. A fast hash is enough for secrets this long (nothing to guess,
/// unlike passwords), and it keeps every request's check cheap.
public enum AccessToken {
    /// `mft_` and 43 base64url characters (32 random bytes from the
    /// system's generator).
    public static func generate() -> String {
        var generator = SystemRandomNumberGenerator()
        let bytes = (0..<32).map { _ in UInt8.random(in: .min ... .max, using: &generator) }
        return "mft_"
            + Data(bytes).base64EncodedString().replacingOccurrences(of: "+", with: "-")
            .replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
    }

    /// What the tokens file stores: `sha256:` and 64 hex digits.
    public static func hash(_ token: String) -> String { "sha256:" + SHA256Hasher.hex(Data(token.utf8)) }

    /// Equal strings, in time that depends only on their lengths.
    public static func constantTimeEqual(_ a: String, _ b: String) -> Bool {
        let (x, y) = (Array(a.utf8), Array(b.utf8))
        guard x.count == y.count else { return false }
        var difference: UInt8 = 0
        for i in x.indices { difference |= x[i] ^ y[i] }
        return difference == 0
    }
}
