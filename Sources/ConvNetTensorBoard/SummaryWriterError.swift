/// Why a `SummaryWriter` could not log a value.
public enum SummaryWriterError: Error, CustomStringConvertible, Equatable {
    /// The log folder or the event file in it cannot be created.
    case cannotCreate(path: String, reason: String)
    /// Writing or syncing the event file failed (disk full, folder removed, …); what was written
    /// before stays readable.
    case writeFailed(path: String, reason: String)
    /// The writer was closed.
    case closed(path: String)
    /// The value logged under `tag` cannot be stored (an empty or non-finite histogram, an image
    /// of an unsupported shape).
    case invalidValue(tag: String, reason: String)

    /// The message the CLI prints.
    public var description: String {
        switch self {
        case let .cannotCreate(p, r): return "\(p): cannot create the TensorBoard log (\(r))"
        case let .writeFailed(p, r): return "\(p): cannot write the TensorBoard log (\(r))"
        case let .closed(p): return "\(p): the TensorBoard log was already closed"
        case let .invalidValue(t, r): return "TensorBoard value '\(t)': \(r)"
        }
    }
}
