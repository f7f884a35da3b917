import Foundation
import MeshFarmSandbox

// `meshfarm-test-importer` (tests only): `meshfarm-import` with misbehaviours
// on demand, chosen by the model file's first line, so tests can show how a
// crashing, hanging or runaway import is contained:
//
//   MESHFARM-TEST crash        dereferences an invalid pointer (SIGSEGV)
//   MESHFARM-TEST abort        abort() (SIGABRT), as a failed C++ assertion
//   MESHFARM-TEST hang         sleeps forever (the wall-clock limit)
//   MESHFARM-TEST spin         burns CPU forever (the CPU-time limit)
//   MESHFARM-TEST env          crashes if MESHFARM_SECRET_TEST reached it
//                              (the parent must withhold its environment)
//   MESHFARM-TEST eat-memory   allocates and touches memory until an
//                              allocation fails, then uses the NULL it got,
//                              as a careless C importer would
//
// Any other file is imported normally.
let arguments = CommandLine.arguments
if arguments.count > 1, let handle = FileHandle(forReadingAtPath: arguments[1]),
    let head = try? handle.read(upToCount: 64), let line = String(data: head, encoding: .utf8),
    line.hasPrefix("MESHFARM-TEST ")
{
    let command = line.dropFirst("MESHFARM-TEST ".count).prefix { !$0.isNewline }
    switch command {
    case "crash":
        UnsafeMutablePointer<Int>(bitPattern: 8)!.pointee = 1
    case "abort":
        abort()
    case "env":
        if ProcessInfo.processInfo.environment["MESHFARM_SECRET_TEST"] != nil { abort() }
    case "hang":
        while true { sleep(1000) }
    case "spin":
        var x = UInt64(getpid())
        while true {
            x = x &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            if x == 0x5EED { print(x) }  // an observable effect, so the loop is not optimised away
        }
    case "eat-memory":
        var blocks: [UnsafeMutableRawPointer?] = []
        while true {
            let block = malloc(64 << 20)
            blocks.append(block)
            block!.initializeMemory(as: UInt8.self, repeating: 1, count: 64 << 20)
        }
    default:
        break
    }
}
exit(ImportChild.main(arguments))
