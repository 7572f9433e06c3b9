#!/usr/bin/env bash
# Issue 11's acceptance measurements (README, "Your own images"): Fashion-MNIST as PNG and JPEG
# image folders against the IDX run, and transfer learning from classes 0–4 to 5–9.
# Usage: bash benchmarks/image_folders.sh [WORK_DIR]   (after swift build -c release)
set -euo pipefail
cd "$(dirname "$0")/.."
B=${CONVNET:-.build/release/convnet}
W=${1:-/tmp/convnet-images}
mkdir -p "$W"
last() { grep "final test accuracy" | sed 's/;.*//'; }
[ -d "$W/fm-png" ] || $B export-images --out "$W/fm-png"
[ -d "$W/fm-jpg" ] || $B export-images --out "$W/fm-jpg" --format jpeg --quality 95
for seed in 0 1 2; do
    echo "seed $seed: IDX $($B train lenet --seed $seed --out "$W/idx" | last)"
    echo "seed $seed: PNG $($B train lenet --seed $seed --data "$W/fm-png" --out "$W/png" | last)"
    echo "seed $seed: JPEG $($B train lenet --seed $seed --data "$W/fm-jpg" --out "$W/jpg" | last)"
done
# transfer: a base model on classes 0–4, then 5–9 three ways with the same budget (3 epochs)
[ -d "$W/fm-04" ] || $B export-images --out "$W/fm-04" --classes 0-4
[ -d "$W/fm-59" ] || $B export-images --out "$W/fm-59" --classes 5-9
echo "base 0-4: $($B train lenet --data "$W/fm-04" --out "$W/base04" | last)"
for subset in 250 1000 30000; do
    common=(train lenet --data "$W/fm-59" --epochs 3 --subset "$subset")
    echo "5-9, $subset images, scratch: $($B "${common[@]}" --out "$W/t-scratch" | last)"
    echo "5-9, $subset images, init-from, all layers: $($B "${common[@]}" --out "$W/t-all" --init-from "$W/base04/model.safetensors" | last)"
    echo "5-9, $subset images, init-from, freeze backbone: $($B "${common[@]}" --out "$W/t-frozen" --init-from "$W/base04/model.safetensors" --freeze backbone | last)"
done
