import ConvNetCore
import ConvNetData
import ConvNetNN
import Foundation

extension Module {
    /// Saves the state dict as safetensors (`num_batches_tracked` as I64, as PyTorch writes it).
    public func save(to url: URL, metadata: [String: String]? = nil) throws {
        let sd = stateDict()
        try SafeTensors.write(sd, to: url, metadata: metadata, int64Keys: Set(sd.keys.filter { $0.hasSuffix("num_batches_tracked") }))
    }

    /// Loads weights saved by `save(to:)` or by PyTorch's `safetensors.torch.save_file(model.state_dict(), …)`.
    public func load(from url: URL, strict: Bool = true) throws {
        let sd = try SafeTensors.read(from: url)
        do { try loadStateDict(sd, strict: strict) } catch let e as StateDictError {
            throw SafeTensorsError(path: url.path, reason: e.description)
        }
    }
}
