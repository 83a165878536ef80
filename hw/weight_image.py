"""The weight image (``weights.bin``) the board loads into its SDRAM: the format ``hw/rtl/weight_loader.v`` reads.

A 16-byte header, little-endian: magic ``FQSW``, format version (16 bit), flags (16 bit, 0), payload length
in bytes (32 bit), CRC-32 of the payload (IEEE 802.3, as :func:`zlib.crc32`); then the payload. The loader
writes the payload to SDRAM as 16-bit words, the first byte of each pair in the low byte.
"""
from __future__ import annotations

import struct
import zlib
from pathlib import Path

from fqsr.models.errors import FqsrError
from fqsr.models.files import atomic_path

MAGIC = b"FQSW"
VERSION = 1
HEADER = struct.Struct("<4sHHII")
SDRAM_BYTES = 32 * 1024 * 1024  # the ULX3S's 16-bit SDR SDRAM


def encode_image(payload: bytes) -> bytes:
    """The image bytes of ``payload`` (1 byte .. the SDRAM's size)."""
    payload = bytes(payload)
    if not 0 < len(payload) <= SDRAM_BYTES:
        raise FqsrError(f"a weight image holds 1 to {SDRAM_BYTES} bytes, not {len(payload)}; "
                        "check the weights given to the image writer")
    return HEADER.pack(MAGIC, VERSION, 0, len(payload), zlib.crc32(payload)) + payload


def decode_image(data: bytes, name: str = "the weight image") -> bytes:
    """The payload of a whole, uncorrupted image; an FqsrError naming what is wrong otherwise."""
    redo = "rebuild it (the build writes weights.bin)"
    if len(data) < HEADER.size:
        raise FqsrError(f"{name} is {len(data)} bytes, shorter than its {HEADER.size}-byte header; {redo}")
    magic, version, flags, length, crc = HEADER.unpack_from(data)
    if magic != MAGIC or version != VERSION or flags != 0:
        raise FqsrError(f"{name} is not an fqsr weight image of version {VERSION} "
                        f"(magic {magic!r}, version {version}, flags {flags}); {redo}")
    body = data[HEADER.size:]
    if len(body) != length:
        which = "short" if len(body) < length else "over-long"
        raise FqsrError(f"{name} is {which}: its header declares {length} payload bytes, it holds {len(body)}; {redo}")
    if zlib.crc32(body) != crc:
        raise FqsrError(f"{name} is corrupt: the payload's CRC-32 is {zlib.crc32(body):#010x}, "
                        f"the header says {crc:#010x}; {redo}")
    return body


def write_weight_image(path, payload: bytes) -> Path:
    """Write the image of ``payload`` to ``path`` atomically; returns the path."""
    data = encode_image(payload)
    with atomic_path(Path(path)) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def read_weight_image(path) -> bytes:
    """The payload of the image file ``path``, validated (length and CRC)."""
    path = Path(path)
    if not path.is_file():
        raise FqsrError(f"weight image {path} does not exist; rebuild it (the build writes weights.bin)")
    return decode_image(path.read_bytes(), name=f"weight image {path}")


def payload_words(payload: bytes) -> list[int]:
    """The 16-bit SDRAM words the loader writes for ``payload`` (an odd last byte gets a zero high byte)."""
    padded = bytes(payload) + b"\0" * (len(payload) % 2)
    return list(struct.unpack(f"<{len(padded) // 2}H", padded))
