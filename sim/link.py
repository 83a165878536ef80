"""The host side of the board's UART link: byte protocol, the serial device, and its RTL twin.

Protocol (no framing, no header): the host sends a tile's input pixels as the
accelerator's input beats, each beat as its ``ceil(lanes*bits/8)`` bytes
little-endian (lane 0 in the low bits of byte 0, as :func:`fqsr.sim.axis.pack_beats`
packs them), in the dataflow's stream order (NHWC after the host's layout
permutation, exactly what :func:`fqsr.flows.compile.run_dataflow` feeds FINN).
The board answers with the output beats in the same byte order. The board
buffers one whole input tile (the UART cannot pause the host), so the host
sends one tile, reads its whole output, then sends the next.

- :func:`encode` / :func:`decode`: tiles ``uint8 [N, C, H, W]`` <-> bytes <-> output ``[N, C, H*s, W*s]``.
- :class:`SerialDevice`: a board on a serial port (pyserial), ``run(tiles) -> ndarray``. A rolled design's board
  (``fqsr build --roll body``) first takes the weight image: the host sends ``rolled/weights.bin`` whole (header
  with length and CRC-32, then the payload, :mod:`fqsr.hw.weight_image`) once, before the first tile; the
  board's ``uart_image_split`` gives exactly that many bytes after reset to its weight loader.
- :class:`UartRtlDevice`: the same bytes through the board top (bridge + stitched network)
  simulated at the UART bit level in cocotb (:mod:`fqsr.sim.uart_bench`), ``run(tiles) -> ndarray``.
"""
from __future__ import annotations

import hashlib
import json
import math
import time
from pathlib import Path

import numpy as np

from fqsr.flows.host import HostInterface
from fqsr.models.errors import FqsrError

DEFAULT_BAUD = 1_000_000


def encode(tiles, fmt: HostInterface) -> bytes:
    """Host tiles ``uint8 [N, C, H, W]`` -> the bytes the board's UART takes, in stream order."""
    tiles = np.asarray(tiles)
    if tiles.ndim != 4 or tuple(tiles.shape[1:]) != fmt.tile_shape:
        raise FqsrError(f"tiles of shape {tuple(tiles.shape)} do not match the compiled tile "
                        f"[N, {', '.join(map(str, fmt.tile_shape))}]")
    if tiles.min(initial=0) < 0 or tiles.max(initial=0) >= 1 << fmt.in_bits:
        raise FqsrError(f"tile values must be {fmt.in_bits}-bit unsigned integers (0..{(1 << fmt.in_bits) - 1})")
    return b"".join(int(beat).to_bytes(fmt.in_bytes, "little") for beat in fmt.input_beats(tiles))


def decode(data: bytes, shape, fmt: HostInterface) -> np.ndarray:
    """The board's output bytes -> integer output tiles of ``shape`` ``[N, C, H*s, W*s]``."""
    n = int(shape[0])
    if tuple(shape[1:]) != fmt.output_tile_shape:
        raise FqsrError(f"output shape {tuple(shape)} does not match the compiled output "
                        f"[N, {', '.join(map(str, fmt.output_tile_shape))}]")
    expected = n * fmt.bytes_out_per_tile()
    if len(data) != expected:
        raise FqsrError(f"got {len(data)} output bytes, expected {expected} for {n} tile(s)")
    beats = [int.from_bytes(data[i:i + fmt.out_bytes], "little") for i in range(0, len(data), fmt.out_bytes)]
    return fmt.output_tiles(beats, n)


class SerialDevice:
    """The accelerator on a board behind its UART bridge: ``run(tiles) -> ndarray``, one tile at a time."""

    def __init__(self, port: str, baud: int = DEFAULT_BAUD, model_dir: Path | None = None,
                 fmt: HostInterface | None = None, clock_mhz: float = 25.0, weight_image: Path | None = None):
        if fmt is None and model_dir is None:
            raise FqsrError("SerialDevice needs the model folder (build/<model>) to know the stream format")
        try:
            import serial
        except ImportError:
            raise FqsrError("pyserial is missing; install it into the venv: pip install pyserial") from None
        self.fmt = fmt or HostInterface.load(model_dir)
        self.baud = baud
        self.clock_mhz = clock_mhz
        self.image = None  # the weight image still to send (a rolled design), validated before the port opens
        if weight_image is not None:
            from fqsr.hw.weight_image import decode_image

            weight_image = Path(weight_image)
            if not weight_image.is_file():
                raise FqsrError(f"weight image {weight_image} does not exist; rebuild the rolled design "
                                "(fqsr build --roll body writes it)")
            self.image = weight_image.read_bytes()
            decode_image(self.image, name=f"weight image {weight_image}")  # short or corrupt: refused here
        try:
            self.port = serial.Serial(port, baud, timeout=1.0)
        except (serial.SerialException, OSError) as exc:
            raise FqsrError(f"serial port {port} cannot be opened ({exc.__class__.__name__}); connect the board, "
                            f"load the bitstream and pass its port, e.g. serial:/dev/ttyUSB0") from None

    def tile_timeout_s(self) -> float:
        wire_s = 10 * (math.prod(self.fmt.tile_shape) + self.fmt.bytes_out_per_tile()) / self.baud
        compute_s = (self.fmt.cycles_per_frame or 0) / (self.clock_mhz * 1e6)
        return 2 * (wire_s + compute_s) + 2.0

    def send_image(self):
        """The weight image, once, before the first tile (the board takes it into its SDRAM after reset)."""
        if self.image is not None:
            self.port.write(self.image)
            self.port.flush()
            self.image = None

    def run(self, tiles) -> np.ndarray:
        tiles = np.asarray(tiles)
        want = self.fmt.bytes_out_per_tile()
        outputs = []
        for i, tile in enumerate(tiles):
            self.send_image()
            self.port.reset_input_buffer()
            self.port.write(encode(tile[None], self.fmt))
            self.port.flush()
            got = bytearray()
            deadline = time.monotonic() + self.tile_timeout_s()
            while len(got) < want and time.monotonic() < deadline:
                got += self.port.read(want - len(got))
            if len(got) < want:
                raise FqsrError(f"the board answered {len(got)} of {want} bytes for tile {i}; is this model's "
                                f"bitstream loaded (press FIRE1 to reset the board)?")
            outputs.append(decode(bytes(got), (1, *self.fmt.output_tile_shape), self.fmt))
        return np.concatenate(outputs) if outputs else np.zeros((0, *self.fmt.output_tile_shape), np.int64)

    def close(self):
        self.port.close()


class UartRtlDevice:
    """The board top (UART bridge + stitched ``rtl/``) in cocotb, driven bit by bit: ``run(tiles) -> ndarray``.

    ``clks_per_bit`` is the simulated bit period (a fast baud divisor; the RTL is the same)."""

    def __init__(self, model_dir: Path, clks_per_bit: int = 4, sim: str = "verilator", seed: int = 0,
                 gap_prob: float = 0.3):
        self.model_dir = Path(model_dir)
        self.fmt = HostInterface.load(self.model_dir)
        self.clks_per_bit, self.sim, self.seed, self.gap_prob = clks_per_bit, sim, seed, gap_prob
        self.last_result: dict = {}

    def _sources(self, work: Path) -> list[Path]:
        from fqsr.hw.board import DEFAULT_BOARD, bridge_sources, write_board_top
        from fqsr.hw.stitch import rtl_sources

        top = write_board_top(self.model_dir, DEFAULT_BOARD, clks_per_bit=self.clks_per_bit, reset_cycles=8,
                              path=work / "board_top.v")
        return [*rtl_sources(self.model_dir / "rtl"), *bridge_sources(), top]

    def run(self, tiles) -> np.ndarray:
        from fqsr.hw.board import BOARD_TOP
        from fqsr.hw.stitch import rom_files
        from fqsr.sim.runner import run_cocotb, sim_build_root

        tiles = np.asarray(tiles)
        data = encode(tiles, self.fmt)
        want = len(tiles) * self.fmt.bytes_out_per_tile()
        key = hashlib.sha256(json.dumps([str(self.model_dir.resolve()), self.clks_per_bit, self.sim]).encode())
        work = sim_build_root() / "uart" / key.hexdigest()[:12]
        work.mkdir(parents=True, exist_ok=True)
        sources = self._sources(work)
        wire_cycles = 12 * self.clks_per_bit * (len(data) + want)
        compute = (self.fmt.cycles_per_frame or 10000) * len(tiles)
        spec = {"tiles": [list(data[i:i + len(data) // len(tiles)]) for i in range(0, len(data), len(data) // len(tiles))]
                if len(tiles) else [],
                "expect_per_tile": self.fmt.bytes_out_per_tile(), "clks_per_bit": self.clks_per_bit,
                "gap_prob": self.gap_prob, "seed": self.seed,
                "max_cycles": int(4 * (wire_cycles + compute) + 20000), "result": str(work / "result.json")}
        spec_path = work / "spec.json"
        spec_path.write_text(json.dumps(spec))
        Path(spec["result"]).unlink(missing_ok=True)
        run_cocotb(sources, BOARD_TOP, "fqsr.sim.uart_bench", sim=self.sim, seed=self.seed,
                   extra_env={"FQSR_UART_SPEC": str(spec_path)}, test_dir=work,
                   data_files=rom_files(self.model_dir / "rtl"))
        result = json.loads(Path(spec["result"]).read_text())
        self.last_result = result
        if result["timeout"]:
            raise FqsrError(f"the simulated board answered {len(result['bytes'])} of {want} bytes within "
                            f"{spec['max_cycles']} cycles (framing errors: {result['framing_errors']}, "
                            f"led: {result['led']:#04x})")
        return decode(bytes(result["bytes"]), (len(tiles), *self.fmt.output_tile_shape), self.fmt)
