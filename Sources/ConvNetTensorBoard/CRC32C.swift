/// CRC-32C (Castagnoli, the polynomial 0x1EDC6F41 reflected), the checksum TFRecord framing uses,
/// and the masked form TensorFlow stores in event files.
public enum CRC32C {
    /// The byte-at-a-time table of the reflected polynomial 0x82F63B78.
    private static let table: [UInt32] = (0..<256).map { (n: UInt32) -> UInt32 in
        var c = n
        for _ in 0..<8 { c = c & 1 != 0 ? (c >> 1) ^ 0x82F6_3B78 : c >> 1 }
        return c
    }

    /// The CRC-32C of `bytes` (RFC 3720's check value: "123456789" gives 0xE3069283).
    public static func checksum<Bytes: Sequence>(_ bytes: Bytes) -> UInt32 where Bytes.Element == UInt8 {
        update(0, bytes)
    }

    /// Continues `crc` (the checksum of the bytes so far) over `bytes`.
    public static func update<Bytes: Sequence>(_ crc: UInt32, _ bytes: Bytes) -> UInt32 where Bytes.Element == UInt8 {
        table.withUnsafeBufferPointer { t in
            var c = ~crc
            for b in bytes { c = t[Int((c ^ UInt32(b)) & 0xFF)] ^ (c >> 8) }
            return ~c
        }
    }

    /// TFRecord's masked checksum: rotated right by 15 bits plus 0xA282EAD8, so that a CRC stored
    /// inside checksummed data does not checksum to a fixed value.
    public static func masked<Bytes: Sequence>(_ bytes: Bytes) -> UInt32 where Bytes.Element == UInt8 {
        let c = checksum(bytes)
        return ((c >> 15) | (c << 17)) &+ 0xA282_EAD8
    }
}
