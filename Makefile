# Two commands a user needs: `make demo` and `make test`. Everything else is set up on the way.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := $(CURDIR)/.venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

# Everything Ansible writes stays inside the project, never in the user's home.
export ANSIBLE_HOME := $(CURDIR)/.ansible
COLLECTIONS_ROOT := $(CURDIR)/.cache/collections
COLLECTION_DIR := $(COLLECTIONS_ROOT)/ansible_collections/golden_image/linode
export ANSIBLE_COLLECTIONS_PATH := $(COLLECTIONS_ROOT)
export ANSIBLE_REMOTE_TMP := $(CURDIR)/.ansible/tmp
# ansible-test keeps its virtualenvs, its pip bootstrap and its SSH key under ~/.ansible/test: give it a home here.
ANSIBLE_TEST_HOME := $(CURDIR)/.cache/ansible-test-home
ANSIBLE_TEST_SSH_KEY := $(ANSIBLE_TEST_HOME)/.ansible/test/id_rsa
PYTEST := $(BIN)/python -m pytest

.PHONY: help venv lock lock-check collection demo bench bench-smoke ansible-test-offline sanity-ignores sanity lint units emulator-tests integration integration-groups system-deps e2e awx-tests docs changelog-lint test clean

help:
	@echo "make demo   capture images of an emulated fleet, offline, in under a minute"
	@echo "make test   run every test (sanity, lint, unit, emulator, integration)"
	@echo "make bench  fleet benchmark against linode.cloud (tests/perf/README.md; make bench-smoke: two minutes)"
	@echo "make clean  remove the virtualenv, caches and test output"

$(STAMP): requirements-dev.txt requirements.txt emulator/pyproject.toml $(shell find emulator/src -name '*.py' 2>/dev/null)
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet "$$(grep -m1 '^pip==' requirements-dev.txt)"
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	$(BIN)/python -m pip install --quiet --force-reinstall --no-deps ./emulator
	@touch $@

venv: $(STAMP)

# requirements-dev.txt pins every package, the tools' own dependencies and pip included, so that no
# release made after a commit changes its verdict. make lock resolves them anew (tests/utils/lock.py):
# a deliberate update, committed once make test passes with it.
lock:
	$(PYTHON) tests/utils/lock.py

lock-check:
	$(PYTHON) tests/utils/lock.py --check

# ansible-test and ansible-playbook want the collection at ansible_collections/<namespace>/<name>.
# A copy of the files git knows (tracked, or new and not ignored) keeps it exact; the emulator is
# its own package and not part of the collection (galaxy.yml leaves it out of the tarball too).
# PREPARED=1 (make test passes it to the suites it runs side by side, once it has made the copy and installed
# the system packages): the copy is not made again, so that no suite deletes it under another one that uses it.
collection: $(STAMP)
ifndef PREPARED
	@rm -rf $(COLLECTION_DIR) && mkdir -p $(COLLECTION_DIR)
	@git ls-files -z --cached --others --exclude-standard --deduplicate -- . ':!:emulator' \
	  | tar --null --ignore-failed-read -T - -cf - 2>/dev/null | tar -xf - -C $(COLLECTION_DIR)
	@# ansible-test lists content with git; without a repository of its own it would find ours,
	@# where .cache is ignored, and see no files at all.
	@git -C $(COLLECTION_DIR) init --quiet
endif

# The demo: the emulator serves demo/fleet.yml over HTTPS; the golden_image and capture playbooks run against it.
demo: collection
	$(BIN)/python demo/run_demo.py

# The fleet benchmark (issue 6): this collection's capture playbook against linode.cloud on the emulator.
# linode.cloud comes from LINODE_CLOUD_COLLECTIONS and LINODE_CLOUD_VENV (tests/perf/README.md); options in BENCH_ARGS.
bench: $(STAMP)
	$(BIN)/python tests/perf/bench.py $(BENCH_ARGS)

bench-smoke: $(STAMP)
	$(BIN)/python tests/perf/bench.py --smoke $(BENCH_ARGS)

# ansible-test would download get-pip.py from an Ansible CI host; seed its cache with an
# ensurepip-based bootstrap so sanity runs offline.
ansible-test-offline: $(STAMP)
	@pip_version=$$($(BIN)/python -c 'from types import SimpleNamespace as N; from ansible_test._internal.python_requirements import get_venv_packages as g; print(g(N(version="3.11"))["pip"])'); \
	  mkdir -p $(ANSIBLE_TEST_HOME)/.ansible/test/cache; \
	  cp tests/utils/pip_bootstrap_offline.py $(ANSIBLE_TEST_HOME)/.ansible/test/cache/get_pip_$${pip_version//./_}.py

# ansible-test's own key for the hosts of its integration runs, as its core_ci.SshKey makes it (PEM, with the
# RSA header paramiko reads).
$(ANSIBLE_TEST_SSH_KEY):
	@mkdir -p $(@D)
	ssh-keygen -m PEM -q -t rsa -N '' -f $@
	@sed -i -E 's/(BEGIN|END) PRIVATE KEY/\1 RSA PRIVATE KEY/' $@

sanity-ignores:
	@if compgen -G "tests/sanity/ignore-*.txt" >/dev/null && grep -qv '^\s*\(#\|$$\)' tests/sanity/ignore-*.txt; then \
	  echo "tests/sanity/ignore-*.txt must stay empty"; exit 1; fi

# make test runs ansible-test sanity once, in tarball-check (mk/tarball.mk): on the unpacked tarball with the
# repository's tests beside it. This target runs it on the collection copy, for a quick look while developing.
sanity: collection ansible-test-offline sanity-ignores
	cd $(COLLECTION_DIR) && HOME=$(ANSIBLE_TEST_HOME) $(BIN)/ansible-test sanity --venv --python 3.11 --color no

lint: $(STAMP)
	$(BIN)/ansible-lint --profile production

units: collection
	cd $(COLLECTION_DIR) && $(PYTEST) -q -p no:cacheprovider tests/unit

emulator-tests: $(STAMP)
	$(PYTEST) -q -rs -p no:cacheprovider -n 2 tests/emulator

# The integration targets run against a real emulator over HTTPS; its start line becomes
# ansible-test's integration_config.yml (emulator_url, emulator_api_url, emulator_ca_file, emulator_token).
# ansible-test runs them with $(ANSIBLE_TEST_HOME) as HOME, but ansible-core finds the remote "~" from the
# passwd entry (/root) and the async wrapper from $HOME: both directories are given as absolute paths.
INTEGRATION_FLEET := tests/integration/targets/setup_emulator/files/fleet.yml
INTEGRATION_CONFIG := --config tests/integration/integration_config.yml \
  --config-var ansible_remote_tmp=$(ANSIBLE_TEST_HOME)/.ansible/tmp --config-var ansible_async_dir=$(ANSIBLE_TEST_HOME)/.ansible_async
integration: collection $(ANSIBLE_TEST_SSH_KEY)
	cd $(COLLECTION_DIR) && HOME=$(ANSIBLE_TEST_HOME) $(BIN)/python tests/utils/with_emulator.py --fleet $(INTEGRATION_FLEET) --speed 300 \
	  $(INTEGRATION_CONFIG) -- \
	  $(BIN)/ansible-test integration --local --color no $(INTEGRATION_ARGS)

# make test runs the targets in five groups side by side, as they mostly wait on emulated jobs: the
# playbook runs, the playbooks' failure paths, the inventory with the image listing and retention, the
# golden-image pipeline with its temporary instances, and the capture and power modules. Each group has
# its own copy of the collection (ansible-test writes its config and its output inside it) and its own
# emulator. ansible-test makes its SSH key on first use, so groups started together raced to create it
# ("id_rsa already exists"): the key is made once, before they start, in the home they share.
# A new target joins "modules".
INTEGRATION_GROUPS := playbooks failures inventory pipeline modules
INTEGRATION_TARGETS := $(filter-out setup_emulator,$(notdir $(wildcard tests/integration/targets/*)))
INTEGRATION_TARGETS_playbooks := image_capture_role
INTEGRATION_TARGETS_failures := image_capture_failures
INTEGRATION_TARGETS_inventory := inventory_instances linode_image_info linode_image_prune
INTEGRATION_TARGETS_pipeline := golden_image_pipeline linode_instance_temporary
INTEGRATION_TARGETS_modules := $(filter-out $(foreach group,playbooks failures inventory pipeline,$(INTEGRATION_TARGETS_$(group))),$(INTEGRATION_TARGETS))
integration-groups: collection $(ANSIBLE_TEST_SSH_KEY)
	$(MAKE) --no-print-directory -j5 --output-sync=target $(addprefix integration-group-,$(INTEGRATION_GROUPS))

integration-group-%:
	@rm -rf $(CURDIR)/.cache/integration/$* && mkdir -p $(CURDIR)/.cache/integration/$*/ansible_collections/golden_image
	@cp -a $(COLLECTION_DIR) $(CURDIR)/.cache/integration/$*/ansible_collections/golden_image/linode
	@test -f $(ANSIBLE_TEST_SSH_KEY) || { echo "$(ANSIBLE_TEST_SSH_KEY) is missing: run make integration-groups"; exit 1; }
	cd $(CURDIR)/.cache/integration/$*/ansible_collections/golden_image/linode \
	  && HOME=$(ANSIBLE_TEST_HOME) ANSIBLE_COLLECTIONS_PATH=$(CURDIR)/.cache/integration/$* $(BIN)/python tests/utils/with_emulator.py \
	  --fleet $(INTEGRATION_FLEET) --speed 300 $(INTEGRATION_CONFIG) -- \
	  $(BIN)/ansible-test integration --local --color no $(INTEGRATION_TARGETS_$*)

# AWX: playbooks through ansible-runner as AWX runs them (credential injection, set_stats, job slicing),
# the credential type, surveys, execution environment.
awx-tests: collection
	$(PYTEST) -q -rs -p no:cacheprovider --durations=8 tests/awx

# The docsite, offline: antsibull-docs lint-collection-docs, antsibull-docs + Sphinx into docs/build/html.
docs: collection
	$(BIN)/python docs/build_docs.py

changelog-lint: $(STAMP)
	$(BIN)/antsibull-changelog lint

# The end-to-end test's hosts are real sshd processes on loopback with loop-mounted disks: as root,
# install what they need when it is missing (a fresh Debian/Ubuntu machine has none of it).
# (The pipeline test's hosts also need chroot and /usr/bin/python3.)
E2E_DEBIAN_PACKAGES := openssh-server openssh-client e2fsprogs mount util-linux coreutils python3-minimal
system-deps:
ifndef PREPARED
	@if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  for tool in /usr/sbin/sshd ssh-keygen mkfs.ext4 losetup findmnt chroot /usr/bin/python3; do \
	    command -v $$tool >/dev/null || missing=1; done; \
	  if [ -n "$${missing:-}" ]; then \
	    echo "Installing $(E2E_DEBIAN_PACKAGES)"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(E2E_DEBIAN_PACKAGES) >/dev/null; fi; \
	else echo "Not root or no apt-get: the end-to-end test needs $(E2E_DEBIAN_PACKAGES) and root (it skips, or fails with CI=true)"; fi
endif

e2e: collection system-deps
	$(PYTEST) -q -rs -p no:cacheprovider --durations=8 tests/e2e

# The suites that drive playbooks (the five integration groups, e2e, AWX, bench-smoke, the README's quick
# start, the ansible-core versions) spend much of their time waiting on emulated jobs, so they run side by
# side (tests/utils/run_suites.py prints each one's output whole when it ends, then a summary of all of them and
# the tail of each failed one, so the end of a CI log says what failed); the rest runs first, one after the other. ansible-test sanity runs
# once, in tarball-check (mk/tarball.mk): on the unpacked tarball with the repository's tests beside it.
# bench-smoke: the fleet benchmark at N = 1 and 10 (ours only, unless linode.cloud is set up); it fails
# when a host fails, an image is duplicated or an instance is not back in its power state.
test: lock-check tarball-check lint changelog-lint units emulator-tests docs-test system-deps
	$(BIN)/python tests/utils/run_suites.py --make "$(MAKE) PREPARED=1" integration-groups e2e awx-tests bench-smoke quickstart-test versions

# Targets of their own (one file each under mk/).
-include mk/*.mk

clean:
	rm -rf $(VENV) .cache .ansible tests/output docs/build
