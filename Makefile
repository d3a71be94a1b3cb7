# The two commands of README.rst, and their helpers.
#   make run   - an all-in-one cloud on this machine, one instance running
#   make stop  - stop it (state under run/ is kept for the next make run)
#   make test  - install what the tests need and run them
PYTHON := .venv/bin/python
RUNDIR ?= run

.PHONY: deps run stop test image bench bench-s3 clean

deps:
	./tools/install-deps

image: deps
	$(PYTHON) -m eucad.lab.testimage

run: deps
	$(PYTHON) -m eucad.lab.allinone up --dir $(RUNDIR)

stop:
	@if [ -x $(PYTHON) ]; then $(PYTHON) -m eucad.lab.allinone down --dir $(RUNDIR); fi

test: deps
	./tools/run-tests $(TESTS)

bench: deps
	$(PYTHON) bench/launch.py

bench-s3: deps
	$(PYTHON) bench/s3.py

clean: stop
	rm -rf build
