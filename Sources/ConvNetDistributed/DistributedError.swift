/// Why a data-parallel run cannot start.
public enum DistributedError: Error, CustomStringConvertible, Equatable {
    /// The process runs under `mpirun` but Open MPI's library cannot be loaded.
    case mpiUnavailable(reason: String)
    /// MPI initialisation failed.
    case initialisationFailed(reason: String)
    /// The global batch does not split into equal per-rank batches.
    case indivisibleBatch(globalBatch: Int, ranks: Int)
    /// The launcher's announced size disagrees with MPI's.
    case sizeMismatch(launcher: Int, mpi: Int)

    /// One line saying what is wrong and what to do.
    public var description: String {
        switch self {
        case let .mpiUnavailable(r): return "started by mpirun, but MPI cannot be used: \(r)"
        case let .initialisationFailed(r): return "MPI initialisation failed: \(r)"
        case let .indivisibleBatch(b, n):
            return "--batch-size \(b) (the global batch) does not divide among \(n) ranks; give a multiple of \(n), e.g. \(Swift.max(n, b / n * n))"
        case let .sizeMismatch(l, m): return "mpirun announced \(l) ranks but MPI reports \(m)"
        }
    }
}
