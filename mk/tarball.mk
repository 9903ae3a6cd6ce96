# The Galaxy tarball as users and Galaxy get it (issue 13). tests/tarball builds it from the collection
# copy, prints its listing and size, checks what is in it, runs ansible-lint --profile production,
# ansible-test sanity and galaxy-importer on it unpacked (side by side), and checks the execution
# environment definitions with ansible-builder. Any finding fails.
.PHONY: tarball-check tarball-pip-bootstrap

# galaxy-importer caps attrs below 24 and ansible-lint at 26.10.1: installed into .venv it would
# downgrade the attrs that ansible-lint, jsonschema and the emulator's openapi-core run on, and hold our
# ansible-lint back. It gets a virtualenv of its own, with our pins as constraints (the same ansible-core).
GALAXY_IMPORTER_VERSION := 0.4.44
GALAXY_IMPORTER_VENV := $(CURDIR)/.cache/galaxy-importer
GALAXY_IMPORTER_STAMP := $(GALAXY_IMPORTER_VENV)/.installed-$(GALAXY_IMPORTER_VERSION)

$(GALAXY_IMPORTER_STAMP): requirements-dev.txt
	@rm -rf $(GALAXY_IMPORTER_VENV)
	$(PYTHON) -m venv $(GALAXY_IMPORTER_VENV)
	$(GALAXY_IMPORTER_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(GALAXY_IMPORTER_VENV)/bin/python -m pip install --quiet galaxy-importer==$(GALAXY_IMPORTER_VERSION) -c requirements-dev.txt
	@touch $@

# TODO-merge: a copy of the seeding in the Makefile's sanity recipe. Once the Makefile has it as a target of
# its own (ansible-test-offline), tarball-check depends on that instead and this target goes.
tarball-pip-bootstrap: $(STAMP)
	@pip_version=$$($(BIN)/python -c 'from types import SimpleNamespace as N; from ansible_test._internal.python_requirements import get_venv_packages as g; print(g(N(version="3.11"))["pip"])'); \
	  mkdir -p $(ANSIBLE_TEST_HOME)/.ansible/test/cache; \
	  cp tests/utils/pip_bootstrap_offline.py $(ANSIBLE_TEST_HOME)/.ansible/test/cache/get_pip_$${pip_version//./_}.py

tarball-check: collection tarball-pip-bootstrap $(GALAXY_IMPORTER_STAMP)
	ANSIBLE_TEST_HOME=$(ANSIBLE_TEST_HOME) GALAXY_IMPORTER_PYTHON=$(GALAXY_IMPORTER_VENV)/bin/python \
	  $(PYTEST) -q -s -rs -p no:cacheprovider tests/tarball
