"""make docs: the collection's documentation site, built offline into docs/build/html.

    python docs/build_docs.py [--collections-root DIR] [--no-lint]

1. ``antsibull-docs lint-collection-docs --plugin-docs`` on the installed copy of the collection:
   every module, plugin and role documents itself in a form the docsite can render.
2. ``antsibull-docs collection --use-current --squash-hierarchy``: the reStructuredText of the
   site (docs/build/rst), with the links of docs/docsite/links.yml.
3. ``sphinx-build -W --keep-going``: the HTML (docs/build/html/index.html), any warning an error.

Nothing is downloaded: the Sphinx configuration is written here (docs/build/conf/conf.py) without
intersphinx, whose inventories would come from the network; the few references to Ansible's own
documentation that the generated pages make are resolved to docs.ansible.com by a hook instead.
The theme is sphinx_ansible_theme when installed, else Sphinx's alabaster.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
BUILD = os.path.join(HERE, "build")
COLLECTION = "golden_image.linode"
STEP_TIMEOUT_S = 300

ANTSIBULL_CONFIG = """\
breadcrumbs = true
indexes = true
use_html_blobs = false
add_antsibull_docs_version = false
collection_url = {
  * = "https://galaxy.ansible.com/ui/repo/published/{namespace}/{name}/"
}
collection_install = {
  * = "ansible-galaxy collection install {namespace}.{name}"
}
"""

SPHINX_CONFIG = '''\
"""Sphinx configuration of the golden_image.linode docsite (written by docs/build_docs.py)."""

project = "golden_image.linode"
copyright = "golden_image.linode contributors"  # pylint: disable=redefined-builtin
title = "golden_image.linode"
html_short_title = "golden_image.linode"
extensions = ["sphinx_antsibull_ext"]
pygments_style = "ansible"
highlight_language = "YAML+Jinja"
html_theme = %(theme)r
html_show_sphinx = False
html_copy_source = False
html_use_index = False
default_role = "any"
nitpicky = True

# Labels and environment variables of Ansible's own documentation that the generated pages refer to.
ANSIBLE_DOCS = "https://docs.ansible.com/projects/ansible/devel/"
ANSIBLE_LABELS = {
    "common_return_values": "reference_appendices/common_return_values.html",
    "ansible_configuration_settings": "reference_appendices/config.html",
    # "This module has a corresponding action plugin" (linode_image_wait).
    "action_plugins": "plugins/action.html",
}


def resolve_ansible_reference(app, env, node, contnode):  # pylint: disable=unused-argument
    """Link references to Ansible's documentation there, as intersphinx would, without its download."""
    from docutils import nodes  # pylint: disable=import-outside-toplevel

    target = node.get("reftarget", "")
    if node.get("reftype") == "ref" and target in ANSIBLE_LABELS:
        uri = ANSIBLE_DOCS + ANSIBLE_LABELS[target]
    elif node.get("reftype") == "envvar" and target.startswith("ANSIBLE_"):
        uri = ANSIBLE_DOCS + "reference_appendices/config.html#envvar-" + target
    else:
        return None
    reference = nodes.reference("", "", internal=False, refuri=uri)
    reference.append(contnode)
    return reference


def setup(app):
    app.connect("missing-reference", resolve_ansible_reference)
'''


def collections_root(given: str | None) -> str:
    candidates = [given] if given else [entry for entry in os.environ.get("ANSIBLE_COLLECTIONS_PATH", "").split(os.pathsep) if entry]
    candidates.append(os.path.join(REPO, ".cache", "collections"))
    for root in candidates:
        if os.path.isfile(os.path.join(root, "ansible_collections", "golden_image", "linode", "galaxy.yml")):
            return os.path.abspath(root)
    raise SystemExit("no copy of %s under %s: make one with `make collection`" % (COLLECTION, ", ".join(candidates)))


def run(command: list, env: dict, cwd: str | None = None) -> None:
    print("$ %s" % " ".join([os.path.basename(command[0])] + command[1:]), flush=True)
    subprocess.run(command, env=env, cwd=cwd, check=True, timeout=STEP_TIMEOUT_S)


def fresh_dir(path: str) -> str:
    """An empty directory that only its owner may write to (antsibull-docs insists)."""
    shutil.rmtree(path, ignore_errors=True)
    os.makedirs(path, mode=0o700)
    os.chmod(path, 0o700)
    return path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--collections-root",
                        help="where ansible_collections/golden_image/linode is (default: ANSIBLE_COLLECTIONS_PATH, else .cache/collections)")
    parser.add_argument("--no-lint", action="store_true", help="skip antsibull-docs lint-collection-docs")
    args = parser.parse_args()

    root = collections_root(args.collections_root)
    bin_dir = os.path.dirname(sys.executable)
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=root, PATH=os.pathsep.join([bin_dir, os.environ.get("PATH", os.defpath)]))
    env.setdefault("ANSIBLE_HOME", os.path.join(REPO, ".cache", "ansible-home"))
    antsibull_docs = os.path.join(bin_dir, "antsibull-docs")

    if not args.no_lint:
        run([antsibull_docs, "lint-collection-docs", "--plugin-docs", "."], env,
            cwd=os.path.join(root, "ansible_collections", "golden_image", "linode"))

    os.makedirs(BUILD, exist_ok=True)
    rst = fresh_dir(os.path.join(BUILD, "rst"))
    conf = fresh_dir(os.path.join(BUILD, "conf"))
    theme = "sphinx_ansible_theme" if importlib.util.find_spec("sphinx_ansible_theme") else "alabaster"
    if theme == "alabaster":
        print("sphinx_ansible_theme is not installed: using Sphinx's alabaster theme", flush=True)
    with open(os.path.join(conf, "antsibull-docs.cfg"), "w", encoding="utf-8") as config:
        config.write(ANTSIBULL_CONFIG)
    with open(os.path.join(conf, "conf.py"), "w", encoding="utf-8") as config:
        config.write(SPHINX_CONFIG % {"theme": theme})

    run([antsibull_docs, "--config-file", os.path.join(conf, "antsibull-docs.cfg"), "collection", "--use-current",
         "--squash-hierarchy", "--fail-on-error", "--dest-dir", rst, COLLECTION], env)
    shutil.rmtree(os.path.join(BUILD, "html"), ignore_errors=True)
    run([os.path.join(bin_dir, "sphinx-build"), "-M", "html", rst, BUILD, "-c", conf, "-W", "--keep-going", "-q"], env)
    index = os.path.join(BUILD, "html", "index.html")
    if not os.path.isfile(index):
        print("sphinx-build wrote no %s" % index, file=sys.stderr)
        return 1
    print("docs: %s" % os.path.relpath(index, REPO))
    return 0


if __name__ == "__main__":
    sys.exit(main())
