# whole-body teleop: `make demo` runs the teleop session on real footage, `make test` runs the tests.
# Both run `make setup` first; it is idempotent (a second run with nothing changed takes seconds).
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
CACHE := .cache
MEDIA := $(CACHE)/media
MODELS := $(CACHE)/models
FOXGLOVE := tools/foxglove
DEMO_CLIP := $(MEDIA)/operator_arms.mp4
# DDS stays on loopback (no multicast on the external interface); each command its own domain.
export ROS_AUTOMATIC_DISCOVERY_RANGE := LOCALHOST
export ROS_DOMAIN_ID ?= 42
export PYTHONUNBUFFERED := 1

.PHONY: setup system demo test bench clean
setup: system $(VENV)/.requirements.stamp $(VENV)/.interfaces.stamp $(MEDIA)/.stamp $(DEMO_CLIP) $(MODELS)/manifest.json $(FOXGLOVE)/node_modules/.stamp
	@echo "setup: ready"

# Debian's OSMesa renders MuJoCo offscreen on the CPU (the session's robot view).
system:
	@ldconfig -p | grep -q libOSMesa.so || { \
	  if [ "$$(id -u)" = 0 ]; then echo "setup: installing libosmesa6 (apt)"; \
	    (apt-get install -y -qq libosmesa6 || (apt-get update -qq && apt-get install -y -qq libosmesa6)) >/dev/null; \
	  else echo "setup: libosmesa6 missing: run 'sudo apt-get install libosmesa6'" >&2; exit 1; fi; }

$(VENV)/.requirements.stamp: requirements.txt setup.py $(wildcard scripts/*)
	@test -x $(PY) || { echo "setup: creating $(VENV)"; python3 -m venv $(VENV); }
	@echo "setup: installing pinned dependencies (first run: several minutes)"
	$(PY) -m pip install --progress-bar on --disable-pip-version-check -r requirements.txt
	$(PY) -m pip install --disable-pip-version-check --no-deps $$(sed -n 's/^# no-deps: //p' requirements.txt)
	$(PY) -m pip install --disable-pip-version-check --no-deps --no-build-isolation -e .
	@touch $(VENV)/COLCON_IGNORE  # colcon must not build the ROS wheels' package.xml files in the venv
	@touch $@

$(VENV)/.interfaces.stamp: $(VENV)/.requirements.stamp CMakeLists.txt package.xml $(wildcard msg/*.msg)
	@echo "setup: building msg/ interfaces with rosidl"
	tools/build_interfaces.sh $(VENV) build/interfaces $(VENV)
	@touch $@

$(MEDIA)/.stamp: tools/fetch_media.sh
	@echo "setup: fetching real footage (Debian opencv-doc)"
	tools/fetch_media.sh $(MEDIA)
	@touch $@

# The demo's default footage: a person swinging both arms (Pose2Sim's demo video, from its PyPI wheel).
$(DEMO_CLIP): tools/fetch_demo_clip.sh tools/make_demo_clip.py $(VENV)/.requirements.stamp
	@echo "setup: cutting the demo clip from the pose2sim wheel (pip download, not installed)"
	tools/fetch_demo_clip.sh $(VENV) $@

$(MODELS)/manifest.json: requirements-convert.txt tools/model_prep.py src/whole_body_pose/models.py $(VENV)/.requirements.stamp $(MEDIA)/.stamp
	@echo "setup: converting the part experts to ONNX (first run: several minutes)"
	tools/prepare_models.sh $(VENV) $(MODELS)
	@touch $@

# Foxglove's own MCAP and ROS 2 parsers (npm, versions locked in package-lock.json): the test that
# recorded episodes open in Foxglove runs them with node.
$(FOXGLOVE)/node_modules/.stamp: $(FOXGLOVE)/package.json $(FOXGLOVE)/package-lock.json
	@command -v npm >/dev/null || { \
	  if [ "$$(id -u)" = 0 ]; then echo "setup: installing nodejs and npm (apt)"; \
	    (apt-get install -y -qq nodejs npm || (apt-get update -qq && apt-get install -y -qq nodejs npm)) >/dev/null; \
	  else echo "setup: npm missing: run 'sudo apt-get install nodejs npm'" >&2; exit 1; fi; }
	@echo "setup: installing Foxglove's parsers (npm ci)"
	npm ci --prefix $(FOXGLOVE) --ignore-scripts --no-audit --no-fund --loglevel=error
	@touch $@

# make demo SOURCE=/dev/video0 (a webcam) or SOURCE=my_video.mp4: your own camera or footage;
# ROBOT=panda_urdf (a robot of config/robots, or a robot YAML): another robot.
demo: setup
	$(PY) -m teleop_session.demo $(if $(SOURCE),--video $(SOURCE)) $(if $(ROBOT),--robot $(ROBOT))

test: setup
	$(PY) -m pytest -q test

bench: setup
	for b in bench/*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

clean:
	rm -rf build $(VENV) .venv-convert $(CACHE)
