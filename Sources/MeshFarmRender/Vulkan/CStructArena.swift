/// Keeps Vulkan create-info structs, the arrays they point at and C
/// strings at stable addresses for as long as the arena lives.
///
/// A Vulkan create call takes a tree of structs linked by pointers.
/// `withUnsafePointer(to:)` gives a pointer valid only inside its closure,
/// so building such a tree that way nests one closure per pointer; with an
/// arena the tree is built top to bottom and freed when the arena goes.
public final class CStructArena {
    private var releases: [() -> Void] = []

    public init() {}

    deinit { for release in releases { release() } }

    /// A copy of `value` at a stable address.
    public func pointer<T>(to value: T) -> UnsafeMutablePointer<T> { pointer(to: [value]) }

    /// A copy of `values` at a stable address (first element).
    public func pointer<T>(to values: [T]) -> UnsafeMutablePointer<T> {
        let count = values.count
        let storage = UnsafeMutablePointer<T>.allocate(capacity: max(count, 1))
        storage.initialize(from: values, count: count)
        releases.append {
            storage.deinitialize(count: count)
            storage.deallocate()
        }
        return storage
    }

    /// A NUL-terminated copy of `string`.
    public func cString(_ string: String) -> UnsafePointer<CChar> {
        UnsafePointer(pointer(to: Array(string.utf8CString)))
    }
}
