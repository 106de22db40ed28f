PYTHON ?= python3
VENV := .venv
STAMP := $(VENV)/.installed

.PHONY: demo test clean

$(STAMP): pyproject.toml
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -e '.[test]'
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/python -m pytest suites/ --sandbox conformant -p no:cacheprovider

test: $(STAMP)
	$(VENV)/bin/python -m pytest tests/ -q

clean:
	rm -rf $(VENV) reports/*.xml reports/*.json reports/*.html
