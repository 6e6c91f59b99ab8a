#!/usr/bin/env bash
# The include layering (scripts/check_includes.sh) holds on the tree, and the
# check fails when a library file includes the CLI or a join file an image one.
set -uo pipefail
REPO=$1
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
fail=0
"$REPO/scripts/check_includes.sh" "$REPO" || { echo "FAIL: the tree breaks the layering"; fail=1; }
# a copy with one backward include each time: the check must fail and name it
git -C "$REPO" ls-files -z host kernels include datasets | (cd "$REPO" && xargs -0 cp --parents -t "$W")
mkdir -p "$W/scripts" && cp "$REPO/scripts/check_includes.sh" "$W/scripts/"
git -C "$W" init -q && git -C "$W" add -A
for bad in 'host/io/meta.c:cli/cli.h' 'host/join/limits.c:image/image_internal.h' \
           'host/core/util.c:io/h5util.h' 'host/analysis/cluster.c:state/state.h'; do
  f=${bad%%:*} inc=${bad#*:}
  cp "$REPO/$f" "$W/$f.orig"
  echo "#include \"$inc\"" >> "$W/$f"
  out=$("$W/scripts/check_includes.sh" "$W"); rc=$?
  if [ $rc -ne 1 ] || [[ "$out" != *"$f"*"$inc"* ]]; then echo "FAIL: $f including $inc was not caught"; fail=1
  else echo "ok: $f including $inc is caught"; fi
  mv "$W/$f.orig" "$W/$f"
done
exit $fail
