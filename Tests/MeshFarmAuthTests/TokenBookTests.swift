import Foundation
import MeshFarmAuth
import Testing

@Suite struct TokenBookTests {
    @Test func tokensAreLongRandomAndOnlyTheirHashIsWritten() {
        let a = AccessToken.generate()
        let b = AccessToken.generate()
        #expect(a != b && a.hasPrefix("mft_") && a.count == 47)
        #expect(a.dropFirst(4).allSatisfy { $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" })
        let line = TokenBook.line(for: Principal(name: "alice", role: .submitter), token: a)
        #expect(line.hasPrefix("alice submitter sha256:") && !line.contains(a))
    }

    @Test func aBookFindsItsHoldersAndNothingElse() throws {
        let token = AccessToken.generate()
        let book = try TokenBook(
            parsing: "# comment\n\n" + TokenBook.line(for: Principal(name: "ops", role: .admin), token: token)
                + "  # trailing comment\n")
        #expect(book.principal(for: token) == Principal(name: "ops", role: .admin))
        #expect(book.principal(for: token + "x") == nil)
        #expect(book.principal(for: "") == nil)
    }

    @Test func badLinesAreRefusedWithTheirNumber() {
        let hash = "sha256:" + String(repeating: "a", count: 64)
        let cases: [(String, Int, String)] = [
            ("a admin", 1, "expected"),
            ("ok admin \(hash)\nbad root \(hash)", 2, "unknown role"),
            ("x y\n\nna/me admin \(hash)", 1, "expected"),
            ("\n\nna/me admin \(hash)", 3, "a name is"),
            ("a admin sha256:abc", 1, "the hash"),
            ("a admin \(hash)\na viewer \(hash)", 2, "used twice"),
        ]
        for (text, line, reason) in cases {
            #expect {
                try TokenBook(parsing: text)
            } throws: { error in
                guard let error = error as? TokenFileError else { return false }
                return error.line == line && error.reason.contains(reason)
            }
        }
    }

    @Test func rolesReadAndChangeWhatTheyShould() {
        let alice = Principal(name: "alice", role: .submitter)
        #expect(alice.mayRead(jobOwnedBy: "alice") && alice.mayChange(jobOwnedBy: "alice"))
        #expect(!alice.mayRead(jobOwnedBy: "bob") && !alice.mayChange(jobOwnedBy: nil))
        let viewer = Principal(name: "v", role: .viewer)
        #expect(viewer.mayRead(jobOwnedBy: "bob") && !viewer.mayChange(jobOwnedBy: "bob"))
        let worker = Principal(name: "w", role: .worker)
        #expect(!worker.mayRead(jobOwnedBy: "w") && !worker.mayChange(jobOwnedBy: "w"))
        #expect(Principal.anonymous.mayChange(jobOwnedBy: "anyone"))
        #expect(AccessToken.constantTimeEqual("abc", "abc") && !AccessToken.constantTimeEqual("abc", "abd"))
        #expect(!AccessToken.constantTimeEqual("abc", "abcd"))
    }
}
