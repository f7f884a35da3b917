/// What a token may do. Checked per route by the submit service
/// (`APIRoutes`), and per job where jobs have owners.
public enum Role: String, Sendable, Hashable, Codable, CaseIterable {
    /// Uploads, creates jobs, reads and cancels its own jobs and their
    /// results.
    case submitter
    /// Reads every job and the farm's state; changes nothing.
    case viewer
    /// A worker process: artifact downloads and uploads only, no job routes.
    case worker
    /// Everything, including other users' jobs.
    case admin
}

/// Who made a request: the name and role of the token it carried.
public struct Principal: Sendable, Hashable, Codable {
    public var name: String
    public var role: Role

    public init(name: String, role: Role) {
        self.name = name
        self.role = role
    }

    /// The service without a tokens file (loopback development, or
    /// `--insecure-no-auth`): every request acts as this admin.
    public static let anonymous = Principal(name: "anonymous", role: .admin)

    /// May read the job owned by `owner` (nil: a job from before owners).
    public func mayRead(jobOwnedBy owner: String?) -> Bool {
        switch role {
        case .admin, .viewer: true
        case .submitter: owner == name
        case .worker: false
        }
    }

    /// May cancel (and later retry or delete) the job owned by `owner`.
    public func mayChange(jobOwnedBy owner: String?) -> Bool {
        switch role {
        case .admin: true
        case .submitter: owner == name
        case .viewer, .worker: false
        }
    }

    /// Sees every job in lists, not only its own.
    public var seesAllJobs: Bool { role == .admin || role == .viewer }
}
