#!/usr/bin/env bash
# check_includes.sh - includes point one way along the data path:
#
#   cli -> state -> analysis -> join, image -> io -> core
#
# A file may include a header of its own folder or of a folder below it;
# join and image sit side by side and do not include each other. kernels/
# (CUDA tile arithmetic) is below join; include/simjoin/ (the public API) is
# below everything and includes nothing of host/. datasets/ (the synthetic
# generator, part of the library) sits with io.
# Usage: scripts/check_includes.sh [REPO]    exit 1 and one line per backward include
set -uo pipefail
cd "${1:-$(dirname "$0")/..}" || exit 2

level() {
  case "$1" in
    include)  echo 0 ;;
    core)     echo 1 ;;
    kernels)  echo 2 ;;
    io|datasets) echo 3 ;;
    join|image) echo 4 ;;
    analysis) echo 5 ;;
    state)    echo 6 ;;
    cli)      echo 7 ;;
    *)        echo -1 ;;
  esac
}

# folder of a repository path: host/<f>/..., kernels/..., include/..., datasets/...
folder_of() {
  case "$1" in
    host/*/*) f=${1#host/}; echo "${f%%/*}" ;;
    host/*)   echo core ;;      # host/libsimjoin.map and the like
    *)        echo "${1%%/*}" ;;
  esac
}

bad=0 checked=0
while IFS= read -r src; do
  from=$(folder_of "$src")
  lf=$(level "$from")
  [ "$lf" -lt 0 ] && { echo "check_includes: $src: folder '$from' has no place in the layering"; bad=$((bad+1)); continue; }
  lines=$(grep -n '^[[:space:]]*#[[:space:]]*include[[:space:]]*"' "$src")
  while IFS= read -r line; do
    [ -z "$line" ] && continue
    inc=$(sed -E 's/^[0-9]+:[[:space:]]*#[[:space:]]*include[[:space:]]*"([^"]+)".*/\1/' <<<"$line")
    n=${line%%:*}
    # resolve the target's folder: "simjoin/x.h" is the public API; "f/x.h" is host/f;
    # a bare name is the including file's own folder (kernels/, include/simjoin/)
    case "$inc" in
      simjoin/*) to=include ;;
      */*)       to=${inc%%/*} ; [ "$to" = ".." ] && to=$(folder_of "$(realpath -m --relative-to=. "$(dirname "$src")/$inc")") ;;
      *)         to=$from ;;
    esac
    checked=$((checked+1))
    lt=$(level "$to")
    if [ "$lt" -lt 0 ]; then
      echo "$src:$n: includes \"$inc\" from unknown folder '$to'"; bad=$((bad+1))
    elif [ "$to" != "$from" ] && [ "$lt" -ge "$lf" ]; then
      echo "$src:$n: $from includes \"$inc\" ($to): includes must point down (cli -> state -> analysis -> join, image -> io -> core)"
      bad=$((bad+1))
    fi
  done <<<"$lines"
done < <(git ls-files host kernels include datasets | grep -E '\.(c|h|cu|cuh|cpp|inc)$')

echo "check_includes: $checked includes checked, $bad pointing the wrong way"
[ "$bad" -eq 0 ]
