"""Test seeds (kept free of torch so that a subprocess can check them cheaply)."""

import zlib


def seed_for(nodeid: str) -> int:
    """The seed of the test `nodeid`: a CRC32 of the id, the same in every
    process (Python's hash() of a str is salted per process)."""
    return zlib.crc32(nodeid.encode("utf-8"))
