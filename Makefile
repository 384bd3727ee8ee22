# Two entry points: `make run` and `make test`. Both create .venv and install everything first.
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: install run test bench eval train clean

$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

run: install
	$(VENV)/bin/coach start

test: install
	$(VENV)/bin/pytest -q

train: install
	$(VENV)/bin/coach train

eval: install
	$(VENV)/bin/coach eval

clean:
	rm -rf $(VENV) .pytest_cache
