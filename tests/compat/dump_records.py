#!/usr/bin/env python3
"""Dump the records of a W&B `.wandb` transaction log as JSON lines.

Usage: python dump_records.py [--check-only] PATH
PATH is a `.wandb` file or a run directory holding exactly one `run-*.wandb`.

The framing is decoded here, independently of wandb (0.31 has no Python reader):
7-byte file header (`:W&B`, magic 0xBEE1 LE, version 0), then LevelDB-log chunks
in 32 KiB blocks, each with a `<IHB` header (crc, length, type), crc =
zlib.crc32(type byte + payload), type FULL=1 FIRST=2 MIDDLE=3 LAST=4. Block tails
under 7 bytes are padding; an all-zero chunk header skips to the next block.
Each record is printed as `MessageToDict(Record, preserving_proto_field_name=True)`
(so int64 values are JSON strings).

Exit status: 0 on a clean file. 0 on a torn tail (EOF inside a record, a chunk
header or block-tail padding; normal after a crash, and what wandb-core's reader
calls "incomplete"): whole records are printed, then `{"_torn_tail_at": OFFSET}`
(where the incomplete record starts). 3 on corruption (bad file header, CRC
mismatch, bad framing, undecodable Record), with the byte offset on stderr.
2 on bad usage or PATH.
--check-only prints just `{"records": N, "torn_tail_at": null|OFFSET}`.
"""
import argparse
import json
import struct
import sys
import zlib
from pathlib import Path

from google.protobuf.json_format import MessageToDict
from wandb.proto.wandb_internal_pb2 import Record

FILE_HEADER = b":W&B" + struct.pack("<HB", 0xBEE1, 0)
BLOCK = 32 * 1024
CHUNK_HDR = 7
FULL, FIRST, MIDDLE, LAST = 1, 2, 3, 4


class Corrupt(Exception):
    """The log is damaged at a given byte offset."""


def iter_payloads(data: bytes):
    """Yield (offset, payload) per whole record, then (offset, None) if the tail is torn."""
    if data[:CHUNK_HDR] != FILE_HEADER:
        raise Corrupt(f"offset 0: bad file header {data[:CHUNK_HDR].hex()}")
    pos, parts, start = CHUNK_HDR, None, None  # parts is not None inside a record
    while pos < len(data):
        block_left = BLOCK - pos % BLOCK
        if block_left < CHUNK_HDR and pos + block_left <= len(data):  # block tail padding
            pos += block_left
            continue
        if len(data) - pos < CHUNK_HDR:  # EOF inside a chunk header or the padding
            break
        crc, length, ctype = struct.unpack_from("<IHB", data, pos)
        if crc == 0 and length == 0 and ctype == 0:  # zeroed block remainder
            pos += block_left
            continue
        end = pos + CHUNK_HDR + length
        if end > pos + block_left:
            raise Corrupt(f"offset {pos}: chunk of {length} bytes crosses a block boundary")
        if end > len(data):  # chunk payload cut off at EOF
            break
        payload = data[pos + CHUNK_HDR:end]
        if zlib.crc32(payload, zlib.crc32(bytes([ctype]))) != crc:
            raise Corrupt(f"offset {pos}: CRC mismatch (chunk type {ctype}, length {length})")
        if ctype in (FULL, FIRST):
            if parts is not None:
                raise Corrupt(f"offset {pos}: chunk type {ctype} inside a record begun at {start}")
            if ctype == FULL:
                yield pos, payload
            else:
                parts, start = [payload], pos
        elif ctype in (MIDDLE, LAST):
            if parts is None:
                raise Corrupt(f"offset {pos}: chunk type {ctype} outside a record")
            parts.append(payload)
            if ctype == LAST:
                yield start, b"".join(parts)
                parts, start = None, None
        else:
            raise Corrupt(f"offset {pos}: unknown chunk type {ctype}")
        pos = end
    if parts is not None or pos < len(data):
        yield (start if parts is not None else pos), None


def resolve(path: Path) -> Path:
    """Return the .wandb file for PATH, or exit 2."""
    found = sorted(path.glob("run-*.wandb")) if path.is_dir() else [path]
    if len(found) != 1 or not found[0].is_file():
        print(f"error: {path}: not a .wandb file or a dir with one run-*.wandb", file=sys.stderr)
        sys.exit(2)
    return found[0]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("path", type=Path, help=".wandb file or run directory")
    ap.add_argument("--check-only", action="store_true", help="print only a record count")
    args = ap.parse_args()
    path = resolve(args.path)
    count, torn = 0, None
    try:
        for offset, payload in iter_payloads(path.read_bytes()):
            if payload is None:
                torn = offset
                break
            rec = Record()
            try:
                rec.ParseFromString(payload)
            except Exception as exc:  # google.protobuf.message.DecodeError
                raise Corrupt(f"offset {offset}: cannot decode Record: {exc}") from exc
            count += 1
            if not args.check_only:
                print(json.dumps(MessageToDict(rec, preserving_proto_field_name=True)))
    except Corrupt as exc:
        sys.stdout.flush()
        print(f"{path}: corrupt log at {exc}", file=sys.stderr)
        return 3
    if args.check_only:
        print(json.dumps({"records": count, "torn_tail_at": torn}))
    elif torn is not None:
        print(json.dumps({"_torn_tail_at": torn}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
