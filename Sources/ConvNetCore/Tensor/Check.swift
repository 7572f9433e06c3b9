/// Stops with `message` when `condition` fails: API misuse (shape mismatches, bad options), as
/// PyTorch raises. Unlike `precondition`, the message is printed in release builds too.
@inline(__always)
public func checkArgument(_ condition: @autoclosure () -> Bool, _ message: @autoclosure () -> String,
                          file: StaticString = #fileID, line: UInt = #line) {
    if !condition() { fatalError(message(), file: file, line: line) }
}
