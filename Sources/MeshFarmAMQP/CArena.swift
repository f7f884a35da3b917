import CAMQP
import Foundation
import MeshFarmMessaging

/// Owns C memory handed to librabbitmq for the duration of one call.
///
/// `amqp_bytes_t` does not own what it points at, and Swift strings are only
/// pinned inside `withCString`; nesting closures for every field of a
/// publish would be unreadable. The arena copies each value into malloc'd
/// memory and frees all of it when it goes out of scope.
final class CArena {
    private var allocations: [UnsafeMutableRawPointer] = []

    deinit { allocations.forEach { free($0) } }

    /// `amqp_bytes_t` over a copy of the UTF-8 bytes of `string`.
    func bytes(_ string: String) -> amqp_bytes_t {
        bytes(Data(string.utf8))
    }

    /// `amqp_bytes_t` over a copy of `data`.
    func bytes(_ data: Data) -> amqp_bytes_t {
        guard !data.isEmpty else { return amqp_empty_bytes }
        let memory = malloc(data.count)!
        allocations.append(memory)
        data.copyBytes(to: memory.assumingMemoryBound(to: UInt8.self), count: data.count)
        return amqp_bytes_t(len: data.count, bytes: memory)
    }

    /// An `amqp_table_t` holding `headers`, sorted by key for determinism.
    func table(_ headers: [String: HeaderValue]) -> amqp_table_t {
        guard !headers.isEmpty else { return amqp_empty_table }
        let entries = allocate(amqp_table_entry_t.self, count: headers.count)
        for (offset, key) in headers.keys.sorted().enumerated() {
            entries[offset] = amqp_table_entry_t(key: bytes(key), value: field(headers[key]!))
        }
        return amqp_table_t(num_entries: Int32(headers.count), entries: entries)
    }

    private func field(_ value: HeaderValue) -> amqp_field_value_t {
        var field = amqp_field_value_t()
        switch value {
        case .string(let s):
            field.kind = UInt8(AMQP_FIELD_KIND_UTF8.rawValue)
            field.value.bytes = bytes(s)
        case .int(let i):
            field.kind = UInt8(AMQP_FIELD_KIND_I64.rawValue)
            field.value.i64 = i
        case .bool(let b):
            field.kind = UInt8(AMQP_FIELD_KIND_BOOLEAN.rawValue)
            field.value.boolean = b ? 1 : 0
        case .double(let d):
            field.kind = UInt8(AMQP_FIELD_KIND_F64.rawValue)
            field.value.f64 = d
        case .array(let values):
            field.kind = UInt8(AMQP_FIELD_KIND_ARRAY.rawValue)
            let entries = allocate(amqp_field_value_t.self, count: max(values.count, 1))
            for (i, v) in values.enumerated() { entries[i] = self.field(v) }
            field.value.array = amqp_array_t(num_entries: Int32(values.count), entries: entries)
        case .table(let t):
            field.kind = UInt8(AMQP_FIELD_KIND_TABLE.rawValue)
            field.value.table = table(t)
        }
        return field
    }

    private func allocate<T>(_ type: T.Type, count: Int) -> UnsafeMutablePointer<T> {
        let memory = malloc(MemoryLayout<T>.stride * count)!
        allocations.append(memory)
        return memory.bindMemory(to: T.self, capacity: count)
    }
}

/// Copies librabbitmq values into Swift values (before the buffers holding
/// them are released).
enum CValues {
    static func string(_ bytes: amqp_bytes_t) -> String {
        guard bytes.len > 0, let pointer = bytes.bytes else { return "" }
        return String(decoding: UnsafeRawBufferPointer(start: pointer, count: bytes.len), as: UTF8.self)
    }

    static func data(_ bytes: amqp_bytes_t) -> Data {
        guard bytes.len > 0, let pointer = bytes.bytes else { return Data() }
        return Data(bytes: pointer, count: bytes.len)
    }

    static func table(_ table: amqp_table_t) -> [String: HeaderValue] {
        var result: [String: HeaderValue] = [:]
        for i in 0..<Int(table.num_entries) {
            let entry = table.entries[i]
            if let value = field(entry.value) { result[string(entry.key)] = value }
        }
        return result
    }

    static func field(_ field: amqp_field_value_t) -> HeaderValue? {
        switch UInt32(field.kind) {
        case AMQP_FIELD_KIND_UTF8.rawValue, AMQP_FIELD_KIND_BYTES.rawValue: .string(string(field.value.bytes))
        case AMQP_FIELD_KIND_BOOLEAN.rawValue: .bool(field.value.boolean != 0)
        case AMQP_FIELD_KIND_I8.rawValue: .int(Int64(field.value.i8))
        case AMQP_FIELD_KIND_U8.rawValue: .int(Int64(field.value.u8))
        case AMQP_FIELD_KIND_I16.rawValue: .int(Int64(field.value.i16))
        case AMQP_FIELD_KIND_U16.rawValue: .int(Int64(field.value.u16))
        case AMQP_FIELD_KIND_I32.rawValue: .int(Int64(field.value.i32))
        case AMQP_FIELD_KIND_U32.rawValue: .int(Int64(field.value.u32))
        case AMQP_FIELD_KIND_I64.rawValue: .int(field.value.i64)
        case AMQP_FIELD_KIND_U64.rawValue, AMQP_FIELD_KIND_TIMESTAMP.rawValue: .int(Int64(bitPattern: field.value.u64))
        case AMQP_FIELD_KIND_F32.rawValue: .double(Double(field.value.f32))
        case AMQP_FIELD_KIND_F64.rawValue: .double(field.value.f64)
        case AMQP_FIELD_KIND_TABLE.rawValue: .table(table(field.value.table))
        case AMQP_FIELD_KIND_ARRAY.rawValue:
            .array((0..<Int(field.value.array.num_entries)).compactMap { self.field(field.value.array.entries[$0]) })
        default: nil
        }
    }
}
