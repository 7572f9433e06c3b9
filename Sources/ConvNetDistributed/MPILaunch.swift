import CMPI
import Foundation

/// What the launcher (`mpirun`) put in the environment: whether this process is one rank of a job,
/// and which. Read before MPI is initialised, so options can be checked against the job's size
/// without touching the network.
public enum MPILaunch {
    /// The job's size as the launcher announced it (Open MPI's `OMPI_COMM_WORLD_SIZE`, or PMIx/PMI's),
    /// or nil when this process was not started by `mpirun`.
    public static var worldSize: Int? { integer(["OMPI_COMM_WORLD_SIZE", "PMIX_SIZE", "PMI_SIZE"]) }

    /// This process's rank as the launcher announced it, or nil outside `mpirun`.
    public static var worldRank: Int? { integer(["OMPI_COMM_WORLD_RANK", "PMIX_RANK", "PMI_RANK"]) }

    /// Whether this process is one rank of an `mpirun` job.
    public static var isLaunched: Bool { worldSize != nil }

    /// Whether Open MPI's library can be loaded here (`libmpi.so.40`, or `CONVNET_MPI_LIBRARY`);
    /// loading it does not initialise MPI.
    public static var libraryAvailable: Bool { cmpi_available() != 0 }

    private static func integer(_ names: [String]) -> Int? {
        let env = ProcessInfo.processInfo.environment
        for name in names { if let text = env[name], let v = Int(text) { return v } }
        return nil
    }
}
