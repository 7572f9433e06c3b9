import Foundation

/// torchvision's `ImageFolder` layout, `root/<class>/<image>`: one class per subfolder (sorted by
/// name, so the label of a class is its rank), images found at any depth inside it. Files ending in
/// .png, .jpg or .jpeg (any case) count; other files are ignored and counted.
public struct ImageFolder: Sendable {
    /// One image file and its class index.
    public struct Sample: Sendable, Equatable {
        /// The image file.
        public let url: URL
        /// The index of its class in `classNames`.
        public let label: Int
    }

    /// The scanned folder.
    public let root: URL
    /// The class folders' names, sorted; a label indexes this list (torchvision's `classes`).
    public let classNames: [String]
    /// The images, class by class, each class's files sorted (torchvision's `samples`).
    public let samples: [Sample]
    /// Files that are not images by name (also hidden files), in class folders or directly in root.
    public let ignoredFiles: [URL]

    /// The file extensions that count as images (compared lower-cased).
    public static let imageExtensions: Set<String> = ["png", "jpg", "jpeg"]

    /// The number of images.
    public var count: Int { samples.count }

    /// Scans `root`. Throws when it is not a folder, has no class subfolders, or a class folder
    /// has no images.
    public init(root: URL) throws {
        self.root = root
        let fm = FileManager.default
        var isDir: ObjCBool = false
        guard fm.fileExists(atPath: root.path, isDirectory: &isDir), isDir.boolValue else {
            throw DataError(path: root.path, reason: "no such folder")
        }
        let entries: [String]
        do { entries = try fm.contentsOfDirectory(atPath: root.path) } catch {
            throw DataError(path: root.path, reason: "cannot list the folder (\(error.localizedDescription))")
        }
        var classes: [String] = [], ignored: [URL] = []
        for name in entries.sorted(by: pythonOrder) {
            let url = root.appendingPathComponent(name)
            if name.hasPrefix(".") { ignored.append(url); continue }
            if fm.fileExists(atPath: url.path, isDirectory: &isDir), isDir.boolValue { classes.append(name) } else { ignored.append(url) }
        }
        guard !classes.isEmpty else {
            let images = entries.filter { ImageFolder.isImageName($0) }.count
            throw DataError(path: root.path, reason: images > 0
                ? "no class folders: put the \(images) images into one subfolder per class (root/<class>/<image>)"
                : "no class folders with images (expected root/<class>/<image>.png|jpg)")
        }
        var samples: [Sample] = []
        for (label, name) in classes.enumerated() {
            let dir = root.appendingPathComponent(name)
            let (images, others) = try ImageFolder.files(under: dir)
            guard !images.isEmpty else {
                throw DataError(path: dir.path, reason: "class folder '\(name)' has no images (.png, .jpg, .jpeg)"
                                + (others.isEmpty ? "" : "; it holds \(others.count) other file(s)"))
            }
            samples += images.map { Sample(url: $0, label: label) }
            ignored += others
        }
        classNames = classes
        self.samples = samples
        ignoredFiles = ignored
    }

    /// A subset of the samples (a split), keeping the classes.
    public init(root: URL, classNames: [String], samples: [Sample], ignoredFiles: [URL] = []) {
        self.root = root; self.classNames = classNames; self.samples = samples; self.ignoredFiles = ignoredFiles
    }

    /// Whether a file name ends in an image extension (hidden files never count).
    public static func isImageName(_ name: String) -> Bool {
        !name.hasPrefix(".") && imageExtensions.contains((name as NSString).pathExtension.lowercased())
    }

    /// Image files (sorted, at any depth, following os.walk's order: a folder's files, then its
    /// subfolders) and the other files under `dir`.
    static func files(under dir: URL) throws -> (images: [URL], others: [URL]) {
        let fm = FileManager.default
        let names: [String]
        do { names = try fm.contentsOfDirectory(atPath: dir.path) } catch {
            throw DataError(path: dir.path, reason: "cannot list the folder (\(error.localizedDescription))")
        }
        var images: [URL] = [], others: [URL] = [], subdirs: [URL] = []
        for name in names.sorted(by: pythonOrder) {
            let url = dir.appendingPathComponent(name)
            var isDir: ObjCBool = false
            if fm.fileExists(atPath: url.path, isDirectory: &isDir), isDir.boolValue {
                if !name.hasPrefix(".") { subdirs.append(url) }
            } else if isImageName(name) { images.append(url) } else { others.append(url) }
        }
        for sub in subdirs {
            let (i, o) = try files(under: sub)
            images += i; others += o
        }
        return (images, others)
    }

    /// Whether `dir` is meant as an image folder: an existing folder without IDX files (so its
    /// problems are reported as an image folder's, e.g. "no class folders").
    public static func looksLikeImageFolder(_ dir: URL) -> Bool {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: dir.path, isDirectory: &isDir), isDir.boolValue,
              let names = try? FileManager.default.contentsOfDirectory(atPath: dir.path) else { return false }
        return !names.contains { $0.contains("-idx") }
    }
}

/// Python's string order (by code point), which torchvision's sorted() uses; Swift's `<` on
/// String compares by canonical equivalence, which can differ outside ASCII.
func pythonOrder(_ a: String, _ b: String) -> Bool { a.unicodeScalars.lexicographicallyPrecedes(b.unicodeScalars) }
