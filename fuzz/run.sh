#!/usr/bin/env bash
# Builds the decoders with libFuzzer and AddressSanitizer and fuzzes them, seeded with the test
# fixtures. Usage: bash fuzz/run.sh [SECONDS] (default 60). Crashing inputs are written to
# fuzz/.build/crash-*; the corpus grows in fuzz/.build/corpus.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=fuzz/.build
mkdir -p "$OUT/corpus"
cat > "$OUT/module.modulemap" <<MAP
module CZlib { header "$PWD/Sources/CZlib/include/czlib.h" link "z" export * }
module CTurboJPEG { header "$PWD/Sources/CTurboJPEG/include/cturbojpeg.h" export * }
MAP
clang -O1 -g -fsanitize=fuzzer-no-link,address -c Sources/CTurboJPEG/cturbojpeg.c -I Sources/CTurboJPEG/include -o "$OUT/cturbojpeg.o"
D=Sources/ConvNetData
swiftc -O -g -sanitize=fuzzer,address -parse-as-library -module-name DecoderFuzzer -I "$OUT" \
    fuzz/DecoderFuzzer.swift $D/Images/Image8.swift $D/Images/ImageDecodingError.swift $D/Images/PNGDecoder.swift \
    $D/Images/JPEGDecoder.swift $D/Images/ImageDecoder.swift $D/Images/ColorConversion.swift $D/IO/Zlib.swift \
    "$OUT/cturbojpeg.o" -lz -ldl -o "$OUT/decoder-fuzzer"
cp -n Tests/ConvNetTests/Resources/images/*.png Tests/ConvNetTests/Resources/images/*.jpg "$OUT/corpus/" 2>/dev/null || true
cd "$OUT"
./decoder-fuzzer corpus -max_total_time="${1:-60}" -rss_limit_mb=2048 -malloc_limit_mb=1024 -max_len=65536 -print_final_stats=1
