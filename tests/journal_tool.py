"""journal_tool.py - reads and damages `join --resume` journals for
test_journal.sh, written from the format in host/io/journal.c (not
from its code): a header line "simjoin-journal 2 SIG\\n", then records
int64 unit, int64 n, n x (int64 a, int64 b, float64 distance, int32 transform,
4 zero bytes), uint64 check,
little-endian; check = the first 8 bytes (big-endian) of SHA-256(previous
check (the header's digest for the first), unit, n, pairs). Version 1 (the
simjoin before issue 13) is read too, so the tests can be run against it:
there check = unit ^ n ^ magic.

  journal_tool.py units J             print the units of the valid records
  journal_tool.py append J WHAT U ... append to J (cut after its last valid
                                      record first); WHAT:
     badcheck U       a record for unit U, one valid-looking pair, wrong check
     oldcheck U A B   a record with the old check (unit ^ n ^ magic), pair (A, B, 1)
     forged U A B D   a correctly checked record with the pair (A, B, D)
     hugecount U      a record header with n = INT64_MAX, then 64 bytes
     zeros N          N zero bytes
"""
import hashlib
import struct
import sys

REC = struct.Struct("<qq")
PAIR_V2 = struct.Struct("<qqdi4x")  # a, b, distance, transform, padding
PAIR_V1 = struct.Struct("<qqd")     # the simjoin before issue 13 (no transform)
PAIR = PAIR_V2


def pack_pair(a, b, d):
    return PAIR.pack(a, b, d, 0) if PAIR is PAIR_V2 else PAIR.pack(a, b, d)


def digest8(data):
    return int.from_bytes(hashlib.sha256(data).digest()[:8], "big")


OLD_MAGIC = 0x53494D4A4F494E
VERSION = 2


def check_of(prev, unit, pairs):
    if VERSION == 1:
        return (unit ^ len(pairs) ^ OLD_MAGIC) & (2**64 - 1)
    body = struct.pack("<Qqq", prev, unit, len(pairs)) + b"".join(pack_pair(*p[:3]) for p in pairs)
    return digest8(body)


def read(path):
    """(valid end offset, chain after the last valid record, units)."""
    data = open(path, "rb").read()
    nl = data.index(b"\n") + 1
    global VERSION, PAIR
    VERSION = 1 if data.startswith(b"simjoin-journal 1 ") else 2
    PAIR = PAIR_V1 if VERSION == 1 else PAIR_V2
    assert data.startswith(b"simjoin-journal %d " % VERSION), "not a journal"
    chain, pos, units = digest8(data[:nl]), nl, []
    while pos + 16 <= len(data):
        unit, n = REC.unpack_from(data, pos)
        end = pos + 16 + PAIR.size * n + 8
        if n < 0 or end > len(data):
            break
        pairs = [PAIR.unpack_from(data, pos + 16 + PAIR.size * i) for i in range(n)]
        (check,) = struct.unpack_from("<Q", data, end - 8)
        if check != check_of(chain, unit, pairs):
            break
        chain, pos = check, end
        units.append(unit)
    return pos, chain, units


def main():
    cmd, path = sys.argv[1], sys.argv[2]
    end, chain, units = read(path)
    if cmd == "units":
        print(" ".join(map(str, units)))
        return
    what, args = sys.argv[3], sys.argv[4:]
    with open(path, "r+b") as f:
        f.truncate(end)
        f.seek(end)
        if what == "badcheck":
            u = int(args[0])
            pairs = [(1, 2, 1.0)]
            f.write(REC.pack(u, 1) + pack_pair(*pairs[0]))
            f.write(struct.pack("<Q", check_of(chain, u, pairs) ^ 1))
        elif what == "oldcheck":
            u, a, b = int(args[0]), int(args[1]), int(args[2])
            f.write(REC.pack(u, 1) + pack_pair(a, b, 1.0))
            f.write(struct.pack("<Q", (u ^ 1 ^ OLD_MAGIC) & (2**64 - 1)))
        elif what == "forged":
            u, a, b, d = int(args[0]), int(args[1]), int(args[2]), float(args[3])
            f.write(REC.pack(u, 1) + pack_pair(a, b, d))
            f.write(struct.pack("<Q", check_of(chain, u, [(a, b, d)])))
        elif what == "hugecount":
            f.write(REC.pack(int(args[0]), 2**63 - 1) + b"\x01" * 64)
        elif what == "zeros":
            f.write(b"\0" * int(args[0]))
        else:
            sys.exit("unknown: " + what)


main()
