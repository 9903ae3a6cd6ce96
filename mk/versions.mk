# Issue 13: every ansible-core minor that meta/runtime.yml's requires_ansible admits runs the smoke of
# tests/versions/smoke.py (a module, the inventory plugin, the capture playbook with --check and for real,
# the golden_image playbook) in a virtualenv of its own against an emulator of its own.
# make versions (in make test): the patches and packages pinned in tests/versions/constraints.txt, under
#   .cache/versions/<version> (kept and reused). The gate's verdict moves only with a commit.
# make versions-latest (a look ahead, never in make test): the newest patch of each minor and the newest
#   packages, made anew under .cache/versions-latest; it names every warning with the ansible-core line that
#   emits it, and the releases not pinned yet. Run it before a release and when a new ansible-core is out.
# make versions-pin: versions-latest, then writes what passed into constraints.txt (commit it after make versions).
# VERSIONS_PYTHONS: the interpreters, first one first; a newer one adds the minors only it installs
#   (make versions-latest VERSIONS_PYTHONS="python3 python3.12" also runs ansible-core 2.20 and 2.21).
# VERSIONS_ARGS: --jobs N (versions at a time, default 2), --only 2.16,2.19, --steps check,capture.
VERSIONS_PYTHONS ?= $(PYTHON)

.PHONY: versions versions-latest versions-pin
versions: collection
	$(PYTEST) -q -p no:cacheprovider tests/versions
	$(BIN)/python tests/versions/smoke.py $(addprefix --python ,$(VERSIONS_PYTHONS)) $(VERSIONS_ARGS)

versions-latest: collection
	$(BIN)/python tests/versions/smoke.py --latest $(addprefix --python ,$(VERSIONS_PYTHONS)) $(VERSIONS_ARGS)

versions-pin: collection
	$(BIN)/python tests/versions/smoke.py --latest --write-pins $(addprefix --python ,$(VERSIONS_PYTHONS)) $(VERSIONS_ARGS)
