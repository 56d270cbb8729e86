#!/usr/bin/env bash
# The main job on the local backend, no server needed: version a small generated dataset,
# change it, and check out the first version's exact bytes again.
#   npm ci && npm run demo          (or: bash scripts/demo.sh [DIR])
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
mlstore() { node "$here/bin/mlstore" "$@"; }
work="${1:-$(mktemp -d "${TMPDIR:-/tmp}/mlstore-demo.XXXXXX")}"
mkdir -p "$work" && cd "$work"
echo "== demo in $work"

git init -q . 2>/dev/null && git config user.email demo@example.com && git config user.name "mlstore demo" || true
echo "numpy==2.1.0" > requirements.txt
mkdir -p data/train data/val
for i in $(seq 1 50); do head -c $((1024 + i * 97)) /dev/urandom > "data/train/sample-$i.bin"; done
head -c $((6 * 1024 * 1024)) /dev/urandom > data/train/shard-0.bin    # a multi-chunk file
printf 'id,label\n1,cat\n2,dog\n' > "data/val/labels v1.csv"
git add requirements.txt && git commit -qm "training code" 2>/dev/null || true

mlstore init
mlstore add data
mlstore commit -m "dataset v1"
mlstore tag dataset-v1
sha256sum data/train/shard-0.bin "data/val/labels v1.csv" > /tmp/mlstore-demo-v1.sha256

echo "== modify: overwrite 1 MiB in the middle of the shard, add a row, delete a sample"
head -c $((1024 * 1024)) /dev/urandom | dd of=data/train/shard-0.bin bs=1M seek=3 conv=notrunc status=none
printf '3,bird\n' >> "data/val/labels v1.csv"
rm data/train/sample-7.bin
mlstore status
mlstore commit -m "dataset v2: relabelled"
mlstore log --oneline
mlstore diff dataset-v1 HEAD

echo "== check out v1 again and compare bytes"
mlstore checkout dataset-v1
sha256sum -c /tmp/mlstore-demo-v1.sha256
test -f data/train/sample-7.bin && echo "sample-7.bin is back"
mlstore checkout main
mlstore show HEAD | head -n 12
echo "== demo finished: $work"
