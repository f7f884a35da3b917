import ArgumentParser
import Foundation
import MeshFarmAuth

/// `meshfarm token create --name N --role R`: a new bearer token, printed
/// once, and the line that grants it for the service's tokens file.
struct TokenCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "token", abstract: "Create API tokens for the submit service's tokens file.",
        subcommands: [Create.self])

    struct Create: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print a new token once, and the line to add to the tokens file (which keeps only its hash).")

        @Option(help: "Who holds it: 1 to 64 of A-Z a-z 0-9 . _ @ - (jobs record it as their owner).")
        var name: String

        @Option(help: "submitter, viewer, worker or admin.")
        var role: String

        func validate() throws {
            guard TokenBook.isValidName(name) else {
                throw ValidationError("--name must be 1 to 64 of A-Z a-z 0-9 . _ @ -")
            }
            guard Role(rawValue: role) != nil else {
                throw ValidationError("--role must be one of \(Role.allCases.map(\.rawValue).joined(separator: ", "))")
            }
        }

        func run() throws {
            let token = AccessToken.generate()
            let line = TokenBook.line(for: Principal(name: name, role: Role(rawValue: role)!), token: token)
            print("token: \(token)")
            print("tokens file line: \(line)")
        }
    }
}
