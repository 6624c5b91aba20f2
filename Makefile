# One command for the main job, one for the tests (see README.md).
#   make demo   set up .venv if needed, build the bundled digit scenes, run a
#               real DMT job (two ImageNet-pretrained EfficientNet-Lite0
#               DeepLab-v2 models, phase 0 + 5 phases, 80 labelled scenes),
#               evaluate the final checkpoint, print the per-phase table and
#               plot the run (WORK_DIR/plots/*.png).
#   make demo-cls  the classification chain on the bundled handwritten digits
#               (WideResNet, phase 0 + 5 phases, 30 labelled digits of the
#               pool), evaluated the same way.
#   make test   set up .venv if needed, run the test suite (CI: .ci/run).
#   make test-torch2.1  the same on the second tested stack (torch 2.1.2,
#               numpy 1) in .venv-torch2.1 (tools/setup_env.sh --stack
#               torch2.1); CI runs both.
#   make setup  only the environment (tools/setup_env.sh; SETUP_ARGS=--cuda
#               for mmcv's CUDA ops, --check to check the machine first).
PY := .venv/bin/python
PY_TORCH21 := .venv-torch2.1/bin/python
CONFIG ?= configs/dmt/dmt_deeplabv2-lite0_digit-scenes.py
WORK_DIR ?= work_dirs/dmt_deeplabv2-lite0_digit-scenes
DATA_DIR ?= data/digit_scenes
CLS_CONFIG ?= configs/dmt/dmt_wrn10-2_digits-pool.py
CLS_WORK_DIR ?= work_dirs/dmt_wrn10-2_digits-pool
CLS_DATA_DIR ?= data/digits_cls
PYTEST_ARGS ?=
SHORT_RUN_NOTE := A shortened run (10-minute lengths): it shows the mechanism, its numbers are not evidence; runs at convergence: docs/benchmarks/PROTOCOL-v2.md
SETUP_ARGS ?=

.PHONY: setup setup-torch2.1 data demo demo-cls test test-torch2.1

setup:
	@bash tools/setup_env.sh $(SETUP_ARGS)

setup-torch2.1:
	@bash tools/setup_env.sh --stack torch2.1 $(SETUP_ARGS)

data: setup
	@$(PY) tools/dataset_converters/digit_scenes.py -o $(DATA_DIR)

demo: data
	$(PY) tools/train.py $(CONFIG) --work-dir $(WORK_DIR)
	$(PY) tools/test.py $(CONFIG) $(WORK_DIR)/phase5_B.pth --model A \
		--work-dir $(WORK_DIR)/test_A
	$(PY) tools/dmt_summary.py $(WORK_DIR)
	$(PY) tools/analysis_tools/plot_dmt.py $(WORK_DIR)
	@echo "$(SHORT_RUN_NOTE)"

demo-cls: setup
	@$(PY) tools/dataset_converters/digits_cls.py -o $(CLS_DATA_DIR)
	$(PY) tools/train.py $(CLS_CONFIG) --work-dir $(CLS_WORK_DIR)
	$(PY) tools/test.py $(CLS_CONFIG) $(CLS_WORK_DIR)/phase5.pth \
		--work-dir $(CLS_WORK_DIR)/test
	$(PY) tools/dmt_summary.py $(CLS_WORK_DIR)
	$(PY) tools/analysis_tools/plot_dmt.py $(CLS_WORK_DIR)
	@echo "$(SHORT_RUN_NOTE)"

test: setup
	$(PY) -m pytest tests $(PYTEST_ARGS)

test-torch2.1: setup-torch2.1
	$(PY_TORCH21) -m pytest tests $(PYTEST_ARGS)
