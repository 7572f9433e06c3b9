import ArgumentParser
import ConvNet
import Foundation

@main
struct ConvNetCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "convnet",
        abstract: "Train, evaluate and inspect D2L chapter 7–8 convolutional networks on Fashion-MNIST or your own image folders.",
        version: ConvNetVersion.string,
        subcommands: [Train.self, Evaluate.self, Predict.self, ExportONNX.self, ExportImages.self, Summary.self, ModelsCommand.self, Visualize.self, Bench.self])

    /// Runs the command; errors become one line on stderr and a non-zero exit, never a trace.
    static func main() {
        do {
            defer { fflush(nil) }
            var command = try parseAsRoot()
            try command.run()
        } catch let e where quietOnThisRank(e) {
            // the same error on every rank of an mpirun job: rank 0 says it once. mpirun ends the
            // job when the first rank exits, so this one waits a moment for rank 0's line to get out
            Thread.sleep(forTimeInterval: 2)
            Foundation.exit(exitCode(for: e) == .validationFailure ? 64 : 1)
        } catch let e as CLIError {
            FileHandle.standardError.write(Data("convnet: error: \(e.message)\n".utf8))
            Foundation.exit(1)
        } catch let e as TrainingError {
            FileHandle.standardError.write(Data("convnet: \(e)\n".utf8))
            if case .interrupted = e { Foundation.exit(130) }
            Foundation.exit(1)
        } catch let e as CustomStringConvertible where !(e is any ParsableArguments) && isProjectError(e) {
            FileHandle.standardError.write(Data("convnet: error: \(e.description)\n".utf8))
            Foundation.exit(1)
        } catch {
            // parse and validation errors: one line too (help and --version keep their output)
            let code = exitCode(for: error)
            if code == .success { exit(withError: error) }
            FileHandle.standardError.write(Data("convnet: error: \(message(for: error))\n".utf8))
            Foundation.exit(code.rawValue)
        }
    }

    /// Whether `e` is an error every rank of an `mpirun` job meets identically (options, the
    /// shared checkpoint, the global loss), and this is not rank 0, which reports it.
    static func quietOnThisRank(_ e: Error) -> Bool {
        guard let rank = MPILaunch.worldRank, rank != 0 else { return false }
        return e is ValidationError || e is TrainingError || e is TrainingConfigError || e is DistributedError || e is UnknownModelError
            || exitCode(for: e) == .validationFailure
    }

    static func isProjectError(_ e: Any) -> Bool {
        e is DataError || e is ImageDecodingError || e is SafeTensorsError || e is AtomicFileError || e is UnknownModelError
            || e is StateDictError || e is CompressionError || e is TrainingConfigError || e is SummaryWriterError || e is ONNXError
            || e is DistributedError
    }
}

/// A problem with the user's options, reported as one line.
struct CLIError: Error { let message: String }

enum ConvNetVersion { static let string = "0.1.0" }
