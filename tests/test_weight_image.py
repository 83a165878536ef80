"""The weight image: the Python writer and reader, and the RTL loader (weight_memory: weight_loader +
sdram_ctrl against the checking chip model) on good, short, over-long and corrupt images."""
import json
import random
import struct
import zlib

import pytest

from fqsr.hw.generate import RTL_DIR
from fqsr.hw.weight_image import (HEADER, decode_image, encode_image, payload_words, read_weight_image,
                                  write_weight_image)
from fqsr.models.errors import FqsrError
from fqsr.sim.runner import run_cocotb

SOURCES = [RTL_DIR / name for name in ("weight_memory.v", "weight_loader.v", "sdram_ctrl.v", "stream_fifo.v")]
POWERUP_US = 20


def payload_of(size: int, seed: int = 0) -> bytes:
    return random.Random(seed).randbytes(size)


def bad_images(payload: bytes) -> dict:
    """Each way an image can be wrong, with the loader's error code for it."""
    good = encode_image(payload)
    flipped = bytearray(good)
    flipped[HEADER.size + len(payload) // 2] ^= 0x10
    return {
        "short": (good[:-3], 3),
        "over-long": (good + b"\x00\x01", 4),
        "corrupt": (bytes(flipped), 5),
        "bad-magic": (b"FQSX" + good[4:], 1),
        "header-only": (good[:HEADER.size - 5], 3),
        "too-large": (struct.pack("<4sHHII", b"FQSW", 1, 0, 32 * 1024 * 1024 + 1, 0) + payload, 2),
    }


def test_writer_and_reader_round_trip(tmp_path):
    payload = payload_of(1001)
    path = write_weight_image(tmp_path / "weights.bin", payload)
    data = path.read_bytes()
    assert data[:4] == b"FQSW" and len(data) == HEADER.size + 1001
    assert struct.unpack_from("<I", data, 12)[0] == zlib.crc32(payload)
    assert read_weight_image(path) == payload
    assert payload_words(b"\x01\x02\x03") == [0x0201, 0x0003]
    with pytest.raises(FqsrError, match="holds 1 to"):
        encode_image(b"")


@pytest.mark.parametrize("case, match", [
    ("short", "is short: its header declares 1001 payload bytes, it holds 998"),
    ("over-long", "is over-long"),
    ("corrupt", "is corrupt: the payload's CRC-32"),
    ("bad-magic", "is not an fqsr weight image"),
    ("header-only", "shorter than its 16-byte header"),
    ("too-large", "is short"),
])
def test_the_reader_refuses_a_bad_image(case, match, tmp_path):
    data, _ = bad_images(payload_of(1001))[case]
    (tmp_path / "weights.bin").write_bytes(data)
    with pytest.raises(FqsrError, match=match):
        read_weight_image(tmp_path / "weights.bin")
    with pytest.raises(FqsrError, match="does not exist"):
        read_weight_image(tmp_path / "none.bin")


def load_on_rtl(tmp_path, image: bytes, payload: bytes, expect, parameters=None, seed=0):
    (tmp_path / "image.bin").write_bytes(image)
    (tmp_path / "payload.bin").write_bytes(payload)
    run = {"image": str(tmp_path / "image.bin"), "payload": str(tmp_path / "payload.bin"), "expect": expect,
           "powerup_us": POWERUP_US, "p_gap": 0.3, "p_stall": 0.3, "seed": seed}
    run_cocotb(SOURCES, "weight_memory", "fqsr.sim.weight_loader_bench",
               parameters={"POWERUP_US": POWERUP_US, **(parameters or {})}, test_dir=tmp_path,
               extra_env={"FQSR_LOADER_RUN": json.dumps(run)})


@pytest.mark.parametrize("size, parameters", [(1501, {}), (600, {"LEN_BITS": 4, "CAS_LATENCY": 3})],
                         ids=["odd-1501B", "bursts-of-16-CL3"])
def test_a_good_image_loads_and_reads_back_equal(size, parameters, tmp_path):
    payload = payload_of(size, seed=size)
    assert decode_image(encode_image(payload)) == payload
    load_on_rtl(tmp_path, encode_image(payload), payload, "ok", parameters, seed=size)


@pytest.mark.parametrize("case", ["short", "over-long", "corrupt", "bad-magic", "header-only", "too-large"])
def test_the_loader_refuses_a_bad_image(case, tmp_path):
    payload = payload_of(301, seed=7)
    image, code = bad_images(payload)[case]
    load_on_rtl(tmp_path, image, payload, code, seed=len(case))
