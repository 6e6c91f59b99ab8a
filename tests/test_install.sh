#!/usr/bin/env bash
# test_install.sh BUILD_DIR SOURCE_DIR - install the build into a temporary
# prefix and use it as an outside project would:
#   - a C client through pkg-config (shared, then --static) and through
#     find_package(simjoin) (shared and static targets), each run;
#   - libsimjoin.so exports exactly the functions the public headers declare;
#   - the binary, man pages, completion and plot script are in place.
set -euo pipefail
build=$1 src=$2
# A sanitizer build's library needs its runtime first in every client: the
# test is for the plain build (scripts/test.sh runs both).
if grep -q -- "-fsanitize" "$build/CMakeCache.txt" 2>/dev/null; then
  echo "skipped: a sanitizer build (install is tested on the plain build)"
  exit 77
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

cmake --install "$build" --prefix "$tmp/p" >/dev/null
P=$tmp/p
for f in bin/simjoin lib/libsimjoin.a lib/pkgconfig/simjoin.pc lib/cmake/simjoin/simjoinConfig.cmake \
         lib/cmake/simjoin/simjoinConfigVersion.cmake include/simjoin/simjoin.h \
         share/simjoin/plot_sweep.py share/bash-completion/completions/simjoin; do
  [ -e "$P/$f" ] || fail "not installed: $f"
done
# bench --peers: its script and the TE scanner's recipe, found by the installed
# binary (a stand-in Python that passes the import check and prints its argv).
for f in bench_peers.py build_te_scanner.sh te_flat_driver.cpp; do
  [ -e "$P/share/simjoin/$f" ] || fail "not installed: share/simjoin/$f"
done
printf '#!/bin/sh\n[ "$1" = -c ] && { echo ok; exit 0; }\necho "$@"\n' >"$tmp/argv-python"
chmod +x "$tmp/argv-python"
got=$("$P/bin/simjoin" bench --peers --python "$tmp/argv-python" --te-scanner "" --kind photodna)
case "$got" in
"$P/bin/../share/simjoin/bench_peers.py $P/bin/simjoin --kind photodna") ;;
*) fail "installed bench --peers ran: $got" ;;
esac
soname=$(ls "$P"/lib/libsimjoin.so.[0-9]* | head -1)
[ -n "$soname" ] || fail "no libsimjoin.so.MAJOR"
if command -v help2man >/dev/null; then
  for c in join cluster ingest nightly report; do
    [ -s "$P/share/man/man1/simjoin-$c.1" ] || fail "no man page simjoin-$c.1"
  done
fi
"$P/bin/simjoin" --version >/dev/null || fail "installed binary does not run"

# exported symbols == functions and variables declared in the public headers
nm -D --defined-only "$P/lib/libsimjoin.so" | awk '{print $3}' | sort -u > "$tmp/exported"
cat "$P"/include/simjoin/*.h | grep -oE '\bsj_[a-z0-9_]+ *\(' | tr -d ' (' | sort -u > "$tmp/declared"
grep -oE 'extern const [^;]*\bsj_[a-z0-9_]+' "$P"/include/simjoin/*.h | grep -oE 'sj_[a-z0-9_]+$' >> "$tmp/declared" || true
sort -u -o "$tmp/declared" "$tmp/declared"
extra=$(comm -23 "$tmp/exported" "$tmp/declared")
[ -z "$extra" ] || fail "libsimjoin.so exports symbols no public header declares: $(echo $extra | head -c 400)"
[ "$(wc -l < "$tmp/exported")" -gt 20 ] || fail "too few exported symbols"

cc_run() { # name, then compile arguments
  local name=$1; shift
  cc -o "$tmp/$name" "$src/tests/install_client/client.c" "$@" || fail "$name: does not build"
  LD_LIBRARY_PATH="$P/lib" "$tmp/$name" || fail "$name: wrong result"
}
export PKG_CONFIG_PATH="$P/lib/pkgconfig"
cc_run pc_shared $(pkg-config --cflags --libs simjoin)
cc_run pc_static $(pkg-config --cflags simjoin) "$P/lib/libsimjoin.a" $(pkg-config --static --libs simjoin | sed "s/-lsimjoin / /")
# the shared client needs no private library at link time
deps=$(ldd "$tmp/pc_shared") # (grep -q on a pipe would end ldd early: SIGPIPE under pipefail)
grep -q "libsimjoin.so.[0-9]" <<<"$deps" || fail "pc_shared is not linked to libsimjoin.so"

cmake -S "$src/tests/install_client" -B "$tmp/cb" -DCMAKE_PREFIX_PATH="$P" >/dev/null || fail "find_package(simjoin) failed"
cmake --build "$tmp/cb" >/dev/null || fail "the find_package client does not build"
LD_LIBRARY_PATH="$P/lib" "$tmp/cb/client_shared" || fail "client_shared: wrong result"
"$tmp/cb/client_static" || fail "client_static: wrong result"
echo "install: 1 passed, 0 failed"
