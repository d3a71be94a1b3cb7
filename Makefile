# The two commands of README.rst, and their helpers.
#   make run   - an all-in-one cloud on this machine, one instance running
#   make stop  - stop it (state under run/ is kept for the next make run)
#   make test  - install what the tests need and run them
# A second cloud beside the first has its own run directory and options:
#   make run RUNDIR=run2 RUNARGS="--name eucad2 --port 9873 --subnet 10.79.0.0/24"
#   make stop RUNDIR=run2      (reads the lab, ports and keys from run2)
PYTHON := .venv/bin/python
RUNDIR ?= run
RUNARGS ?=

.PHONY: deps run stop test image bench bench-s3 clean

deps:
	./tools/install-deps

image: deps
	$(PYTHON) -m eucad.lab.testimage

run: deps
	$(PYTHON) -m eucad.lab.allinone up --dir $(RUNDIR) $(RUNARGS)

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
