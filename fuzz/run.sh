#!/usr/bin/env bash
# Builds the libFuzzer harnesses (fuzz/Package.swift: one per parser of outside bytes, linking the
# whole library with AddressSanitizer) and fuzzes each for SECONDS (default 60), seeded from
# fuzz/seeds/<harness> and the test images. Usage: bash fuzz/run.sh [SECONDS] [HARNESS ...]
# The corpus grows in fuzz/.build/corpus/<harness>; a crashing input is written to
# fuzz/.build/crash-* and the script exits non-zero. CI runs a short smoke run of each.
set -euo pipefail
cd "$(dirname "$0")"
seconds="${1:-60}"; shift || true
harnesses=("$@")
[ ${#harnesses[@]} -gt 0 ] || harnesses=(SafeTensorsFuzzer IDXFuzzer ImageDecoderFuzzer)
swift build -c release --sanitize fuzzer --sanitize address --scratch-path .build >&2
bin="$(swift build -c release --sanitize fuzzer --sanitize address --scratch-path .build --show-bin-path)"
for h in "${harnesses[@]}"; do
    corpus=".build/corpus/$h"
    mkdir -p "$corpus"
    cp -n seeds/"$h"/* "$corpus"/ 2>/dev/null || true
    if [ "$h" = ImageDecoderFuzzer ]; then
        cp -n ../Tests/ConvNetTests/Resources/images/*.png ../Tests/ConvNetTests/Resources/images/*.jpg "$corpus"/ 2>/dev/null || true
    fi
    echo "== $h, ${seconds} s" >&2
    log=".build/$h.log"
    status=0
    "$bin/$h" "$corpus" -max_total_time="$seconds" -rss_limit_mb=2048 -malloc_limit_mb=1024 -max_len=65536 \
        -artifact_prefix=.build/crash-"$h"- -print_final_stats=1 > "$log" 2>&1 || status=$?
    grep -E "^(#[0-9]+.*DONE|stat::number_of_executed_units|stat::peak_rss_mb|SUMMARY)" "$log" || true
    if [ $status != 0 ] || ! grep -q "^Done [0-9]* runs" "$log"; then
        tail -30 "$log" >&2
        echo "fuzz: $h failed (exit $status); inputs in fuzz/.build/crash-$h-*, log in fuzz/$log" >&2
        exit 1
    fi
done
