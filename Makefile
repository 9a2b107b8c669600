# The autograd course. `make help` lists the targets; every target creates .venv when missing.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# Every package of the course environment, pinned (`make lock` writes it).
LOCK := requirements.lock
# The torch that `make lock` pins (a CPU build on the course machines).
LOCK_TORCH ?= torch==2.13.0
# The locked torch unless set: TORCH_SPEC="torch>=2.3" (any 2.3+) installs that torch instead, and the
# other packages as locked where it allows.
TORCH_SPEC ?= $(shell grep -m1 '^torch==' $(LOCK))
ASSIGNMENTS := $(notdir $(wildcard solutions/[0-9]*))
STAMP := $(VENV)/.installed
# JupyterLab refuses to start as root (the usual user in a container) unless told it may.
ALLOW_ROOT := $(if $(filter 0,$(shell id -u)),--allow-root)
# The student view: notebooks/ with nbgrader's Validate button, and without the Assignment List, Course List,
# Formgrader and Create Assignment, which need the course root or a JupyterHub exchange and show errors here.
STUDENT_JUPYTER_CONFIG := $(CURDIR)/jupyter-config/student
# What the Jupyter targets serve: the student notebooks, the course folder, the demo class.
NOTEBOOKS ?= notebooks
COURSE ?= $(CURDIR)
DEMO ?= demo-course
# The environment's bin first on PATH, also where it was never activated: nbgrader runs alembic by name.
WITH_ENV := PATH="$(abspath $(BIN)):$$PATH"
# No news and no update checks (nothing outside the machine is asked, no pop-up asks either); LAB_ARGS adds
# JupyterLab options (say LAB_ARGS="--no-browser --ServerApp.port=8899").
LAB_OPTIONS := $(ALLOW_ROOT) --LabApp.news_url=None --LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate \
	--LabApp.app_settings_dir="$(CURDIR)/jupyter-config/lab-settings" $(LAB_ARGS)

.PHONY: help setup lab instructor-lab demo-lab release demo collect grade report export test test-browser site lock bench clean-grading

help:
	@echo "make setup     create .venv with everything the course needs (and check graphviz and Chromium)"
	@echo "make lab       open JupyterLab on the student notebooks"
	@echo "make instructor-lab  open JupyterLab at the course root: formgrader, Create Assignment, the exchange"
	@echo "make demo-lab  open the demo class (make demo) in the formgrader"
	@echo "make release   generate notebooks/ (student versions) from solutions/ with nbgrader"
	@echo "make demo      grade a generated sample class end to end and print its grade table (in demo-course/)"
	@echo "make collect   file downloaded .ipynb submissions (ZIP=... or DIR=...) into submitted/ (REPLACE=1: over different ones)"
	@echo "make grade     autograde submitted/ in sandboxed kernels, write feedback/, grades.csv and grading-summary.txt"
	@echo "               (ARGS='--scheduler tcp://HOST:8786' grades on a Dask cluster; see the README)"
	@echo "make report    the class report from the gradebook: class-report/index.html (make grade writes it too)"
	@echo "make export    the gradebook as Canvas and Moodle grade-import CSV files, in exports/"
	@echo "make test      the test suite (what CI runs), the browser tests included"
	@echo "make test-browser  only the browser tests: JupyterLab and the site in headless Chromium"
	@echo "make site      the course as a book for readers (sidebar, search, math, launch buttons), in site/"
	@echo "make lock      re-pin requirements.lock after a change to requirements.txt (UPGRADE=1: newest of all)"
	@echo "make bench     execution time, memory and grading throughput figures"

$(STAMP): requirements.txt $(LOCK) pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	@if [ "$(TORCH_SPEC)" = "$$(grep -m1 '^torch==' $(LOCK))" ]; then \
		echo "$(BIN)/python -m pip install -q -r $(LOCK) -e ."; \
		$(BIN)/python -m pip install -q -r $(LOCK) -e .; \
	else \
		grep -v '^torch==' $(LOCK) > $(VENV)/constraints.txt; \
		echo "$(BIN)/python -m pip install -q \"$(TORCH_SPEC)\" -r requirements.txt -c $(VENV)/constraints.txt -e ."; \
		$(BIN)/python -m pip install -q "$(TORCH_SPEC)" -r requirements.txt -c $(VENV)/constraints.txt -e .; \
	fi
	@touch $@

# JupyterHub's proxy (configurable-http-proxy, from npm), for deploy/jupyterhub/ and its test.
HUB_PROXY := deploy/jupyterhub/node_modules/.bin/configurable-http-proxy

$(HUB_PROXY): deploy/jupyterhub/package.json deploy/jupyterhub/package-lock.json
	@if command -v npm >/dev/null 2>&1; then npm ci --prefix deploy/jupyterhub --no-audit --no-fund --loglevel=error \
		&& touch $@; else echo "*** npm not found: JupyterHub (deploy/jupyterhub/) needs Node.js for its proxy"; fi

setup: $(STAMP) $(HUB_PROXY)
	@bash .ci/system-packages
	@mkdir -p exchange && chmod 1777 exchange
	@echo "Course environment ready in $(VENV)"

lab: setup
	JUPYTER_CONFIG_PATH="$(STUDENT_JUPYTER_CONFIG)$(if $(JUPYTER_CONFIG_PATH),:$(JUPYTER_CONFIG_PATH))" \
		$(WITH_ENV) $(BIN)/jupyter lab $(LAB_OPTIONS) "$(NOTEBOOKS)"

# nbgrader's server extensions read nbgrader_config.py from the folder the server starts in.
instructor-lab: setup
	mkdir -p "$(COURSE)/exchange" && chmod 1777 "$(COURSE)/exchange"
	cd "$(COURSE)" && $(WITH_ENV) $(abspath $(BIN))/jupyter lab $(LAB_OPTIONS) --ServerApp.root_dir="$(abspath $(COURSE))"

demo-lab: setup
	test -f "$(DEMO)/grades.csv" || $(MAKE) demo DEMO="$(DEMO)"
	$(MAKE) instructor-lab COURSE="$(abspath $(DEMO))"

release: setup
	$(WITH_ENV) $(BIN)/python -m autograd_course.grading.release $(ASSIGNMENTS)
	@mkdir -p exchange && chmod 1777 exchange

demo: setup
	$(WITH_ENV) $(BIN)/python -m autograd_course.grading.demo --course "$(DEMO)"

collect: setup
	$(WITH_ENV) $(BIN)/python -m autograd_course.grading.collect $(if $(ZIP),--zip $(ZIP)) $(if $(DIR),--dir $(DIR)) $(if $(REPLACE),--replace)

grade: setup
	$(WITH_ENV) $(BIN)/python -m autograd_course.grading.grade $(ARGS)

report: setup
	$(WITH_ENV) $(BIN)/python -m autograd_course.grading.report $(ARGS)

export: setup
	$(WITH_ENV) $(BIN)/python -m autograd_course.grading.export $(ARGS)

# Screenshots of the browser tests' steps land in browser-results/.
test: setup
	rm -rf browser-results
	$(WITH_ENV) $(BIN)/python -m pytest -n 2 --dist loadgroup --durations=15

test-browser: setup
	rm -rf browser-results
	COURSE_BROWSER_TESTS=required $(WITH_ENV) $(BIN)/python -m pytest -m browser -n 2 --dist loadgroup tests/test_browser.py

# The site's pages in $(SITE)/ from the book's sources in $(BOOK)/; the notebooks' executed outputs are cached
# in .jupyter_cache/ (or $SITE_CACHE), so a rebuild executes only the notebooks that changed. Any warning fails
# the build (a missing picture, a broken link).
BOOK ?= book
SITE ?= site
site: setup
	$(WITH_ENV) $(BIN)/python -m sphinx -b html -j auto -q -W --keep-going "$(BOOK)" "$(SITE)"
	@echo "site: $(SITE)/index.html"

# Pins what requirements.txt and pyproject.toml ask for, keeping the current pins that still fit
# (UPGRADE=1: the newest releases of everything). A local build tag such as 2.13.0+cpu is dropped:
# the lock pins the release, and pip installs the build the machine offers. Commit the lock once
# `make setup` and `make test` pass with it.
lock:
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q pip-tools
	CUSTOM_COMPILE_COMMAND="make lock" $(BIN)/python -m piptools compile --quiet --allow-unsafe --strip-extras \
		--no-emit-index-url --no-emit-find-links --no-emit-trusted-host $(if $(UPGRADE),--upgrade) \
		--upgrade-package "$(LOCK_TORCH)" --output-file $(LOCK) requirements.txt pyproject.toml
	sed -i.bak -E 's/^(torch==[^+ ]+)\+[A-Za-z0-9.]+/\1/' $(LOCK) && rm -f $(LOCK).bak

bench: setup
	$(WITH_ENV) $(BIN)/python -m autograd_course.grading.bench $(ARGS)

clean-grading:
	rm -rf gradebook.db submitted autograded feedback downloaded exports class-report grades.csv grades-by-exercise.csv \
		grading-summary.txt grading-status.json
