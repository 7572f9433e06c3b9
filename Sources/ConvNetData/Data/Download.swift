import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// Fetches dataset files over HTTP into a folder: progress on the way, checksum verified, and the
/// file renamed into place only when complete and correct, so no half-written file is left.
public enum Downloader {
    /// Downloads `url` to `destination`, checking `md5`; `progress(received, expected)` is called as bytes arrive.
    public static func fetch(_ url: URL, to destination: URL, md5: String?, timeout: TimeInterval = 60,
                             progress: ((Int64, Int64) -> Void)? = nil) throws {
        let dir = destination.deletingLastPathComponent()
        do { try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true) } catch {
            throw DataError(path: dir.path, reason: "cannot create the folder (\(error.localizedDescription))")
        }
        let partial = dir.appendingPathComponent(".\(destination.lastPathComponent).partial-\(getpid())")
        defer { try? FileManager.default.removeItem(at: partial) }
        let delegate = DownloadDelegate(progress: progress)
        let config = URLSessionConfiguration.ephemeral
        config.timeoutIntervalForRequest = timeout
        let session = URLSession(configuration: config, delegate: delegate, delegateQueue: nil)
        defer { session.invalidateAndCancel() }
        session.dataTask(with: url).resume()
        delegate.done.wait()
        if let error = delegate.error {
            throw DataError(path: url.absoluteString, reason: "download failed: \(error.localizedDescription)")
        }
        if let status = delegate.status, !(200..<300).contains(status) {
            throw DataError(path: url.absoluteString, reason: "download failed: HTTP status \(status)")
        }
        if delegate.expected > 0 && Int64(delegate.data.count) != delegate.expected {
            throw DataError(path: url.absoluteString, reason: "download ended after \(delegate.data.count) of \(delegate.expected) bytes")
        }
        if let md5 {
            let got = MD5.hex(delegate.data)
            guard got == md5.lowercased() else {
                throw DataError(path: url.absoluteString, reason: "checksum mismatch: MD5 \(got), expected \(md5)")
            }
        }
        do {
            try delegate.data.write(to: partial)
            if rename(partial.path, destination.path) != 0 { throw CocoaError(.fileWriteUnknown) }
        } catch {
            throw DataError(path: destination.path, reason: "cannot write the file (\(error.localizedDescription))")
        }
    }
}

private final class DownloadDelegate: NSObject, URLSessionDataDelegate, @unchecked Sendable {
    let done = DispatchSemaphore(value: 0)
    var data = Data()
    var expected: Int64 = 0
    var status: Int?
    var error: Error?
    let progress: ((Int64, Int64) -> Void)?

    init(progress: ((Int64, Int64) -> Void)?) { self.progress = progress }

    func urlSession(_ session: URLSession, dataTask: URLSessionDataTask, didReceive response: URLResponse,
                    completionHandler: @escaping (URLSession.ResponseDisposition) -> Void) {
        status = (response as? HTTPURLResponse)?.statusCode
        expected = response.expectedContentLength
        completionHandler(.allow)
    }

    func urlSession(_ session: URLSession, dataTask: URLSessionDataTask, didReceive chunk: Data) {
        data.append(chunk)
        progress?(Int64(data.count), expected)
    }

    func urlSession(_ session: URLSession, task: URLSessionTask, didCompleteWithError error: Error?) {
        self.error = error
        done.signal()
    }
}

extension DatasetKind {
    /// Finds the dataset, or downloads it into the cache folder when no folder has it.
    public func obtain(explicit: URL?, log: @escaping (String) -> Void = { FileHandle.standardError.write(Data(($0 + "\n").utf8)) }) throws -> URL {
        if let explicit {
            // a folder the user named must hold the data: falling back elsewhere would hide a typo
            guard FileManager.default.fileExists(atPath: explicit.path) else { throw DataError(path: explicit.path, reason: "no such folder") }
            guard holdsFiles(explicit) else {
                throw DataError(path: explicit.path, reason: "does not hold the \(rawValue) files (\(files.map(\.name).joined(separator: ", ")), gzip or plain)")
            }
            return explicit
        }
        if let dir = locate(explicit: nil) { return dir }
        let dir = cacheDirectory
        log("\(rawValue) not found in \(searchPath(explicit: explicit).map(\.path).joined(separator: ", ")); downloading to \(dir.path)")
        for f in files where !FileManager.default.fileExists(atPath: dir.appendingPathComponent(f.name).path) {
            var last = -1
            do { try Downloader.fetch(baseURL.appendingPathComponent(f.name), to: dir.appendingPathComponent(f.name), md5: f.md5) { got, total in
                let pct = total > 0 ? Int(got * 100 / total) : -1
                if pct / 10 != last / 10 { last = pct; log("  \(f.name): \(pct >= 0 ? "\(pct)%" : "\(got) bytes")") }
            } } catch let e as DataError {
                let hint = self == .fashionMNIST ? " (on Debian: apt-get install dataset-fashion-mnist)" : ""
                throw DataError(path: e.path, reason: e.reason + "; or put the four IDX files in a folder and pass --data DIR" + hint)
            }
        }
        return dir
    }
}
