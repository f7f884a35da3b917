import Foundation

/// What the storage collector removes, decided from what is stored and
/// what jobs name (mark and sweep), as a pure value.
///
/// An artifact stays while any job in the store names it (the mark). An
/// artifact no job names goes once unused for `grace` (an upload never
/// attached to a job, a worker's result whose event never came), or, if
/// a job deleted since the last sweep named it (`released`), once unused
/// for `recentUse`: its space comes back at once after a deletion, while
/// whatever was stored or named in the last minutes (a job being created
/// right now, a worker's upload whose event is on its way) is spared.
/// Partial writes in `tmp/` go after `grace` too.
public struct ArtifactSweep: Sendable, Equatable {
    /// How long an artifact no job names may stay unused (default a day).
    public var grace: Double
    /// How long anything stored or named recently is spared (default ten
    /// minutes): longer than a job takes from its upload's check to its
    /// store write.
    public var recentUse: Double

    /// A grace period shorter than `recentUse` is raised to it: nothing
    /// used in the last minutes is removed, whatever the settings.
    public init(grace: Double = 86_400, recentUse: Double = 600) {
        self.grace = max(grace, recentUse)
        self.recentUse = recentUse
    }

    /// What to remove, each with the time it must not have been used since
    /// (the store checks it again as it removes).
    public struct Removal: Sendable, Equatable {
        public var name: String
        public var bytes: Int
        public var unusedSince: Date
    }

    /// The artifacts to remove; `marked` are those jobs name.
    public func removals(
        of stored: [StoredArtifact], marked: Set<String>, released: Set<String>, now: Date
    ) -> [Removal] {
        stored.compactMap { artifact in
            guard !marked.contains(artifact.name) else { return nil }
            let cutoff = now.addingTimeInterval(-(released.contains(artifact.name) ? recentUse : grace))
            guard artifact.lastUsed < cutoff else { return nil }
            return Removal(name: artifact.name, bytes: artifact.bytes, unusedSince: cutoff)
        }
    }

    /// Partial writes older than the grace period.
    public func stalePartials(_ partial: [StoredArtifact], now: Date) -> [StoredArtifact] {
        partial.filter { $0.lastUsed < now.addingTimeInterval(-grace) }
    }
}

/// Bytes of distinct artifacts per owner: what counts against a quota of
/// stored bytes. An artifact two jobs of one owner share counts once; one
/// two owners share counts for each.
public func storedBytes(perOwner references: [String: Set<String>], size: (String) -> Int?) -> [String: Int] {
    references.mapValues { hashes in hashes.reduce(0) { $0 + (size($1) ?? 0) } }
}
