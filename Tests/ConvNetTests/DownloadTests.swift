import ConvNet
import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// A tiny HTTP/1.1 server on 127.0.0.1 (an ephemeral port) for the download tests. It accepts at most
/// `handlers.count` connections, one after the other, giving the n-th to the n-th handler (after reading the
/// request head), and stops after that, when `stop()` is called, or after `lifetime` seconds, whichever comes first.
private final class TinyHTTPServer: @unchecked Sendable {
    typealias Handler = (_ client: Int32, _ requestHead: String) -> Void
    let port: UInt16
    private let listener: Int32
    private let handlers: [Handler]
    private let lock = NSLock()
    private var stopping = false
    private var _requests: [String] = []
    private let finished = DispatchSemaphore(value: 0)

    var requests: [String] { lock.lock(); defer { lock.unlock() }; return _requests }
    var baseURL: URL { URL(string: "http://127.0.0.1:\(port)/")! }

    init(handlers: [Handler], lifetime: TimeInterval = 20) throws {
        self.handlers = handlers
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw POSIXError(.init(rawValue: errno) ?? .EIO) }
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = 0
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        let bound = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0, listen(fd, 8) == 0 else { close(fd); throw POSIXError(.init(rawValue: errno) ?? .EIO) }
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        let named = withUnsafeMutablePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) }
        }
        guard named == 0 else { close(fd); throw POSIXError(.init(rawValue: errno) ?? .EIO) }
        listener = fd
        port = UInt16(bigEndian: addr.sin_port)
        let deadline = Date().addingTimeInterval(lifetime)
        let thread = Thread { [self] in
            self.serve(until: deadline)
            close(self.listener)
            self.finished.signal()
        }
        thread.name = "TinyHTTPServer"
        thread.start()
    }

    private var shouldStop: Bool { lock.lock(); defer { lock.unlock() }; return stopping }

    private func serve(until deadline: Date) {
        var served = 0
        while served < handlers.count && !shouldStop && Date() < deadline {
            var p = pollfd(fd: listener, events: Int16(POLLIN), revents: 0)
            guard poll(&p, 1, 100) > 0 else { continue }
            let client = accept(listener, nil, nil)
            guard client >= 0 else { continue }
            var tv = timeval(tv_sec: 5, tv_usec: 0)
            setsockopt(client, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
            setsockopt(client, SOL_SOCKET, SO_SNDTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
            let head = Self.readHead(client)
            lock.lock(); _requests.append(head); lock.unlock()
            handlers[served](client, head)
            served += 1
            close(client)
        }
    }

    /// Reads until the blank line that ends the request head (or timeout / close).
    private static func readHead(_ fd: Int32) -> String {
        var bytes: [UInt8] = []
        var buf = [UInt8](repeating: 0, count: 4096)
        while bytes.count < 65536 {
            let n = buf.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n <= 0 { break }
            bytes += buf[0..<n]
            if bytes.count >= 4 && bytes.suffix(4) == [13, 10, 13, 10] { break }
            if let s = String(bytes: bytes, encoding: .utf8), s.contains("\r\n\r\n") { break }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Sends all of `data`, ignoring a client that went away (no SIGPIPE).
    static func send(_ fd: Int32, _ data: Data) {
        data.withUnsafeBytes { (p: UnsafeRawBufferPointer) in
            var off = 0
            while off < p.count {
                let n = Glibc.send(fd, p.baseAddress! + off, p.count - off, Int32(MSG_NOSIGNAL))
                if n <= 0 { return }
                off += n
            }
        }
    }

    static func send(_ fd: Int32, _ text: String) { send(fd, Data(text.utf8)) }

    /// A complete response with a body.
    static func respond(_ fd: Int32, status: String, body: Data, contentType: String = "application/octet-stream") {
        send(fd, "HTTP/1.1 \(status)\r\nContent-Type: \(contentType)\r\nContent-Length: \(body.count)\r\nConnection: close\r\n\r\n")
        send(fd, body)
        shutdown(fd, Int32(SHUT_WR))
    }

    func stop() {
        lock.lock(); stopping = true; lock.unlock()
        _ = finished.wait(timeout: .now() + 5)
    }
}

/// Records progress callbacks (they arrive on URLSession's queue).
private final class ProgressLog: @unchecked Sendable {
    private let lock = NSLock()
    private var calls: [(Int64, Int64)] = []
    func add(_ got: Int64, _ total: Int64) { lock.lock(); calls.append((got, total)); lock.unlock() }
    var all: [(Int64, Int64)] { lock.lock(); defer { lock.unlock() }; return calls }
}

private func makeDownloadDir() throws -> URL {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("convnet-dl-\(UUID().uuidString)", isDirectory: true)
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
}

/// Every entry in the folder, hidden ones included.
private func listing(_ dir: URL) -> [String] {
    ((try? FileManager.default.contentsOfDirectory(atPath: dir.path)) ?? []).sorted()
}

private func payload(_ n: Int) -> Data {
    var s: UInt32 = 2024
    return Data((0..<n).map { _ in s = s &* 1_103_515_245 &+ 12345; return UInt8(truncatingIfNeeded: s >> 16) })
}


@Suite(.serialized, .timeLimit(.minutes(1))) struct DownloadTests {
    @Test func goodFileWithChecksum() throws {
        let body = payload(200_000)
        let md5 = MD5.hex(body)
        let serve: TinyHTTPServer.Handler = { fd, _ in TinyHTTPServer.respond(fd, status: "200 OK", body: body) }
        let server = try TinyHTTPServer(handlers: [serve, serve])
        defer { server.stop() }
        let dir = try makeDownloadDir()
        defer { try? FileManager.default.removeItem(at: dir) }

        let dest = dir.appendingPathComponent("sub/folder/train-images-idx3-ubyte.gz")
        let log = ProgressLog()
        try Downloader.fetch(server.baseURL.appendingPathComponent("files/train-images-idx3-ubyte.gz"), to: dest, md5: md5, timeout: 10) {
            log.add($0, $1)
        }
        #expect(try Data(contentsOf: dest) == body)
        #expect(listing(dest.deletingLastPathComponent()) == ["train-images-idx3-ubyte.gz"], "no partial file left")
        let calls = log.all
        #expect(!calls.isEmpty)
        #expect(calls.last.map { $0.0 == Int64(body.count) && $0.1 == Int64(body.count) } == true,
                "last progress \(String(describing: calls.last)) should be (\(body.count), \(body.count))")
        #expect(zip(calls, calls.dropFirst()).allSatisfy { $0.0 <= $1.0 }, "progress never goes backwards")
        #expect(calls.allSatisfy { $0.1 == Int64(body.count) })
        #expect(server.requests.first?.hasPrefix("GET /files/train-images-idx3-ubyte.gz HTTP/1.1\r\n") == true,
                "request: \(server.requests.first ?? "none")")

        // an upper-case checksum is accepted, no progress callback is fine, and an existing file is replaced
        try Data("old".utf8).write(to: dest)
        try Downloader.fetch(server.baseURL.appendingPathComponent("again"), to: dest, md5: md5.uppercased(), timeout: 10)
        #expect(try Data(contentsOf: dest) == body)
        #expect(listing(dest.deletingLastPathComponent()) == ["train-images-idx3-ubyte.gz"])
    }

    /// A generated IDX test split served over HTTP, fetched with checksums and loaded as a dataset.
    @Test func generatedIDXFilesDownloadAndLoad() throws {
        func be32(_ v: Int) -> [UInt8] { [UInt8(v >> 24 & 0xFF), UInt8(v >> 16 & 0xFF), UInt8(v >> 8 & 0xFF), UInt8(v & 0xFF)] }
        let pixels: [UInt8] = (0..<(3 * 2 * 2)).map { UInt8($0 * 20) }
        let images = Data([0, 0, 8, 3] + be32(3) + be32(2) + be32(2) + pixels)
        let labels = Data([0, 0, 8, 1] + be32(3) + [7, 0, 9])
        let server = try TinyHTTPServer(handlers: [
            { fd, _ in TinyHTTPServer.respond(fd, status: "200 OK", body: images) },
            { fd, _ in TinyHTTPServer.respond(fd, status: "200 OK", body: labels) },
        ])
        defer { server.stop() }
        let dir = try makeDownloadDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        try Downloader.fetch(server.baseURL.appendingPathComponent("t10k-images-idx3-ubyte"), to: dir.appendingPathComponent("t10k-images-idx3-ubyte"),
                             md5: MD5.hex(images), timeout: 10)
        try Downloader.fetch(server.baseURL.appendingPathComponent("t10k-labels-idx1-ubyte"), to: dir.appendingPathComponent("t10k-labels-idx1-ubyte"),
                             md5: MD5.hex(labels), timeout: 10)
        let test = try DatasetKind.mnist.load(split: .test, from: dir)
        #expect(test.count == 3 && test.height == 2 && test.width == 2)
        #expect(test.labels == [7, 0, 9])
        #expect(test.image(2).scalars == pixels[8..<12].map { Float($0) / 255 })
    }

    @Test func wrongChecksumLeavesNoFile() throws {
        let body = payload(50_000)
        let server = try TinyHTTPServer(handlers: [{ fd, _ in TinyHTTPServer.respond(fd, status: "200 OK", body: body) }])
        defer { server.stop() }
        let dir = try makeDownloadDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let url = server.baseURL.appendingPathComponent("data.gz")
        let e = expectDataError("wrong checksum") {
            try Downloader.fetch(url, to: dir.appendingPathComponent("data.gz"), md5: "00000000000000000000000000000000", timeout: 10)
        }
        #expect(e?.reason.contains("checksum") == true, "\(e?.description ?? "nil")")
        #expect(e?.reason.contains(MD5.hex(body)) == true, "the message gives the MD5 received")
        #expect(e?.description.contains(url.absoluteString) == true, "\(e?.description ?? "nil")")
        #expect(listing(dir) == [], "destination folder holds \(listing(dir))")
    }

    @Test func droppedConnectionLeavesNoFile() throws {
        let server = try TinyHTTPServer(handlers: [{ fd, _ in
            TinyHTTPServer.send(fd, "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: 10000\r\n\r\n")
            TinyHTTPServer.send(fd, payload(3000))
            // the server closes the connection after 3000 of the promised 10000 bytes
        }])
        defer { server.stop() }
        let dir = try makeDownloadDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let log = ProgressLog()
        let e = expectDataError("dropped connection") {
            try Downloader.fetch(server.baseURL.appendingPathComponent("big.gz"), to: dir.appendingPathComponent("big.gz"), md5: nil,
                                 timeout: 10) { log.add($0, $1) }
        }
        #expect(e != nil)
        #expect(e?.reason.isEmpty == false)
        #expect(listing(dir) == [], "destination folder holds \(listing(dir))")
        #expect(log.all.allSatisfy { $0.0 <= 3000 })
    }

    @Test func httpNotFound() throws {
        let server = try TinyHTTPServer(handlers: [{ fd, _ in
            TinyHTTPServer.respond(fd, status: "404 Not Found", body: Data("no such file\n".utf8), contentType: "text/plain")
        }])
        defer { server.stop() }
        let dir = try makeDownloadDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let url = server.baseURL.appendingPathComponent("missing.gz")
        let e = expectDataError("404") { try Downloader.fetch(url, to: dir.appendingPathComponent("missing.gz"), md5: nil, timeout: 10) }
        // the port number may contain "404", so look at the reason only
        #expect(e?.reason.contains("404") == true, "\(e?.description ?? "nil")")
        #expect(e?.description.contains(url.absoluteString) == true, "\(e?.description ?? "nil")")
        #expect(listing(dir) == [], "destination folder holds \(listing(dir))")
    }

    @Test func connectionRefused() throws {
        // a port that was just free: bind, read the port, close
        let server = try TinyHTTPServer(handlers: [])
        let port = server.port
        server.stop()
        let dir = try makeDownloadDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let e = expectDataError("refused") {
            try Downloader.fetch(URL(string: "http://127.0.0.1:\(port)/x.gz")!, to: dir.appendingPathComponent("x.gz"), md5: nil, timeout: 5)
        }
        #expect(e?.reason.contains("download failed") == true, "\(e?.description ?? "nil")")
        #expect(listing(dir) == [])
    }
}
