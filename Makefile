PYTHON ?= python3
VENV := .venv
STAMP := $(VENV)/.installed

.PHONY: demo test bench clean

$(STAMP): pyproject.toml
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -e '.[test]'
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/python -m pytest suites/ --sandbox conformant -p no:cacheprovider

test: $(STAMP)
	$(VENV)/bin/python -m pytest tests/ -q

bench: $(STAMP)
	$(VENV)/bin/python -m benchmarks.run

clean:
	rm -rf $(VENV) reports/*.xml reports/*.json reports/*.html
