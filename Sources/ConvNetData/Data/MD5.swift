import Foundation

/// MD5 (RFC 1321), only to verify downloads against the checksums datasets publish.
public struct MD5 {
    private var state: (UInt32, UInt32, UInt32, UInt32) = (0x6745_2301, 0xEFCD_AB89, 0x98BA_DCFE, 0x1032_5476)
    private var buffer: [UInt8] = []
    private var length: UInt64 = 0

    private static let s: [UInt32] = [7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22,
                                      5, 9, 14, 20, 5, 9, 14, 20, 5, 9, 14, 20, 5, 9, 14, 20,
                                      4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23,
                                      6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15, 21]
    private static let k: [UInt32] = (0..<64).map { UInt32(truncatingIfNeeded: Int64(abs(sin(Double($0 + 1))) * 4_294_967_296)) }

    /// An empty digest.
    public init() {}

    /// Feeds `data` into the digest.
    public mutating func update(_ data: Data) {
        length &+= UInt64(data.count)
        buffer.append(contentsOf: data)
        var offset = 0
        while buffer.count - offset >= 64 {
            block(buffer, offset)
            offset += 64
        }
        buffer.removeFirst(offset)
    }

    private mutating func block(_ b: [UInt8], _ o: Int) {
        var m = [UInt32](repeating: 0, count: 16)
        for i in 0..<16 { m[i] = UInt32(b[o + 4 * i]) | UInt32(b[o + 4 * i + 1]) << 8 | UInt32(b[o + 4 * i + 2]) << 16 | UInt32(b[o + 4 * i + 3]) << 24 }
        var (a, bb, c, d) = state
        for i in 0..<64 {
            var f: UInt32, g: Int
            switch i {
            case 0..<16: f = (bb & c) | (~bb & d); g = i
            case 16..<32: f = (d & bb) | (~d & c); g = (5 * i + 1) % 16
            case 32..<48: f = bb ^ c ^ d; g = (3 * i + 5) % 16
            default: f = c ^ (bb | ~d); g = (7 * i) % 16
            }
            f = f &+ a &+ MD5.k[i] &+ m[g]
            a = d; d = c; c = bb
            bb = bb &+ (f << MD5.s[i] | f >> (32 - MD5.s[i]))
        }
        state = (state.0 &+ a, state.1 &+ bb, state.2 &+ c, state.3 &+ d)
    }

    /// The digest as 32 lowercase hex digits.
    public mutating func hexDigest() -> String {
        let bits = length &* 8
        var tail: [UInt8] = [0x80]
        while (buffer.count + tail.count) % 64 != 56 { tail.append(0) }
        for i in 0..<8 { tail.append(UInt8(truncatingIfNeeded: bits >> (8 * UInt64(i)))) }
        buffer.append(contentsOf: tail)
        var offset = 0
        while offset < buffer.count { block(buffer, offset); offset += 64 }
        buffer = []
        return [state.0, state.1, state.2, state.3].map { w in
            (0..<4).map { String(format: "%02x", (w >> (8 * UInt32($0))) & 0xFF) }.joined()
        }.joined()
    }

    /// The lowercase hex MD5 of `data`.
    public static func hex(_ data: Data) -> String { var h = MD5(); h.update(data); return h.hexDigest() }
}
