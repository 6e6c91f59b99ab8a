#!/usr/bin/env bash
# docker-check.sh - build the Dockerfile and run a small job in the image.
#
#   scripts/docker-check.sh [docker build options...]   e.g. --build-arg CUDA=1
#
# Builds the image (tag $SIMJOIN_IMAGE, default simjoin), runs `simjoin
# --version` with no network, then, as a non-root user and with no network,
# `simjoin gen` and `simjoin join` on a temporary directory mounted at /data.
# The pairs file is checked on the host against a naive loop over the corpus
# (read with h5dump, not with simjoin). Exit 77 (skip) without a docker daemon,
# h5dump or python3. Not part of the test command: CI has no docker.
#
# Environment: SIMJOIN_IMAGE (simjoin), SIMJOIN_DOCKER_NETWORK (host: the build's
# network, for apt; a daemon without a bridge needs host).
set -euo pipefail
cd "$(dirname "$0")/.."
IMAGE=${SIMJOIN_IMAGE:-simjoin}
NETWORK=${SIMJOIN_DOCKER_NETWORK:-host}
log() { printf 'docker-check: %s\n' "$*" >&2; }
skip() { log "skipped: $*"; exit 77; }
fail() { log "FAILED: $*"; exit 1; }

command -v docker >/dev/null || skip "no docker command"
docker info >/dev/null 2>&1 || skip "no docker daemon (docker info fails; start dockerd)"
command -v h5dump >/dev/null || skip "no h5dump on the host (Debian: hdf5-tools)"
command -v python3 >/dev/null || skip "no python3 on the host"

log "docker build -t $IMAGE $* ."
start=$(date +%s)
docker build --network "$NETWORK" -t "$IMAGE" "$@" .
log "built $IMAGE in $(($(date +%s) - start)) s, $(docker image inspect -f '{{.Size}}' "$IMAGE") bytes"

version=$(docker run --rm --network none "$IMAGE" --version)
log "--version: $version"
case "$version" in simjoin*) ;; *) fail "--version printed '$version'" ;; esac

# The runtime image has no compilers (unless built with PLOT=1: README "Install").
case " $* " in
  *PLOT=1*) ;;
  *) compilers=$(docker run --rm --network none --entrypoint sh "$IMAGE" -c 'command -v cc gcc g++ c++ || true')
     [ -z "$compilers" ] || fail "the image has compilers: $compilers" ;;
esac

# The job runs as the caller, or as nobody when the caller is root.
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
if [ "$(id -u)" = 0 ]; then
  user=65534:65534
  chown "$user" "$work"
else
  user="$(id -u):$(id -g)"
fi
run() { docker run --rm --network none -u "$user" -v "$work:/data" "$IMAGE" "$@"; }
run gen --n 400 --seed 5 --out /data/corpus.h5 --quiet
# --keep-degenerate: every pair at distance <= 31 counts, as in the loop below.
run join --corpus /data/corpus.h5 --threshold 31 --keep-degenerate --backend cpu --out /data/pairs.h5 --quiet
run join --corpus /data/corpus.h5 --threshold 31 --keep-degenerate --backend faiss --out /data/pairs-faiss.h5 --quiet
case " $* " in
  *PLOT=1*) run sweep --pairs /data/pairs.h5 --thresholds 10:31:3 --labels /data/corpus.h5 \
                --out /data/sweep.csv --plot /data/sweep.png --quiet
            [ "$(head -c 8 "$work/sweep.png" | od -An -tx1 | tr -d ' ')" = 89504e470d0a1a0a ] ||
              fail "sweep --plot wrote no PNG"
            log "sweep --plot wrote a PNG" ;;
esac
for f in pairs pairs-faiss; do
  mode=$(stat -c %a "$work/$f.h5")
  [ "$mode" = 640 ] || fail "$f.h5 has mode $mode, not 640"
done

# The oracle: h5dump's raw little-endian data, every pair compared in Python.
dump() { h5dump -d "$2" -b LE -o "$work/$3" "$work/$1" >/dev/null; }
dump corpus.h5 /hashes hashes.bin
dump corpus.h5 /ids ids.bin
for f in pairs pairs-faiss; do
  for d in a b distance; do dump $f.h5 /pairs/$d $f.$d.bin; done
done
python3 - "$work" pairs pairs-faiss <<'EOF'
import struct, sys
d = sys.argv[1]
raw = lambda name: open(f"{d}/{name}", "rb").read()
hashes, ids = raw("hashes.bin"), raw("ids.bin")
n = len(ids) // 8
ids = struct.unpack(f"<{n}q", ids)
rows = [int.from_bytes(hashes[32 * i:32 * (i + 1)], "big") for i in range(n)]
want = sorted((min(ids[i], ids[j]), max(ids[i], ids[j]), bin(rows[i] ^ rows[j]).count("1"))
              for i in range(n) for j in range(i + 1, n) if bin(rows[i] ^ rows[j]).count("1") <= 31)
if not want:
    sys.exit("docker-check: FAILED: the corpus has no pair within 31 (nothing was checked)")
for f in sys.argv[2:]:
    m = len(raw(f"{f}.a.bin")) // 8
    got = list(zip(struct.unpack(f"<{m}q", raw(f"{f}.a.bin")), struct.unpack(f"<{m}q", raw(f"{f}.b.bin")),
                   struct.unpack(f"<{m}i", raw(f"{f}.distance.bin"))))
    if got != want:
        sys.exit(f"docker-check: FAILED: {f}.h5 has {m} pairs, the naive loop {len(want)} (or they differ)")
    print(f"docker-check: {f}.h5: {n} hashes, {m} pairs, identical to the naive loop", file=sys.stderr)
EOF
log "ok"
