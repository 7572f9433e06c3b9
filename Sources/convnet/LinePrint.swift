import Foundation

/// The command line's `print`: Swift's, then a flush, so that every line reaches a redirected
/// standard output (`convnet train resnet18 > log`) as it is printed instead of when a 4 KiB
/// buffer fills. It shadows `Swift.print` in this module. (Making C's `stdout` line-buffered with
/// `setvbuf` would do it once, but Swift 6 forbids touching that global; `fflush(nil)` flushes
/// every stream without naming it.)
func print(_ items: Any..., separator: String = " ", terminator: String = "\n") {
    Swift.print(items.map { "\($0)" }.joined(separator: separator), terminator: terminator)
    fflush(nil)
}
