PYTHON ?= python3
VENV := .venv
STAMP := $(VENV)/.installed
# Direktiv's servers in the sandbox run on Go where Go and grpc-go are installed (Debian packages grpc-go as
# GOPATH sources), and the load balancer of the chart line v0.5.10-v0.7 on the real nginx; without them those
# tests skip and the Python stand-ins serve. RUNLEVEL=1 keeps the package from starting a system nginx.
REAL_SERVER_PACKAGES := golang-go golang-google-grpc-dev nginx-light

.PHONY: demo test test-neighbours test-busy bench clean

$(STAMP): pyproject.toml
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -e '.[test]'
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/python -m pytest suites/ --direktiv-sandbox conformant -p no:cacheprovider

test: $(STAMP)
	@$(VENV)/bin/python -c 'import sys; from sandbox.servers import go_available, nginx_available; \
	  sys.exit(not (go_available() and nginx_available()))' || \
	  { apt-get update -qq && RUNLEVEL=1 DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	    $(REAL_SERVER_PACKAGES) >/dev/null; } || \
	  echo "could not install $(REAL_SERVER_PACKAGES) with apt-get: their tests skip, the sandbox uses Python"
	$(VENV)/bin/python -m pytest tests/ -q

# The tests in an environment that also has pytest-timeout, -xdist, -randomly, -rerunfailures and -html
# (build/neighbours, made by tests/test_neighbours.py from the package index, bounded, reused while unchanged).
test-neighbours: $(STAMP)
	timeout 900 $(VENV)/bin/python tests/test_neighbours.py
	build/neighbours/bin/python -m pytest tests/ -q

# The tests while stress-ng keeps every core busy (bounded by timeout, stopped when the tests end).
test-busy: $(STAMP)
	@command -v stress-ng >/dev/null || { echo "test-busy needs stress-ng: apt-get install stress-ng"; exit 2; }
	timeout 900 stress-ng --cpu $$(nproc) --timeout 900s --quiet & hog=$$!; \
	$(VENV)/bin/python -m pytest tests/ -q; status=$$?; \
	kill $$hog 2>/dev/null; wait $$hog; exit $$status

bench: $(STAMP)
	$(VENV)/bin/python -m benchmarks.run

clean:
	rm -rf $(VENV) build/neighbours reports/*.xml reports/*.json reports/*.html
