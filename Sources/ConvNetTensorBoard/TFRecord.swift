/// TFRecord framing, the container of TensorBoard's event files: each record is its length
/// (UInt64, little-endian), the masked CRC-32C of those 8 bytes, the data, and the masked CRC-32C
/// of the data.
public enum TFRecord {
    /// The bytes of one record holding `data`.
    public static func frame(_ data: [UInt8]) -> [UInt8] {
        var out = [UInt8]()
        out.reserveCapacity(data.count + 16)
        let length = withUnsafeBytes(of: UInt64(data.count).littleEndian) { Array($0) }
        out += length
        appendLittleEndian(CRC32C.masked(length), to: &out)
        out += data
        appendLittleEndian(CRC32C.masked(data), to: &out)
        return out
    }

    private static func appendLittleEndian(_ v: UInt32, to out: inout [UInt8]) {
        withUnsafeBytes(of: v.littleEndian) { out += $0 }
    }
}
