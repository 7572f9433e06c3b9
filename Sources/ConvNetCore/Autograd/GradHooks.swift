/// One hook registered on a leaf tensor, run after `backward()` has accumulated its gradient.
final class PostAccumulateGradHook {
    let id: Int
    let run: (Tensor) -> Void
    init(id: Int, run: @escaping (Tensor) -> Void) { self.id = id; self.run = run }
}

/// Removes the hook it was returned for (PyTorch's `RemovableHandle`).
public final class GradHookHandle {
    private weak var tensor: Tensor?
    private let id: Int

    init(tensor: Tensor, id: Int) { self.tensor = tensor; self.id = id }

    /// Unregisters the hook; removing twice does nothing.
    public func remove() {
        guard let tensor else { return }
        tensor.postAccumulateGradHooks?.removeAll { $0.id == id }
        if tensor.postAccumulateGradHooks?.isEmpty == true { tensor.postAccumulateGradHooks = nil }
    }
}

extension Tensor {
    /// Runs `hook` with this leaf each time `backward()` has finished accumulating its gradient
    /// into `grad` (PyTorch's `register_post_accumulate_grad_hook`). All contributions of one
    /// backward have been summed when it runs, so a data-parallel wrapper can start reducing the
    /// gradient while the backward goes on through earlier layers. Hooks run in registration order,
    /// without gradient recording, on the thread that called `backward()`.
    @discardableResult
    public func registerPostAccumulateGradHook(_ hook: @escaping (Tensor) -> Void) -> GradHookHandle {
        checkArgument(isLeaf && requiresGrad, "post accumulate grad hooks can only be registered on leaf tensors that require grad")
        let id = (postAccumulateGradHooks?.map(\.id).max() ?? 0) + 1
        postAccumulateGradHooks = (postAccumulateGradHooks ?? []) + [PostAccumulateGradHook(id: id, run: hook)]
        return GradHookHandle(tensor: self, id: id)
    }
}
