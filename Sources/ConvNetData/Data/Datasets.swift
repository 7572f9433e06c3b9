import Foundation

/// The datasets ConvNet knows by name, where to find them and how to fetch them.
public enum DatasetKind: String, CaseIterable, Sendable {
    /// Fashion-MNIST: 28×28 grayscale clothes in 10 classes (D2L's dataset).
    case fashionMNIST = "fashion-mnist"
    /// MNIST: 28×28 grayscale handwritten digits.
    case mnist = "mnist"

    /// The label names of the classes, in label order (D2L's `text_labels`).
    public var classNames: [String] {
        switch self {
        case .fashionMNIST: return ["t-shirt", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag", "ankle boot"]
        case .mnist: return (0..<10).map(String.init)
        }
    }

    /// The four canonical file names with the MD5 of each gzip file as published.
    public var files: [(name: String, md5: String)] {
        switch self {
        case .fashionMNIST: return [
            ("train-images-idx3-ubyte.gz", "8d4fb7e6c68d591d4c3dfef9ec88bf0d"),
            ("train-labels-idx1-ubyte.gz", "25c81989df183df01b3e8a0aad5dffbe"),
            ("t10k-images-idx3-ubyte.gz", "bef4ecab320f06d8554ea6380940ec79"),
            ("t10k-labels-idx1-ubyte.gz", "bb300cfdad3c16e7a12a480ee83cd310"),
        ]
        case .mnist: return [
            ("train-images-idx3-ubyte.gz", "f68b3c2dcbeaaa9fbdd348bbdeb94873"),
            ("train-labels-idx1-ubyte.gz", "d53e105ee54ea40749a09fcbcd1e9432"),
            ("t10k-images-idx3-ubyte.gz", "9fb629c4189551a2d022fa330f9573f3"),
            ("t10k-labels-idx1-ubyte.gz", "ec29112dd5afa0611ce80d1b7f02629c"),
        ]
        }
    }

    /// The dataset's official download address.
    public var baseURL: URL {
        switch self {
        case .fashionMNIST: return URL(string: "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/")!
        case .mnist: return URL(string: "https://ossci-datasets.s3.amazonaws.com/mnist/")!
        }
    }

    /// The environment variable that may point at the data folder.
    public var environmentVariable: String { self == .fashionMNIST ? "FASHION_MNIST_DIR" : "MNIST_DIR" }

    /// Debian's install location (`dataset-fashion-mnist`).
    public var systemDirectory: URL { URL(fileURLWithPath: "/usr/share/datasets/\(rawValue)") }

    /// The per-user cache folder.
    public var cacheDirectory: URL {
        let env = ProcessInfo.processInfo.environment
        let base = env["XDG_CACHE_HOME"].map { URL(fileURLWithPath: $0) }
            ?? URL(fileURLWithPath: env["HOME"] ?? NSTemporaryDirectory()).appendingPathComponent(".cache")
        return base.appendingPathComponent("convnet").appendingPathComponent(rawValue)
    }

    /// Folders searched in order: `--data`, the environment variable, the system folder, the cache.
    public func searchPath(explicit: URL?) -> [URL] {
        var dirs: [URL] = []
        if let explicit { dirs.append(explicit) }
        if let e = ProcessInfo.processInfo.environment[environmentVariable], !e.isEmpty { dirs.append(URL(fileURLWithPath: e)) }
        dirs.append(systemDirectory)
        dirs.append(cacheDirectory)
        return dirs
    }

    /// The first folder holding all four files (gzip or plain), or nil.
    public func locate(explicit: URL?) -> URL? {
        searchPath(explicit: explicit).first { holdsFiles($0) }
    }

    /// Whether `dir` holds all four files (gzip or plain).
    func holdsFiles(_ dir: URL) -> Bool {
        files.allSatisfy { f in
            let fm = FileManager.default
            return fm.fileExists(atPath: dir.appendingPathComponent(f.name).path)
                || fm.fileExists(atPath: dir.appendingPathComponent(String(f.name.dropLast(3))).path)
        }
    }

    /// Loads the train or test split from `directory`.
    public func load(split: Split, from directory: URL) throws -> ImageDataset {
        let (imgName, labName) = split == .train ? (files[0].name, files[1].name) : (files[2].name, files[3].name)
        func pick(_ name: String) -> URL {
            let gz = directory.appendingPathComponent(name)
            return FileManager.default.fileExists(atPath: gz.path) ? gz : directory.appendingPathComponent(String(name.dropLast(3)))
        }
        return try ImageDataset(name: "\(rawValue) \(split.rawValue)", images: pick(imgName), labels: pick(labName), classNames: classNames)
    }
}

/// Which part of a dataset: the training or the test examples.
public enum Split: String, Sendable {
    /// The training examples (60,000 for the MNIST family).
    case train
    /// The test examples (10,000 for the MNIST family).
    case test
}
