#!/usr/bin/env bash
# Issue 11's acceptance measurements (README, "Your own images"): Fashion-MNIST as PNG and JPEG
# image folders against the IDX run, and transfer learning from classes 0–4 to 5–9.
# Usage: bash benchmarks/image_folders.sh [WORK_DIR] [all|folders|transfer]   (after swift build -c release)
set -euo pipefail
cd "$(dirname "$0")/.."
B=${CONVNET:-.build/release/convnet}
W=${1:-/tmp/convnet-images}
WHAT=${2:-all}
mkdir -p "$W"
last() { grep "final test accuracy" | sed 's/;.*//'; }
if [ "$WHAT" != transfer ]; then
[ -d "$W/fm-png" ] || $B export-images --out "$W/fm-png"
[ -d "$W/fm-jpg" ] || $B export-images --out "$W/fm-jpg" --format jpeg --quality 95
for seed in 0 1 2; do
    echo "seed $seed: IDX $($B train lenet --seed $seed --out "$W/idx" | last)"
    echo "seed $seed: PNG $($B train lenet --seed $seed --data "$W/fm-png" --out "$W/png" | last)"
    echo "seed $seed: JPEG $($B train lenet --seed $seed --data "$W/fm-jpg" --out "$W/jpg" | last)"
done
fi
[ "$WHAT" = folders ] && exit 0
# transfer: a base model on classes 0–4 (10 epochs), then 5–9 four ways on the same budget (5 epochs):
# from scratch; every layer initialised from the base; the convolutions frozen; all but the
# classifier frozen (a linear probe, also with a learning rate 10× the default, as probes use)
[ -d "$W/fm-04" ] || $B export-images --out "$W/fm-04" --classes 0-4
[ -d "$W/fm-59" ] || $B export-images --out "$W/fm-59" --classes 5-9
[ -f "$W/base04.log" ] || $B train lenet --data "$W/fm-04" --out "$W/base04" > "$W/base04.log"
echo "base 0-4: $(last < "$W/base04.log")"
base=(--init-from "$W/base04/model.safetensors")
for subset in 250 1000 30000; do
    common=(train lenet --data "$W/fm-59" --epochs 5 --subset "$subset")
    echo "5-9, $subset images, scratch: $($B "${common[@]}" --out "$W/t" | last)"
    echo "5-9, $subset images, init-from: $($B "${common[@]}" --out "$W/t" "${base[@]}" | last)"
    echo "5-9, $subset images, init-from, freeze conv1+conv2: $($B "${common[@]}" --out "$W/t" "${base[@]}" --freeze conv1 --freeze conv2 | last)"
    echo "5-9, $subset images, init-from, freeze backbone: $($B "${common[@]}" --out "$W/t" "${base[@]}" --freeze backbone | last)"
    echo "5-9, $subset images, init-from, freeze backbone, lr 0.02: $($B "${common[@]}" --out "$W/t" "${base[@]}" --freeze backbone --lr 0.02 | last)"
done
