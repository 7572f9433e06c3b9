import ArgumentParser
import ConvNet
import Foundation

/// Options every data-using command shares.
struct DataOptions: ParsableArguments {
    @Option(help: "Folder holding the dataset's IDX files (default: $FASHION_MNIST_DIR, /usr/share/datasets/fashion-mnist, then the user cache; downloads when missing).")
    var data: String?

    @Option(help: "Dataset: fashion-mnist or mnist.")
    var dataset: String = "fashion-mnist"

    @Option(help: "Threads for the kernels (default: all cores, or $CONVNET_NUM_THREADS; under mpirun, the cores shared among the ranks on this machine).")
    var threads: Int?

    func validate() throws {
        try checkRange(threads, 1...1024, "--threads")
    }

    func apply() throws {
        if let threads { Threads.count = threads }
        else if ProcessInfo.processInfo.environment["CONVNET_NUM_THREADS"] == nil,
                let local = ProcessInfo.processInfo.environment["OMPI_COMM_WORLD_LOCAL_SIZE"].flatMap(Int.init), local > 1 {
            // several ranks on this machine: each one its share of the cores, not all of them
            Threads.count = Swift.max(1, ProcessInfo.processInfo.activeProcessorCount / local)
        }
    }

    func kind() throws -> DatasetKind {
        try parseChoice(dataset, DatasetKind.self, what: "dataset")
    }

    func load(_ split: Split) throws -> ImageDataset {
        let k = try kind()
        let dir = try k.obtain(explicit: data.map { URL(fileURLWithPath: $0) })
        return try k.load(split: split, from: dir)
    }
}

func loadSpec(_ name: String) throws -> ModelSpec {
    do { return try ModelZoo.spec(named: name) } catch let e as UnknownModelError { throw CLIError(message: e.description) }
}

/// Parses "C,H,W".
func parseShape(_ s: String) throws -> [Int] {
    let parts = s.split(separator: ",").map { Int($0.trimmingCharacters(in: .whitespaces)) }
    guard parts.count == 3, parts.allSatisfy({ ($0 ?? 0) > 0 }) else {
        throw CLIError(message: "--input must be C,H,W with positive integers, got '\(s)'")
    }
    let shape = parts.map { $0! }
    guard shape[0] <= 4096, shape[1] <= maxImageSide, shape[2] <= maxImageSide else {
        throw CLIError(message: "--input \(s) is too large (at most 4096 channels and \(maxImageSide)×\(maxImageSide) pixels)")
    }
    return shape
}

func existingFile(_ path: String, what: String) throws -> URL {
    var isDir: ObjCBool = false
    guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir), !isDir.boolValue else {
        throw CLIError(message: "\(what) '\(path)' does not exist")
    }
    return URL(fileURLWithPath: path)
}

/// Loads weights into a model built from the zoo.
func loadWeights(_ model: any Module, from path: String) throws {
    let url = try existingFile(path, what: "weights file")
    do { try model.load(from: url) } catch let e as SafeTensorsError { throw CLIError(message: e.description) }
}

/// One of an enumeration's names, or a one-line error listing them.
func parseChoice<T: RawRepresentable & CaseIterable>(_ value: String, _: T.Type, what: String) throws -> T where T.RawValue == String {
    guard let v = T(rawValue: value.lowercased()) else {
        throw CLIError(message: "unknown \(what) '\(value)'; known: \(T.allCases.map(\.rawValue).joined(separator: ", "))")
    }
    return v
}
