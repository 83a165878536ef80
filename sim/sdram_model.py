"""A cocotb model of one SDR SDRAM chip (16-bit, 4 banks) that stores data and checks every timing rule.

The model watches the command pins ``<prefix>_cs_n/_ras_n/_cas_n/_we_n/_ba/_a/_dqm/_dq_o/_dq_oe/_cke`` and
drives ``<prefix>_dq_i``. It acts on the falling clock edge: what the pins hold then is the command the chip
registers on the next rising edge, cycle ``n`` (rising edges counted from the model's start). Read data of
a READ at cycle ``n`` is driven for the rising edge ``n + CL``; between reads the data pins carry random
values, so a controller that samples at the wrong cycle reads garbage.

Any broken rule raises :class:`SdramTimingError` naming the rule, the command and the cycle; the model also
keeps it in ``error`` so a bench can stop at once (:meth:`SdramModel.check`).
"""
from __future__ import annotations

import math
import random
from dataclasses import dataclass

BANKS = 4
NOP, ACTIVE, READ, WRITE, PRECHARGE, REFRESH, MRS, BURST_TERMINATE = (
    "NOP", "ACTIVE", "READ", "WRITE", "PRECHARGE", "REFRESH", "MODE REGISTER SET", "BURST TERMINATE")
COMMANDS = {0b0111: NOP, 0b0011: ACTIVE, 0b0101: READ, 0b0100: WRITE, 0b0010: PRECHARGE, 0b0001: REFRESH,
            0b0000: MRS, 0b0110: BURST_TERMINATE}


class SdramTimingError(AssertionError):
    """A command that breaks the chip's rules."""


@dataclass(frozen=True)
class SdramTiming:
    """The chip's datasheet limits (ns, or clock cycles where the datasheet gives cycles) and the clock; the
    defaults cover the parts ULX3S boards carry (IS42S16160, MT48LC16M16A2-75, AS4C32M16SB-7)."""
    clk_mhz: float = 100.0
    t_rcd_ns: float = 21.0
    t_rp_ns: float = 21.0
    t_ras_ns: float = 45.0
    t_ras_max_ns: float = 100_000.0
    t_rc_ns: float = 68.0
    t_rrd_ns: float = 15.0
    t_wr_ns: float = 15.0
    t_wr_min_cycles: int = 2
    t_rfc_ns: float = 70.0
    t_mrd_cycles: int = 2
    t_refi_ns: float = 7812.5
    powerup_us: float = 200.0
    init_refreshes: int = 8
    rows: int = 8192
    cols: int = 512

    def cycles(self, ns: float) -> int:
        return max(1, math.ceil(round(ns * self.clk_mhz / 1000.0, 6)))

    @property
    def limits(self) -> dict:
        """Cycle counts of every rule: minimum gaps, except tRAS max and tREFI (maximum gaps)."""
        return {"tRCD": self.cycles(self.t_rcd_ns), "tRP": self.cycles(self.t_rp_ns),
                "tRAS": self.cycles(self.t_ras_ns), "tRC": self.cycles(self.t_rc_ns),
                "tRRD": self.cycles(self.t_rrd_ns), "tWR": max(self.cycles(self.t_wr_ns), self.t_wr_min_cycles),
                "tRFC": self.cycles(self.t_rfc_ns), "tMRD": self.t_mrd_cycles,
                "tRAS max": int(self.t_ras_max_ns * self.clk_mhz / 1000.0),
                "tREFI": int(self.t_refi_ns * self.clk_mhz / 1000.0),
                "power-up": math.ceil(self.powerup_us * self.clk_mhz)}


class SdramModel:
    """Storage and rule checker of one chip; start :meth:`run` with ``cocotb.start_soon``."""

    def __init__(self, dut, timing: SdramTiming = SdramTiming(), prefix: str = "sdram", seed: int = 0):
        self.dut, self.timing, self.prefix = dut, timing, prefix
        self.t = timing.limits
        self.rng = random.Random(seed)
        self.mem: dict[tuple[int, int, int], int] = {}  # (bank, row, column) -> 16-bit word
        self.cycle = 0
        self.error: SdramTimingError | None = None
        self.open_row: list[int | None] = [None] * BANKS
        never = -10**9
        self.last = {name: never for name in ("refresh", "mrs", "active_any", "read")}
        self.bank_active = [never] * BANKS
        self.bank_precharge = [never] * BANKS
        self.bank_write = [never] * BANKS
        self.init_stage = "power-up"  # -> "precharged" -> "refreshed" -> "ready"
        self.init_refresh_count = 0
        self.cas_latency: int | None = None
        self.read_data: dict[int, int] = {}  # cycle -> word due on the pins at that rising edge
        self.counts = {name: 0 for name in COMMANDS.values()}

    def pin(self, name: str) -> int:
        return int(getattr(self.dut, f"{self.prefix}_{name}").value)

    def fail(self, rule: str, detail: str):
        self.error = SdramTimingError(f"SDRAM rule {rule} broken at cycle {self.cycle}: {detail}")
        raise self.error

    def check(self):
        """Raise the first broken rule, if any (for the bench's main loop)."""
        if self.error is not None:
            raise self.error

    def gap(self, rule: str, since: int, what: str):
        if self.cycle - since < self.t[rule]:
            self.fail(rule, f"{what}: {self.cycle - since} cycle(s) apart, needs {self.t[rule]}")

    async def run(self):
        from cocotb.triggers import FallingEdge
        dq_i = getattr(self.dut, f"{self.prefix}_dq_i")
        try:
            while True:
                await FallingEdge(getattr(self.dut, "ap_clk"))
                self.cycle += 1
                dq_i.value = self.read_data.pop(self.cycle, self.rng.getrandbits(16))
                self.step()
        except SdramTimingError:
            pass  # kept in self.error; the bench raises it

    def step(self):
        """The command registered at the rising edge of cycle ``self.cycle``."""
        if self.pin("cke") != 1:
            self.fail("CKE", "CKE low (power-down, self refresh) is not supported by this model")
        cmd = NOP if self.pin("cs_n") else COMMANDS[(self.pin("ras_n") << 2) | (self.pin("cas_n") << 1) | self.pin("we_n")]
        self.check_intervals()
        if cmd == NOP:
            return
        self.counts[cmd] += 1
        if self.cycle < self.t["power-up"]:
            self.fail("power-up wait", f"{cmd} before the {self.timing.powerup_us} us power-up wait ended")
        self.gap("tRFC", self.last["refresh"], f"{cmd} after AUTO REFRESH")
        self.gap("tMRD", self.last["mrs"], f"{cmd} after MODE REGISTER SET")
        bank, addr = self.pin("ba"), self.pin("a")
        {ACTIVE: self.active, READ: self.column, WRITE: self.column, PRECHARGE: self.precharge,
         REFRESH: self.refresh, MRS: self.mode_register, BURST_TERMINATE: self.unsupported}[cmd](cmd, bank, addr)

    def check_intervals(self):
        if self.init_stage == "ready" and self.cycle - self.last["refresh"] > self.t["tREFI"]:
            self.fail("refresh interval", f"no AUTO REFRESH for {self.cycle - self.last['refresh']} cycles, "
                                          f"at most {self.t['tREFI']} allowed (tREFI {self.timing.t_refi_ns:g} ns)")
        for bank, row in enumerate(self.open_row):
            if row is not None and self.cycle - self.bank_active[bank] > self.t["tRAS max"]:
                self.fail("tRAS max", f"bank {bank} open for more than {self.t['tRAS max']} cycles")

    def require_ready(self, cmd: str):
        if self.init_stage != "ready":
            self.fail("init sequence", f"{cmd} before the init sequence (PRECHARGE all, "
                                       f"{self.timing.init_refreshes} AUTO REFRESH, MODE REGISTER SET) completed")

    def require_idle(self, cmd: str):
        open_banks = [b for b, row in enumerate(self.open_row) if row is not None]
        if open_banks:
            self.fail(f"{cmd} with a bank open", f"{cmd} while bank(s) {open_banks} are open")
        for bank in range(BANKS):
            self.gap("tRP", self.bank_precharge[bank], f"{cmd} after PRECHARGE of bank {bank}")
            self.gap("tRC", self.bank_active[bank], f"{cmd} after ACTIVE of bank {bank}")

    def active(self, cmd, bank, row):
        self.require_ready(cmd)
        if self.open_row[bank] is not None:
            self.fail("ACTIVE to an open bank", f"ACTIVE row {row} of bank {bank}, row {self.open_row[bank]} is open")
        if row >= self.timing.rows:
            self.fail("row address", f"ACTIVE row {row} of bank {bank}, the chip has {self.timing.rows} rows")
        self.gap("tRC", self.bank_active[bank], f"ACTIVE of bank {bank} after ACTIVE of the same bank")
        self.gap("tRP", self.bank_precharge[bank], f"ACTIVE of bank {bank} after its PRECHARGE")
        self.gap("tRRD", self.last["active_any"], f"ACTIVE of bank {bank} after ACTIVE of another bank")
        self.open_row[bank] = row
        self.bank_active[bank] = self.last["active_any"] = self.cycle

    def column(self, cmd, bank, addr):
        self.require_ready(cmd)
        if self.open_row[bank] is None:
            self.fail(f"{cmd} to a closed bank", f"{cmd} to bank {bank}, which has no open row")
        if addr & (1 << 10):
            self.unsupported(f"{cmd} with auto precharge", bank, addr)
        self.gap("tRCD", self.bank_active[bank], f"{cmd} to bank {bank} after its ACTIVE")
        column = addr & ((1 << 10) - 1)
        if column >= self.timing.cols:
            self.fail("column address", f"{cmd} column {column}, the chip has {self.timing.cols} columns")
        key = (bank, self.open_row[bank], column)
        dqm = self.pin("dqm")
        if cmd == WRITE:
            if self.cycle - self.last["read"] < self.cas_latency + 2:
                self.fail("read-to-write bus turnaround", f"WRITE {self.cycle - self.last['read']} cycle(s) after a "
                                                          f"READ whose data is on the bus (CL {self.cas_latency})")
            if not self.pin("dq_oe"):
                self.fail("write data", f"WRITE to bank {bank} with the data pins not driven")
            data, old = self.pin("dq_o"), self.mem.get(key, 0)
            mask = (0xFF if dqm & 1 else 0) | (0xFF00 if dqm & 2 else 0)
            self.mem[key] = (old & mask) | (data & ~mask & 0xFFFF)
            self.bank_write[bank] = self.cycle
        else:
            if dqm:
                self.unsupported("READ with DQM set", bank, addr)
            self.read_data[self.cycle + self.cas_latency] = self.mem.get(key, 0)
            self.last["read"] = self.cycle

    def precharge(self, cmd, bank, addr):
        banks = range(BANKS) if addr & (1 << 10) else [bank]
        for b in banks:
            if self.open_row[b] is None:
                continue  # precharging an idle bank is a NOP for it
            self.gap("tRAS", self.bank_active[b], f"PRECHARGE of bank {b} after its ACTIVE")
            self.gap("tWR", self.bank_write[b], f"PRECHARGE of bank {b} after a WRITE to it")
            self.open_row[b] = None
            self.bank_precharge[b] = self.cycle
        if self.init_stage == "power-up" and addr & (1 << 10):
            self.init_stage = "precharged"

    def refresh(self, cmd, bank, addr):
        if self.init_stage == "power-up":
            self.fail("init sequence", "AUTO REFRESH before the first PRECHARGE all")
        self.require_idle(cmd)
        if self.init_stage == "precharged":
            self.init_refresh_count += 1
        self.last["refresh"] = self.cycle

    def mode_register(self, cmd, bank, addr):
        if self.init_stage == "power-up" or self.init_refresh_count < self.timing.init_refreshes:
            self.fail("init sequence", f"MODE REGISTER SET after {self.init_refresh_count} AUTO REFRESH, "
                                       f"needs PRECHARGE all and {self.timing.init_refreshes}")
        self.require_idle(cmd)
        burst, cas = addr & 0b111, (addr >> 4) & 0b111
        if cas not in (2, 3):
            self.fail("mode register", f"CAS latency {cas} (2 or 3)")
        if burst != 0 or addr >> 7:
            self.unsupported(f"mode register {addr:#06x} (this model supports burst length 1, normal operation)",
                             bank, addr)
        self.cas_latency = cas
        self.init_stage = "ready"
        self.last["mrs"] = self.cycle

    def unsupported(self, cmd, bank, addr):
        self.fail("unsupported command", f"{cmd} is not modelled")

    def word(self, address: int, col_bits: int = 9) -> int:
        """The stored word at a controller word address {row, bank, column} (0 if never written)."""
        column = address & ((1 << col_bits) - 1)
        bank = (address >> col_bits) & 3
        return self.mem.get((bank, address >> (col_bits + 2), column), 0)
