# The autograd course. `make help` lists the targets; every target creates .venv when missing.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# A CPU build on the course machines; set TORCH_SPEC for another platform or version (2.3+).
TORCH_SPEC ?= torch==2.13.0
ASSIGNMENTS := $(notdir $(wildcard solutions/[0-9]*))
STAMP := $(VENV)/.installed
# JupyterLab refuses to start as root (the usual user in a container) unless told it may.
ALLOW_ROOT := $(if $(filter 0,$(shell id -u)),--allow-root)
# The student view: notebooks/ with nbgrader's Validate button, and without the Assignment List, Course List,
# Formgrader and Create Assignment, which need the course root or a JupyterHub exchange and show errors here.
STUDENT_JUPYTER_CONFIG := $(CURDIR)/jupyter-config/student

.PHONY: help setup lab instructor-lab release demo collect grade test bench clean-grading

help:
	@echo "make setup     create .venv with everything the course needs (and check graphviz)"
	@echo "make lab       open JupyterLab on the student notebooks"
	@echo "make instructor-lab  open JupyterLab at the course root: formgrader, Create Assignment"
	@echo "make release   generate notebooks/ (student versions) from solutions/ with nbgrader"
	@echo "make demo      grade a generated sample class end to end and print its grade table"
	@echo "make collect   file downloaded .ipynb submissions (ZIP=... or DIR=...) into submitted/"
	@echo "make grade     autograde submitted/ in sandboxed kernels, write feedback/, grades.csv and grading-summary.txt"
	@echo "               (ARGS='--scheduler tcp://HOST:8786' grades on a Dask cluster; see the README)"
	@echo "make test      the test suite (what CI runs)"
	@echo "make bench     execution time, memory and grading throughput figures"

$(STAMP): requirements.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q "$(TORCH_SPEC)"
	$(BIN)/python -m pip install -q -r requirements.txt -e .
	@touch $@

setup: $(STAMP)
	@bash .ci/system-packages
	@echo "Course environment ready in $(VENV)"

lab: setup
	JUPYTER_CONFIG_PATH="$(STUDENT_JUPYTER_CONFIG)$(if $(JUPYTER_CONFIG_PATH),:$(JUPYTER_CONFIG_PATH))" \
		$(BIN)/jupyter lab $(ALLOW_ROOT) notebooks/

instructor-lab: setup
	$(BIN)/jupyter lab $(ALLOW_ROOT) --ServerApp.root_dir="$(CURDIR)"

release: setup
	$(BIN)/python -m autograd_course.grading.release $(ASSIGNMENTS)

demo: setup
	$(BIN)/python -m autograd_course.grading.demo

collect: setup
	$(BIN)/python -m autograd_course.grading.collect $(if $(ZIP),--zip $(ZIP)) $(if $(DIR),--dir $(DIR))

grade: setup
	$(BIN)/python -m autograd_course.grading.grade $(ARGS)

test: setup
	$(BIN)/python -m pytest -n 2 --dist loadgroup

bench: setup
	$(BIN)/python -m autograd_course.grading.bench

clean-grading:
	rm -rf gradebook.db submitted autograded feedback downloaded grades.csv grading-summary.txt
