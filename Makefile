# Two commands a learner needs: `make lab` and `make test`. Each sets up .venv on first use.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
READY := $(VENV)/.genlab-installed
CHAPTER ?= 00_welcome
PYTEST_ARGS ?= -n 2 --dist loadgroup
# Jupyter refuses to run as root unless told; containers and CI often are root.
ALLOW_ROOT := $(if $(filter 0,$(shell id -u)),--allow-root,)

.PHONY: setup lab test grade chapters benchmarks clean-venv classroom classroom-deps site

setup: $(READY)

$(READY): pyproject.toml constraints.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q -c constraints.txt -e ".[course,hf,test,classroom,site]"
	@touch $@

# The classroom's proxy (configurable-http-proxy, npm) goes into classroom/node_modules.
# make test installs it where npm exists; without Node.js the classroom test skips (fails under CI).
PROXY := classroom/node_modules/.bin/configurable-http-proxy
NPM := $(shell command -v npm 2>/dev/null)
CLASSROOM_PORT ?= 8000

classroom-deps: $(PROXY)

$(PROXY): classroom/package.json classroom/package-lock.json
	cd classroom && npm ci --no-audit --no-fund
	@touch $@

# A demo class on http://127.0.0.1:$(CLASSROOM_PORT): log in as instructor, student1 or
# student2, password genlab-demo. State (homes, exchange, hub database) in classroom/.state.
classroom: $(READY) $(PROXY)
	@echo "demo class on http://127.0.0.1:$(CLASSROOM_PORT): users instructor, student1, student2; password genlab-demo"
	PATH="$(abspath $(BIN)):$$PATH" GENLAB_CLASSROOM_PORT=$(CLASSROOM_PORT) \
		$(BIN)/jupyterhub -f classroom/jupyterhub_config.py

# Learners see chapters/; nbgrader's server extensions read nbgrader_config.py from here.
lab: $(READY)
	$(BIN)/jupyter lab --ServerApp.ip=127.0.0.1 --ServerApp.root_dir=chapters $(ALLOW_ROOT)

test: $(READY) $(if $(NPM),$(PROXY))
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/python -m pytest $(PYTEST_ARGS)

grade: $(READY)
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/genlab grade chapters/$(CHAPTER)/$(CHAPTER).ipynb

chapters: $(READY)
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/python tools/release.py

# The course as a static website in _site/ (open _site/index.html): the student chapters
# executed offline (cached in .cache/site: an unchanged chapter is not run again), widget
# previews, search and math with no network. SITE_OUT=dir builds elsewhere.
SITE_OUT ?= _site
site: $(READY)
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/python docs/site/build.py --out $(SITE_OUT)

benchmarks: $(READY)
	$(BIN)/python benchmarks/run_chapters.py

clean-venv:
	rm -rf $(VENV)
