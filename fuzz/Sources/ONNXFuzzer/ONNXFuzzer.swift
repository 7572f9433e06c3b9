// libFuzzer entry point for ConvNet's ONNX reader (ONNXModel: protobuf decoding, graph checks,
// shape inference), built by fuzz/run.sh (fuzz/Package.swift) against the whole library. An input
// that reads without error is also run on its declared input shape when that is small: every shape
// the forward sees was checked while reading, so it must not trap.
import ConvNet
import Foundation

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ bytes: UnsafePointer<UInt8>, _ count: Int) -> CInt {
    let data = Data(bytes: bytes, count: count)
    guard let model = try? ONNXModel(data: data, path: "fuzz", maxElements: 1 << 20) else { return 0 }
    let s = model.inputShape
    guard !s.isEmpty, s.dropFirst().allSatisfy({ $0 != nil }) else { return 0 }
    let shape = [1] + s.dropFirst().map { $0! }
    guard shape.reduce(1, *) <= 1 << 14 else { return 0 }
    _ = withNoGrad { model(Tensor(shape: shape, repeating: 0.25)) }
    return 0
}
