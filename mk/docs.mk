# The docs site in a browser (issue 13): headless Chromium opens the built site (`make docs`) and the
# tests assert what its pages show and that its links hold; the screenshots stay in
# tests/output/docs-screenshots/.
.PHONY: browser-deps docs-test

# As root, Debian's chromium when it is missing (a fresh Debian 12 machine, CI, has none); no browser
# is downloaded from anywhere else.
browser-deps:
	@if command -v chromium >/dev/null; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  echo "Installing chromium"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	else echo "Not root or no apt-get: the docs site's browser test needs Debian's chromium (it skips, or fails with CI=true)"; fi

docs-test: docs browser-deps
	$(PYTEST) -q -rs -p no:cacheprovider tests/docs
