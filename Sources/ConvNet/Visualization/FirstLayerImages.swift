import ConvNetCore
import ConvNetData
import ConvNetNN

/// Pictures of a model's first convolution: its kernels, and the feature maps it makes of one
/// image — what `convnet visualize` writes and the trainer logs to TensorBoard.
public enum FirstLayerImages {
    /// The model's first convolution in module order (the stem of every zoo model), or nil when it
    /// has none or it is still lazy (no input seen yet).
    public static func firstConvolution(of model: any Module) -> Conv2d? {
        guard let conv = model.modules().compactMap({ $0 as? Conv2d }).first, !conv.isLazy else { return nil }
        return conv
    }

    /// The kernels as a grid: one tile per (output, input) channel pair (at most 3 inputs), each
    /// scaled to its own range, 16 tiles a row, enlarged to about 64 pixels a side.
    public static func kernels(of conv: Conv2d) -> Image8 {
        let w = conv.weight
        let (co, ci, kh, kw) = (w.shape[0], w.shape[1], w.shape[2], w.shape[3])
        let ws = w.scalars
        var tiles: [[Float]] = []
        for o in 0..<co { for c in 0..<Swift.min(ci, 3) {
            let t = Array(ws[((o * ci + c) * kh * kw)..<((o * ci + c + 1) * kh * kw)])
            let lo = t.min()!, hi = t.max()!
            tiles.append(t.map { hi > lo ? ($0 - lo) / (hi - lo) : 0.5 })
        } }
        return Image8.grid(tiles: tiles, tileWidth: kw, tileHeight: kh, columns: Swift.min(16, tiles.count), scale: Swift.max(1, 64 / kh))
    }

    /// The input image `x` ([1, C, H, W]; its channels averaged, resized to the maps' size) and
    /// then each channel of `relu(conv(x))` scaled by its maximum, 8 tiles a row, enlarged to
    /// about 112 pixels a side.
    public static func featureMaps(of conv: Conv2d, input x: Tensor) -> Image8 {
        let maps = withNoGrad { relu(conv(x)) }
        let (mh, mw) = (maps.shape[2], maps.shape[3])
        let ms = maps.scalars
        let mapTiles = (0..<maps.shape[1]).map { c -> [Float] in
            let t = Array(ms[(c * mh * mw)..<((c + 1) * mh * mw)])
            let hi = Swift.max(t.max()!, 1e-6)
            return t.map { $0 / hi }
        }
        // the input goes first, resized to the maps' size so every tile has the same shape
        let (c, h, w) = (x.shape[1], x.shape[2], x.shape[3])
        let xs = x.scalars
        var grey = [Float](repeating: 0, count: h * w)
        for ch in 0..<c { for i in 0..<(h * w) { grey[i] += xs[ch * h * w + i] / Float(c) } }
        var input = [Float](repeating: 0, count: mh * mw)
        grey.withUnsafeBufferPointer { src in
            input.withUnsafeMutableBufferPointer { dst in
                resizeBilinear(src.baseAddress!, planes: 1, height: h, width: w, toHeight: mh, toWidth: mw, into: dst.baseAddress!)
            }
        }
        return Image8.grid(tiles: [input] + mapTiles, tileWidth: mw, tileHeight: mh,
                           columns: Swift.min(8, mapTiles.count + 1), scale: Swift.max(1, 112 / mh))
    }
}
