/// An ONNX file ConvNet cannot read, or a model it cannot write as ONNX: which file, which node,
/// and what is wrong, in one line.
public struct ONNXError: Error, CustomStringConvertible, Equatable {
    /// What kind of problem it is (tests and callers match on it; the message says the details).
    public enum Kind: Sendable, Equatable {
        /// The bytes end inside a protobuf message.
        case truncated
        /// The bytes are not a protobuf ModelProto (bad tags, lengths or UTF-8).
        case malformed
        /// The graph is incomplete or inconsistent (no graph, no input, a value defined twice).
        case invalidGraph
        /// An operator ConvNet does not implement, or an option of one it does.
        case unsupportedOperator
        /// A node reads a value nothing defines (an initializer missing from the file).
        case missingValue
        /// Shapes that do not fit together (a weight's channels against its input's).
        case shapeMismatch
        /// Nodes that depend on each other in a loop.
        case cycle
        /// An operator-set version outside the ones ConvNet reads.
        case unsupportedOpset
        /// A tensor whose elements live in another file.
        case externalData
        /// An element type ConvNet cannot use where it appears.
        case unsupportedType
        /// A tensor larger than the element limit.
        case tooLarge
        /// A ConvNet model the exporter cannot express in ONNX.
        case unsupportedExport
    }

    /// The file read or written.
    public let path: String
    /// The node involved, as `'name' (OpType)`, when there is one.
    public let node: String?
    /// The kind of problem.
    public let kind: Kind
    /// What is wrong, in words.
    public let reason: String

    /// An error about `path` (and `node`, if given).
    public init(_ kind: Kind, path: String, node: String? = nil, _ reason: String) {
        self.kind = kind; self.path = path; self.node = node; self.reason = reason
    }

    /// `path: node 'name' (Op): reason`.
    public var description: String { path + ": " + (node.map { "node \($0): " } ?? "") + reason }
}
