import CZlib
import Foundation

/// Errors from compressed data.
public struct CompressionError: Error, CustomStringConvertible {
    /// What went wrong.
    public let description: String
}

/// gzip/zlib through the system's zlib.
public enum Zlib {
    /// Inflates gzip or zlib data (the header is detected).
    public static func inflate(_ input: Data, sizeHint: Int = 0) throws -> Data {
        var stream = z_stream()
        guard inflateInit2_(&stream, 15 + 32, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
            throw CompressionError(description: "zlib inflateInit failed")
        }
        defer { inflateEnd(&stream) }
        var out = Data(count: max(sizeHint, input.count * 4, 1 << 16))
        var produced = 0
        var status: Int32 = Z_OK
        try input.withUnsafeBytes { (src: UnsafeRawBufferPointer) in
            stream.next_in = UnsafeMutablePointer(mutating: src.bindMemory(to: Bytef.self).baseAddress)
            stream.avail_in = uInt(src.count)
            repeat {
                if produced == out.count { out.count *= 2 }
                let room = out.count - produced
                status = out.withUnsafeMutableBytes { (dst: UnsafeMutableRawBufferPointer) -> Int32 in
                    stream.next_out = dst.bindMemory(to: Bytef.self).baseAddress! + produced
                    stream.avail_out = uInt(room)
                    let r = CZlib.inflate(&stream, Z_NO_FLUSH)
                    produced += room - Int(stream.avail_out)
                    return r
                }
                if status == Z_STREAM_END { break }
                if status == Z_BUF_ERROR && stream.avail_in == 0 {
                    throw CompressionError(description: "compressed data ends early (truncated file)")
                }
                guard status == Z_OK || status == Z_BUF_ERROR else {
                    throw CompressionError(description: "corrupt compressed data (zlib error \(status))")
                }
            } while true
        }
        out.count = produced
        return out
    }

    /// Inflates zlib data into at most `limit` bytes: the output never grows past what the caller
    /// expects (a PNG's rows), so a small hostile stream cannot expand into gigabytes. Returns the
    /// bytes produced (fewer when the stream ends early); data beyond `limit` is not inflated.
    /// With `acceptGzip`, a gzip stream is accepted too (the header is detected).
    public static func inflate(_ input: UnsafeRawBufferPointer, limit: Int, acceptGzip: Bool = false) throws -> [UInt8] {
        var stream = z_stream()
        guard inflateInit2_(&stream, acceptGzip ? 15 + 32 : 15, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
            throw CompressionError(description: "zlib inflateInit failed")
        }
        defer { inflateEnd(&stream) }
        // the buffer grows as data arrives (zlib expands at most ~1032×), so a tiny file declaring a
        // huge image costs little; one spare byte lets a stream that fills `limit` exactly reach
        // its end and checksum
        var out = [UInt8](repeating: 0, count: Swift.min(limit + 1, Swift.max(input.count * 8, 1 << 16)))
        var produced = 0
        stream.next_in = UnsafeMutablePointer(mutating: input.bindMemory(to: Bytef.self).baseAddress)
        stream.avail_in = uInt(input.count)
        while true {
            if produced == out.count {
                guard out.count < limit + 1 else { break }
                out += [UInt8](repeating: 0, count: Swift.min(out.count, limit + 1 - out.count))
            }
            let room = out.count - produced
            let status = out.withUnsafeMutableBufferPointer { dst -> Int32 in
                stream.next_out = dst.baseAddress! + produced
                stream.avail_out = uInt(room)
                let r = CZlib.inflate(&stream, Z_NO_FLUSH)
                produced += room - Int(stream.avail_out)
                return r
            }
            if status == Z_STREAM_END { break }
            if stream.avail_out == 0 { continue }
            if status == Z_BUF_ERROR || (status == Z_OK && stream.avail_in == 0) {
                throw CompressionError(description: "compressed data ends early (truncated file)")
            }
            guard status == Z_OK else {
                let msg = stream.msg.map { String(cString: $0) } ?? "zlib error \(status)"
                throw CompressionError(description: "corrupt compressed data (\(msg))")
            }
        }
        out.removeLast(out.count - Swift.min(produced, limit))
        return out
    }

    /// Compresses to the zlib format (as PNG's IDAT needs).
    public static func deflate(_ input: Data, level: Int32 = 6) throws -> Data {
        var destLen = compressBound(uLong(input.count))
        var out = Data(count: Int(destLen))
        let status = out.withUnsafeMutableBytes { dst in
            input.withUnsafeBytes { src in
                compress2(dst.bindMemory(to: Bytef.self).baseAddress, &destLen,
                          src.bindMemory(to: Bytef.self).baseAddress, uLong(input.count), level)
            }
        }
        guard status == Z_OK else { throw CompressionError(description: "zlib compress failed (\(status))") }
        out.count = Int(destLen)
        return out
    }

    /// CRC-32 as PNG chunks use it.
    public static func crc32(_ data: Data, initial: UInt = 0) -> UInt32 {
        data.withUnsafeBytes { UInt32(CZlib.crc32(uLong(initial), $0.bindMemory(to: Bytef.self).baseAddress, uInt($0.count))) }
    }
}
