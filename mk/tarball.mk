# The Galaxy tarball as users and Galaxy get it (issue 13). tests/tarball builds it from the collection
# copy, prints its listing and size, checks what is in it, runs ansible-lint --profile production,
# ansible-test sanity and galaxy-importer on it unpacked (side by side), and checks the execution
# environment definitions with ansible-builder. Any finding fails.
.PHONY: tarball-check

# galaxy-importer caps attrs below 24 and ansible-lint at 26.10.1: installed into .venv it would
# downgrade the attrs that ansible-lint, jsonschema and the emulator's openapi-core run on, and hold our
# ansible-lint back. It gets a virtualenv of its own, every package pinned by make lock (the same ansible-core).
GALAXY_IMPORTER_VERSION := 0.4.44
GALAXY_IMPORTER_CONSTRAINTS := tests/tarball/galaxy-importer-constraints.txt
GALAXY_IMPORTER_VENV := $(CURDIR)/.cache/galaxy-importer
GALAXY_IMPORTER_STAMP := $(GALAXY_IMPORTER_VENV)/.installed-$(GALAXY_IMPORTER_VERSION)

$(GALAXY_IMPORTER_STAMP): $(GALAXY_IMPORTER_CONSTRAINTS)
	@rm -rf $(GALAXY_IMPORTER_VENV)
	$(PYTHON) -m venv $(GALAXY_IMPORTER_VENV)
	$(GALAXY_IMPORTER_VENV)/bin/python -m pip install --quiet "$$(grep -m1 '^pip==' $(GALAXY_IMPORTER_CONSTRAINTS))"
	$(GALAXY_IMPORTER_VENV)/bin/python -m pip install --quiet galaxy-importer==$(GALAXY_IMPORTER_VERSION) \
	  -c $(GALAXY_IMPORTER_CONSTRAINTS)
	@touch $@

tarball-check: collection ansible-test-offline sanity-ignores $(GALAXY_IMPORTER_STAMP)
	ANSIBLE_TEST_HOME=$(ANSIBLE_TEST_HOME) GALAXY_IMPORTER_PYTHON=$(GALAXY_IMPORTER_VENV)/bin/python \
	  $(PYTEST) -q -s -rs -p no:cacheprovider tests/tarball
