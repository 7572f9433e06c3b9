// libFuzzer entry point for ConvNet's image decoders (PNG and JPEG through ImageDecoder), built by
// fuzz/run.sh. A PNG input gets its chunk CRCs repaired first, so
// the fuzzer's mutations reach the decoder instead of stopping at the checksum.
import ConvNet
import Foundation

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ bytes: UnsafePointer<UInt8>, _ count: Int) -> CInt {
    var b = [UInt8](UnsafeBufferPointer(start: bytes, count: count))
    if b.count >= 8 && b[0] == 0x89 && b[1] == 0x50 { repairCRCs(&b) }
    // a 4-megapixel cap keeps each run fast; the default limit is exercised by the Swift tests
    if let img = try? ImageDecoder.decode(Data(b), path: "fuzz", maxPixels: 1 << 22) {
        _ = img.converted(toChannels: 1)
        _ = img.converted(toChannels: 3)
    }
    return 0
}

func repairCRCs(_ b: inout [UInt8]) {
    var pos = 8
    while pos + 12 <= b.count {
        let len = Int(b[pos]) << 24 | Int(b[pos + 1]) << 16 | Int(b[pos + 2]) << 8 | Int(b[pos + 3])
        guard len <= b.count - pos - 12 else { return }
        let crc = Zlib.crc32(Data(b[(pos + 4)..<(pos + 8 + len)]))
        b[pos + 8 + len] = UInt8(crc >> 24); b[pos + 9 + len] = UInt8((crc >> 16) & 0xFF)
        b[pos + 10 + len] = UInt8((crc >> 8) & 0xFF); b[pos + 11 + len] = UInt8(crc & 0xFF)
        pos += 12 + len
    }
}
