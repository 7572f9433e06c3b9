// libFuzzer entry point for the IDX reader, plain and gzip-compressed (the MNIST family's files).
// The limit keeps each run fast; bounded inflation is what is being exercised.
import ConvNet
import Foundation

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ bytes: UnsafePointer<UInt8>, _ count: Int) -> CInt {
    let data = Data(bytes: bytes, count: count)
    if let idx = try? IDXArray(fileBytes: data, path: "fuzz-idx", maxBytes: 1 << 24) {
        precondition(idx.bytes.count == idx.dims.reduce(1, *), "IDX accepted with a wrong length")
    }
    return 0
}
