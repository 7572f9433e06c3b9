#!/usr/bin/env bash
# Builds the ONNX reader with libFuzzer and AddressSanitizer and fuzzes it, seeded with the ONNX
# test fixtures. Usage: bash fuzz/run-onnx.sh [SECONDS] (default 60). The reader's dependencies
# (CKernels, swift-protobuf's runtime, ConvNetCore, ConvNetNN) are built once as plain static
# libraries; the ONNX sources and the harness are instrumented. Crashing inputs land in
# fuzz/.build/onnx/crash-*; the corpus grows in fuzz/.build/onnx/corpus.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=fuzz/.build/onnx
mkdir -p "$OUT/corpus" "$OUT/c"
[ -d .build/checkouts/swift-protobuf ] || swift package resolve >/dev/null
cat > "$OUT/module.modulemap" <<MAP
module CKernels { header "$PWD/Sources/CKernels/include/ckernels.h" export * }
MAP
lib() { # name, sources...: a static library and its module, optimised, not instrumented
    local name=$1; shift
    [ -f "$OUT/lib$name.a" ] && return
    echo "run-onnx: building $name" >&2
    swiftc -O -wmo -parse-as-library -module-name "$name" -I "$OUT" -L "$OUT" -emit-module -emit-module-path "$OUT/$name.swiftmodule" \
        -emit-library -static -o "$OUT/lib$name.a" "$@"
}
if [ ! -f "$OUT/libCKernels.a" ]; then
    for f in Sources/CKernels/*.c; do clang -O2 -DNDEBUG -fPIC -I Sources/CKernels/include -c "$f" -o "$OUT/c/$(basename "$f" .c).o"; done
    ar rcs "$OUT/libCKernels.a" "$OUT"/c/*.o
fi
lib SwiftProtobuf .build/checkouts/swift-protobuf/Sources/SwiftProtobuf/*.swift
lib ConvNetCore $(find Sources/ConvNetCore -name '*.swift')
lib ConvNetNN $(find Sources/ConvNetNN -name '*.swift')
# the reader and the harness (the exporter writes files and is not a parser of outside bytes)
swiftc -O -g -sanitize=fuzzer,address -parse-as-library -module-name ONNXFuzzer -I "$OUT" -L "$OUT" \
    fuzz/ONNXFuzzer.swift $(ls Sources/ConvNetONNX/*.swift Sources/ConvNetONNX/Generated/*.swift | grep -v ONNXExport.swift) \
    -lConvNetNN -lConvNetCore -lSwiftProtobuf -lCKernels -o "$OUT/onnx-fuzzer"
cp -n Tests/ConvNetTests/Resources/onnx/*.onnx "$OUT/corpus/" 2>/dev/null || true
cd "$OUT"
./onnx-fuzzer corpus -max_total_time="${1:-60}" -rss_limit_mb=4096 -malloc_limit_mb=2048 -max_len=1100000 -print_final_stats=1
