# The README's quick start, run verbatim from the collection's tarball (tests/quickstart): a fresh
# virtualenv from the package index, the emulator and two real SSH hosts of tests/e2e's harness (root).
.PHONY: quickstart-test
quickstart-test: collection system-deps
	$(PYTEST) -q -rs -p no:cacheprovider tests/quickstart
