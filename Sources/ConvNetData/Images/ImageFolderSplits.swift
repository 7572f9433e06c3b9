import ConvNetCore
import Foundation

/// The training and validation sets of an image folder: `root/train` and `root/val` (or
/// `root/test`) when both exist, else a seeded split of `root` that holds out `valFraction` of each
/// class.
public struct ImageFolderSplits: Sendable {
    /// The training images.
    public let train: ImageFolder
    /// The validation images.
    public let val: ImageFolder
    /// How the split was made, for the log.
    public let layout: String

    /// The splits of the folder at `root`; `valFraction` and `seed` apply when it has no train/.
    public init(root: URL, valFraction: Double = 0.2, seed: UInt64 = 0) throws {
        let fm = FileManager.default
        func isDir(_ u: URL) -> Bool { var d: ObjCBool = false; return fm.fileExists(atPath: u.path, isDirectory: &d) && d.boolValue }
        let trainDir = root.appendingPathComponent("train")
        if isDir(trainDir), let valDir = ["val", "test"].map({ root.appendingPathComponent($0) }).first(where: isDir) {
            train = try ImageFolder(root: trainDir)
            val = try ImageFolder(root: valDir)
            guard val.classNames == train.classNames else {
                let missing = Set(train.classNames).symmetricDifference(val.classNames).sorted(by: pythonOrder)
                throw DataError(path: valDir.path, reason: "classes differ from \(trainDir.lastPathComponent)/: \(missing.prefix(5).joined(separator: ", "))")
            }
            layout = "\(trainDir.lastPathComponent)/ and \(valDir.lastPathComponent)/"
            return
        }
        guard valFraction > 0 && valFraction < 1 else {
            throw DataError(path: root.path, reason: "no train/ and val/ subfolders, and the validation split \(valFraction) is not in (0, 1)")
        }
        let all = try ImageFolder(root: root)
        let rng = Generator(seed: seed)
        var trainSamples: [ImageFolder.Sample] = [], valSamples: [ImageFolder.Sample] = []
        for label in all.classNames.indices {
            let members = all.samples.filter { $0.label == label }
            let perm = rng.permutation(members.count)
            let nVal = Int((Double(members.count) * valFraction).rounded())
            let held = Set(perm.prefix(nVal))
            for (i, s) in members.enumerated() { if held.contains(i) { valSamples.append(s) } else { trainSamples.append(s) } }
        }
        guard !trainSamples.isEmpty, !valSamples.isEmpty else {
            throw DataError(path: root.path, reason: "\(all.count) images are too few to hold out \(valFraction) for validation")
        }
        train = ImageFolder(root: root, classNames: all.classNames, samples: trainSamples, ignoredFiles: all.ignoredFiles)
        val = ImageFolder(root: root, classNames: all.classNames, samples: valSamples)
        layout = "a seeded \(Int((1 - valFraction) * 100))/\(Int((valFraction * 100).rounded())) split (seed \(seed))"
    }
}
