import Foundation

/// The process's resident-memory high-water mark (Linux `VmHWM`), resettable so that each benchmark
/// row reports the peak of its own workload. PyTorch's twin (benchmarks/pytorch_bench.py) measures
/// the same way, so the two columns compare whole processes doing the same work.
enum ProcessMemory {
    /// Resets the high-water mark to the current resident size (`echo 5 > /proc/self/clear_refs`).
    static func resetPeak() {
        guard let h = FileHandle(forWritingAtPath: "/proc/self/clear_refs") else { return }
        h.write(Data("5".utf8))
        try? h.close()
    }

    /// The high-water mark in bytes, or nil where /proc is not available.
    static func peakBytes() -> Int? {
        // /proc files report size 0, so read until the end rather than by size
        guard let h = FileHandle(forReadingAtPath: "/proc/self/status") else { return nil }
        defer { try? h.close() }
        guard let data = try? h.readToEnd(), let status = String(data: data, encoding: .utf8) else { return nil }
        for line in status.split(separator: "\n") where line.hasPrefix("VmHWM:") {
            // "VmHWM:\t  365000 kB"
            let kb = line.dropFirst(6).split(whereSeparator: { $0 == " " || $0 == "\t" }).first.flatMap { Int($0) }
            return kb.map { $0 * 1024 }
        }
        return nil
    }
}
