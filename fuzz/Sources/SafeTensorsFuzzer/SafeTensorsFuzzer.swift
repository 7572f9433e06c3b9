// libFuzzer entry point for the safetensors reader: header JSON, dtypes, shapes and offsets. Every
// accepted file's tensors are also converted, as `Module.load` would.
import ConvNet
import Foundation

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ bytes: UnsafePointer<UInt8>, _ count: Int) -> CInt {
    let data = Data(bytes: bytes, count: count)
    if let (entries, _) = try? SafeTensors.parse(data, path: "fuzz.safetensors") {
        for (_, entry) in entries {
            let values = entry.floats()
            precondition(values.count == entry.shape.reduce(1, *), "safetensors entry with a wrong element count")
            if [.i64, .i32, .u8].contains(entry.dtype) { _ = entry.integers() }
        }
    }
    return 0
}
