# Issue 13: every ansible-core that meta/runtime.yml's requires_ansible admits and that installs on the
# machine's Python runs the smoke of tests/versions/smoke.py (a module, the inventory plugin, the capture
# playbook with --check and for real, the golden_image playbook), the newest patch of each minor in a
# virtualenv of its own under .cache/versions/<version> (kept and reused), against an emulator of its own.
# VERSIONS_PYTHONS: the interpreters, first one first; a newer one adds the minors only it installs
#   (make versions VERSIONS_PYTHONS="python3 python3.12" also runs ansible-core 2.20 and 2.21).
# VERSIONS_ARGS: --jobs N (versions at a time, default 2), --only 2.16,2.19.
VERSIONS_PYTHONS ?= $(PYTHON)

.PHONY: versions
versions: collection
	$(PYTEST) -q -p no:cacheprovider tests/versions
	$(BIN)/python tests/versions/smoke.py $(addprefix --python ,$(VERSIONS_PYTHONS)) $(VERSIONS_ARGS)
