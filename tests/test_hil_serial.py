"""fqsr hil over a serial port to a rolled design's board: the weight image goes first, whole, once; a short or
corrupt image is refused before anything is sent. The board is a fake peer on a pseudo-terminal (no hardware)."""
import json
import os
import threading
import zlib

import numpy as np
import pytest

from fqsr.flows.host import HostInterface
from fqsr.hw.weight_image import HEADER, encode_image
from fqsr.models.errors import FqsrError
from fqsr.sim.hil import rolled_weight_image
from fqsr.sim.link import SerialDevice, encode

# 1 channel, 2x2 UINT8 tile in, x2 upscaled 1 x 4 x 4 INT4 out, NHWC streams (one lane a beat)
FMT = HostInterface(8, 1, 4, 1, True, (0, 2, 3, 1), (0, 3, 1, 2), (1, 2, 2, 1), (1, 4, 4, 1))


class FakeBoard(threading.Thread):
    """The rolled board top's side of the UART: ``len(image)`` bytes to the weight loader, then per tile its input
    bytes in and its answer out (here each output element is the tile's first byte mod 16, as an INT4)."""

    def __init__(self, master: int, image_bytes: int, tiles: int):
        super().__init__(daemon=True)
        self.master, self.image_bytes, self.tiles = master, image_bytes, tiles
        self.image, self.tile_bytes = b"", []

    def read(self, n: int) -> bytes:
        got = b""
        while len(got) < n:
            got += os.read(self.master, n - len(got))
        return got

    def run(self):
        self.image = self.read(self.image_bytes)
        for _ in range(self.tiles):
            tile = self.read(4)
            self.tile_bytes.append(tile)
            os.write(self.master, bytes([tile[0] % 16]) * 16)


@pytest.fixture
def pty_port():
    master, slave = os.openpty()
    yield master, os.ttyname(slave)
    os.close(master)
    os.close(slave)


def test_the_weight_image_goes_first_whole_and_once(pty_port, tmp_path):
    master, port = pty_port
    image = encode_image(bytes(range(256)) * 40 + b"\x01\x02\x03")  # 10,243 payload bytes: more than a pty buffers
    path = tmp_path / "weights.bin"
    path.write_bytes(image)
    board = FakeBoard(master, len(image), tiles=3)
    board.start()
    device = SerialDevice(port, model_dir=None, fmt=FMT, weight_image=path)
    tiles = np.array([[[[5, 6], [7, 8]]], [[[9, 1], [2, 3]]], [[[250, 0], [1, 2]]]], np.uint8)
    out = device.run(tiles[:2])
    out = np.concatenate([out, device.run(tiles[2:])])  # a second run sends no image again
    device.close()
    board.join(timeout=10)
    assert board.image == image  # header (magic, version, length, CRC-32) and payload, byte for byte
    assert board.tile_bytes == [encode(t[None], FMT) for t in tiles]
    assert [int(o[0, 0, 0]) for o in out] == [5, -7, -6]  # 5, 9, 250 mod 16 as INT4
    assert out.shape == (3, 1, 4, 4)


@pytest.mark.parametrize("damage, words", [
    (lambda img: img[:-1], "short"),
    (lambda img: img[:10], "shorter than its 16-byte header"),
    (lambda img: img[:HEADER.size] + bytes([img[HEADER.size] ^ 1]) + img[HEADER.size + 1:], "corrupt"),
    (lambda img: b"XXXX" + img[4:], "not an fqsr weight image"),
])
def test_a_short_or_corrupt_image_is_refused_before_anything_is_sent(pty_port, tmp_path, damage, words):
    master, port = pty_port
    image = encode_image(b"\x10\x20\x30\x40" * 8)
    assert zlib.crc32(image[HEADER.size:]) == HEADER.unpack_from(image)[4]
    path = tmp_path / "weights.bin"
    path.write_bytes(damage(image))
    with pytest.raises(FqsrError, match=words):
        SerialDevice(port, model_dir=None, fmt=FMT, weight_image=path)
    os.set_blocking(master, False)
    with pytest.raises(BlockingIOError):  # nothing reached the board
        os.read(master, 1)
    with pytest.raises(FqsrError, match="does not exist"):
        SerialDevice(port, model_dir=None, fmt=FMT, weight_image=tmp_path / "missing.bin")


def test_the_image_is_sent_only_to_a_rolled_design(tmp_path):
    (tmp_path / "rtl").mkdir()
    assert rolled_weight_image(tmp_path) is None  # unrolled
    (tmp_path / "rolled").mkdir()
    assert rolled_weight_image(tmp_path) is None  # both built: the bitstream's record decides
    (tmp_path / "synth").mkdir()
    (tmp_path / "synth" / "pnr.json").write_text(json.dumps({"roll": "body"}))
    assert rolled_weight_image(tmp_path) == tmp_path / "rolled" / "weights.bin"
    (tmp_path / "synth" / "pnr.json").write_text(json.dumps({"roll": None}))
    assert rolled_weight_image(tmp_path) is None
