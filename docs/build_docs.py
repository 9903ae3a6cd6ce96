"""make docs: the collection's documentation site, built offline into docs/build/html.

    python docs/build_docs.py [--collections-root DIR] [--no-lint]

1. ``antsibull-docs lint-collection-docs --plugin-docs`` on the installed copy of the collection:
   every module, plugin and role documents itself in a form the docsite can render, and so does
   every guide of docs/docsite (extra-docs.yml, rst/).
2. ``antsibull-docs collection --use-current --squash-hierarchy``: the reStructuredText of the
   site (docs/build/rst), with the links of docs/docsite/links.yml and the guides of
   docs/docsite/extra-docs.yml.
3. The guides' text: each guide in docs/docsite/rst reads on its own (it ships in the tarball) and
   names the file its text lives in; here that text is pulled in (GUIDES below), so each piece of
   prose is written once: README.md's sections, the role's README, docs/awx.md (Markdown, read by
   myst-parser), the AWX surveys' questions and the changelog. Relative links of the Markdown, and
   links to the repository's copies of pulled files, lead to the site's pages, or else to the file
   in the repository. The role's reference page links its guide.
4. ``sphinx-build -W --keep-going``: the HTML (docs/build/html/index.html), any warning an error.

Nothing is downloaded: the Sphinx configuration is written here (docs/build/conf/conf.py) without
intersphinx, whose inventories would come from the network; the few references to Ansible's own
documentation that the generated pages make are resolved to docs.ansible.com by a hook instead.
The theme is sphinx_ansible_theme when installed, else Sphinx's alabaster. The theme's top bar
links this collection's repository, issues and Galaxy page, not Ansible's blog and forum, and shows
no Ansible logo: this is not Ansible's own documentation.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import posixpath
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass

import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
BUILD = os.path.join(HERE, "build")
COLLECTION = "golden_image.linode"
GALAXY_URL = "https://galaxy.ansible.com/ui/repo/published/{namespace}/{name}/"
STEP_TIMEOUT_S = 300
LABEL_PREFIX = "ansible_collections.%s." % COLLECTION


@dataclass(frozen=True)
class Pull:
    """Markdown of the collection that a guide shows: a whole file below its title, or sections of it."""

    source: str
    sections: tuple[str, ...] = ()


# Guide (docs/docsite/rst/<guide>.rst) -> the text it shows on the site. Besides, the changelog
# guide shows the changelog (Site.changelog_text) and the playbooks guide the AWX surveys
# (Site.survey_tables).
GUIDES = {
    "installation": Pull("README.md", ("Requirements", "Installation")),
    "quick_start": Pull("README.md", ("Quick start",)),
    "playbooks": Pull("README.md", ("Playbooks",)),
    "role_guide": Pull("roles/image_capture/README.md"),
    "pipeline": Pull("README.md", ("The golden-image pipeline",)),
    "bake_guide": Pull("roles/image_bake/README.md"),
    "verify_guide": Pull("roles/image_verify/README.md"),
    "awx": Pull("docs/awx.md"),
}
CHANGELOG_GUIDE = "changelog"
SURVEYS_GUIDE = "playbooks"
# Role -> its guide, which its reference page links (link_roles_to_guides).
ROLE_GUIDES = {"image_capture": "role_guide", "image_bake": "bake_guide", "image_verify": "verify_guide"}

ANTSIBULL_CONFIG = """\
breadcrumbs = true
indexes = true
use_html_blobs = false
add_antsibull_docs_version = false
collection_url = {
  * = "%s"
}
collection_install = {
  * = "ansible-galaxy collection install {namespace}.{name}"
}
""" % GALAXY_URL

# The theme's own top bar (its extrabody.html) makes the site look like Ansible's documentation:
# links to Ansible's blog, forum and docs, Ansible's logo, and a title linking "/", which is no page
# of a site opened from files or published under a path. This one takes its place and classes with
# the collection's own links (html_theme_options' topbar_links) and a title linking the site's index.
TOPBAR_TEMPLATE = """\
{#- Written by docs/build_docs.py: the top bar, with the collection's own links. -#}
<div class="DocSite-globalNav ansibleNav">
  <ul>
    {%- for anchor, url in theme_topbar_links.items() %}
    <li><a href="{{ url }}">{{ anchor }}</a></li>
    {%- endfor %}
  </ul>
</div>
<a class="DocSite-nav" href="{{ pathto(root_doc) }}" style="padding-bottom: 30px;">
  <div class="DocSiteNav-title">{{ shorttitle }}</div>
</a>
"""

SPHINX_CONFIG = '''\
"""Sphinx configuration of the golden_image.linode docsite (written by docs/build_docs.py)."""

project = "golden_image.linode"
copyright = "golden_image.linode contributors"  # pylint: disable=redefined-builtin
title = "golden_image.linode"
html_short_title = "golden_image.linode"
# myst_parser reads the Markdown that the guides include (docs/build_docs.py, GUIDES).
extensions = ["sphinx_antsibull_ext", "myst_parser"]
# The guides' pulled text is included into them, not a page of its own.
exclude_patterns = ["_pulled"]
pygments_style = "ansible"
highlight_language = "YAML+Jinja"
html_theme = %(theme)r
html_theme_options = %(theme_options)r
templates_path = %(templates_path)r
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

HEADING = re.compile(r"(#{1,6}) ")
INLINE_LINK = re.compile(r"(\]\()([^)\s]+)(\))")
REFERENCE_LINK = re.compile(r"^(\s*\[[^\]]+\]:\s*)(\S+)")
URL_SCHEME = re.compile(r"[a-zA-Z][a-zA-Z0-9+.-]*:")


class DocsError(Exception):
    """The guides cannot be built as docs/docsite and GUIDES say; the message says what to fix."""


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


def read_text(path: str) -> str:
    with open(path, encoding="utf-8") as stream:
        return stream.read()


def read_yaml(path: str):
    return yaml.safe_load(read_text(path))


def github_anchor(heading: str) -> str:
    """The anchor GitHub gives a Markdown heading, as in README.md#quick-start."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def split_anchor(target: str) -> tuple[str, str]:
    """A link's path and its anchor (after "#"; empty when it has none)."""
    path, anchor = (target.split("#", 1) + [""])[:2]
    return path, anchor


def markdown_lines(text: str):
    """(line with its end, whether it is code) for each line of a Markdown text; fences count as code."""
    in_code = False
    for line in text.splitlines(keepends=True):
        fence = line.lstrip().startswith(("```", "~~~"))
        if fence:
            in_code = not in_code
        yield line, in_code or fence


class Site:
    """The collection as its site shows it: which file, or section of README.md, is on which page."""

    def __init__(self, collection_dir: str):
        self.collection_dir = collection_dir
        self.galaxy = read_yaml(os.path.join(collection_dir, "galaxy.yml"))
        self.repository = self.galaxy["repository"].rstrip("/")
        self.branch = read_yaml(os.path.join(collection_dir, "docs", "docsite", "links.yml"))["edit_on_github"]["branch"]
        # A path in the collection, with "#<anchor>" for a section of a file -> the label of its page.
        self.pages = {}
        for guide, pull in GUIDES.items():
            label = LABEL_PREFIX + "docsite." + guide
            if pull.sections:
                self.pages.update({"%s#%s" % (pull.source, github_anchor(title)): label for title in pull.sections})
            else:
                self.pages[pull.source] = label
        for kind, suffix in (("modules", "module"), ("inventory", "inventory")):
            folder = os.path.join(collection_dir, "plugins", kind)
            for name in os.listdir(folder):
                if name.endswith(".py") and name != "__init__.py":
                    self.pages["plugins/%s/%s" % (kind, name)] = "%s%s_%s" % (LABEL_PREFIX, name[:-3], suffix)
        for role in os.listdir(os.path.join(collection_dir, "roles")):
            self.pages["roles/%s/meta/argument_specs.yml" % role] = "%s%s_role" % (LABEL_PREFIX, role)

    def repository_url(self, path: str, anchor: str = "") -> str:
        kind = "tree" if os.path.isdir(os.path.join(self.collection_dir, path)) else "blob"
        return "%s/%s/%s/%s%s" % (self.repository, kind, self.branch, path.rstrip("/"), "#" + anchor if anchor else "")

    def link(self, target: str, source: str) -> str:
        """Where a link of the Markdown file `source` leads on the site: the page of its target, else the repository."""
        if target.startswith("#"):
            path, anchor = source, target[1:]
        elif URL_SCHEME.match(target):
            for kind in ("blob", "tree"):
                prefix = "%s/%s/%s/" % (self.repository, kind, self.branch)
                if target.startswith(prefix):
                    path, anchor = split_anchor(target[len(prefix):])
                    break
            else:
                return target
        else:
            relative, anchor = split_anchor(target)
            path = posixpath.normpath(posixpath.join(posixpath.dirname(source), relative))
            if path.startswith("../") or not os.path.exists(os.path.join(self.collection_dir, path)):
                raise DocsError("%s links %s, which is no file of the collection" % (source, target))
        label = self.pages.get("%s#%s" % (path, anchor)) or self.pages.get(path)
        if label:
            return "project:#" + label
        return self.repository_url(path, anchor)

    def pulled_markdown(self, pull: Pull) -> str:
        """The Markdown a guide shows: its links made to work on the site, its headings from level 1 on."""
        text = read_text(os.path.join(self.collection_dir, pull.source))
        if not pull.sections:
            # The guide has a title of its own: the file's, a level 1 heading on its first line, goes.
            title, text = (text.split("\n", 1) + [""])[:2]
            if not title.startswith("# "):
                raise DocsError("%s does not start with its title ('# ...')" % pull.source)
            return self.rewrite(text, pull.source)
        sections = {}
        current = None
        for line, code in markdown_lines(text):
            heading = None if code else HEADING.match(line)
            if heading and len(heading.group(1)) <= 2:
                current = line[3:].strip() if len(heading.group(1)) == 2 else None
                if current is not None:
                    sections[current] = [line]
            elif current is not None:
                sections[current].append(line)
        missing = [title for title in pull.sections if title not in sections]
        if missing:
            raise DocsError("%s has no section %s (its sections: %s); docs/build_docs.py's GUIDES name them"
                            % (pull.source, ", ".join("'## %s'" % title for title in missing), ", ".join(sections)))
        if len(pull.sections) == 1:
            # One section: the guide's title says what its heading said.
            return self.rewrite("".join(sections[pull.sections[0]][1:]), pull.source)
        return self.rewrite("\n".join("".join(sections[title]) for title in pull.sections), pull.source)

    def rewrite(self, text: str, source: str) -> str:
        lines = list(markdown_lines(text))
        levels = [len(HEADING.match(line).group(1)) for line, code in lines if not code and HEADING.match(line)]
        # Included into its guide, the Markdown is parsed as a document of its own whose sections nest
        # under the guide's title; MyST wants such a document's headings to start at level 1.
        shift = min(levels) - 1 if levels else 0
        out = []
        for line, code in lines:
            if not code:
                if HEADING.match(line):
                    line = line[shift:]
                line = INLINE_LINK.sub(lambda match: match.group(1) + self.link(match.group(2), source) + match.group(3), line)
                line = REFERENCE_LINK.sub(lambda match: match.group(1) + self.link(match.group(2), source), line)
            out.append(line)
        return "".join(out)

    def survey_tables(self) -> str:
        """The questions of the AWX surveys (extensions/awx/survey_*.json), as reStructuredText."""
        specs = read_yaml(os.path.join(self.collection_dir, "roles", "image_capture", "meta", "argument_specs.yml"))
        role_options = specs["argument_specs"]["main"]["options"]
        awx = os.path.join(self.collection_dir, "extensions", "awx")
        out = ["", "", "AWX surveys", "-----------", "",
               "What the surveys of the job templates ask; each answer becomes the extra variable of its row,",
               "which applies to every host of the job. The role's variables link their description.", ""]
        for name in sorted(os.listdir(awx)):
            if not (name.startswith("survey_") and name.endswith(".json")):
                continue
            survey = json.loads(read_text(os.path.join(awx, name)))
            out += [".. list-table:: ``extensions/awx/%s``: %s" % (name, survey["name"]),
                    "   :header-rows: 1", "   :widths: auto", "",
                    "   * - Question", "     - Variable", "     - Answer", "     - Default"]
            for question in survey["spec"]:
                variable = question["variable"]
                if variable in role_options:
                    variable_cell = ":ansopt:`golden_image.linode.image_capture#role:main:%s`" % variable
                else:
                    variable_cell = "``%s``" % variable
                answer = question["type"]
                if question.get("choices"):
                    answer += ": " + ", ".join("``%s``" % choice for choice in str(question["choices"]).splitlines())
                if question.get("required"):
                    answer += ", required"
                default = question.get("default")
                out += ["   * - %s" % question["question_name"], "     - " + variable_cell, "     - " + answer,
                        "     - " + ("``%s``" % default if default not in (None, "") else "")]
            out.append("")
        return "\n".join(out)

    def changelog_text(self, pulled_dir: str, env: dict) -> str:
        """The changelog's releases as reStructuredText, or the words that there is none yet."""
        changelogs = os.path.join(self.collection_dir, "changelogs")
        if not (read_yaml(os.path.join(changelogs, "changelog.yaml")) or {}).get("releases"):
            return ("\nThere is no release yet: %s will be the first. The changes it will bring are the "
                    "`changelog fragments <%s>`__ in ``changelogs/fragments``.\n"
                    % (self.galaxy["version"], self.repository_url("changelogs/fragments")))
        # antsibull-changelog leaves a cache next to the changelog: it works on a copy.
        with tempfile.TemporaryDirectory() as work:
            shutil.copy(os.path.join(self.collection_dir, "galaxy.yml"), work)
            shutil.copytree(changelogs, os.path.join(work, "changelogs"))
            run([os.path.join(os.path.dirname(sys.executable), "antsibull-changelog"), "generate",
                 "--output", os.path.join(pulled_dir, "changelog.rst")], env, cwd=work)
        # The guide's title stands for the changelog's and its table of contents; each release is a
        # section of the guide.
        return "\n.. include:: ../_pulled/changelog.rst\n   :parser: rst\n   :start-after: .. contents:: Topics\n"


def append_to_guide(rst: str, guide: str, text: str) -> None:
    path = os.path.join(rst, "docsite", guide + ".rst")
    if not os.path.isfile(path):
        raise DocsError("antsibull-docs wrote no %s: are docs/docsite/rst/%s.rst and its entry in extra-docs.yml there?"
                        % (path, guide))
    with open(path, "a", encoding="utf-8") as stream:
        stream.write(text)


def add_guides_text(site: Site, rst: str, env: dict) -> None:
    """Each guide that antsibull-docs copied (rst/docsite/<guide>.rst), followed by the text it names."""
    pulled_dir = os.path.join(rst, "_pulled")
    os.makedirs(pulled_dir)
    for guide, pull in GUIDES.items():
        with open(os.path.join(pulled_dir, guide + ".md"), "w", encoding="utf-8") as stream:
            stream.write(site.pulled_markdown(pull))
        append_to_guide(rst, guide, "\n.. include:: ../_pulled/%s.md\n   :parser: myst_parser.sphinx_\n" % guide)
    append_to_guide(rst, SURVEYS_GUIDE, site.survey_tables())
    append_to_guide(rst, CHANGELOG_GUIDE, site.changelog_text(pulled_dir, env))


def link_roles_to_guides(rst: str) -> None:
    """A "See also" on top of each role's reference page that leads to the role's guide.

    A page that links its guide already (antsibull-docs renders a ``seealso`` of the role's
    argument specs) stays as it is.
    """
    for role, guide in ROLE_GUIDES.items():
        path = os.path.join(rst, "%s_role.rst" % role)
        page = read_text(path)
        label = LABEL_PREFIX + "docsite." + guide
        if label in page:
            continue
        marker = "\n.. contents::"
        if marker not in page:
            raise DocsError("%s has no '%s' to put the link to its guide before" % (path, marker.strip()))
        see_also = ("\n.. seealso::\n\n   :ref:`The role's guide <%s>`: what it does step by step, its safety rules, "
                    "the size limit, fleets and an example.\n" % label)
        with open(path, "w", encoding="utf-8") as stream:
            stream.write(page.replace(marker, see_also + marker, 1))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--collections-root",
                        help="where ansible_collections/golden_image/linode is (default: ANSIBLE_COLLECTIONS_PATH, else .cache/collections)")
    parser.add_argument("--no-lint", action="store_true", help="skip antsibull-docs lint-collection-docs")
    args = parser.parse_args()

    root = collections_root(args.collections_root)
    collection_dir = os.path.join(root, "ansible_collections", "golden_image", "linode")
    bin_dir = os.path.dirname(sys.executable)
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=root, PATH=os.pathsep.join([bin_dir, os.environ.get("PATH", os.defpath)]))
    env.setdefault("ANSIBLE_HOME", os.path.join(REPO, ".cache", "ansible-home"))
    antsibull_docs = os.path.join(bin_dir, "antsibull-docs")

    if not args.no_lint:
        run([antsibull_docs, "lint-collection-docs", "--plugin-docs", "."], env, cwd=collection_dir)

    os.makedirs(BUILD, exist_ok=True)
    rst = fresh_dir(os.path.join(BUILD, "rst"))
    conf = fresh_dir(os.path.join(BUILD, "conf"))
    site = Site(collection_dir)
    theme = "sphinx_ansible_theme" if importlib.util.find_spec("sphinx_ansible_theme") else "alabaster"
    theme_options, templates_path = {}, []
    if theme == "alabaster":
        print("sphinx_ansible_theme is not installed: using Sphinx's alabaster theme", flush=True)
    else:
        theme_options["topbar_links"] = {"Repository": site.repository, "Issues": site.galaxy["issues"], "Galaxy": GALAXY_URL.format(**site.galaxy)}
        templates_path.append(fresh_dir(os.path.join(conf, "_templates")))
        with open(os.path.join(templates_path[0], "extrabody.html"), "w", encoding="utf-8") as template:
            template.write(TOPBAR_TEMPLATE)
    with open(os.path.join(conf, "antsibull-docs.cfg"), "w", encoding="utf-8") as config:
        config.write(ANTSIBULL_CONFIG)
    with open(os.path.join(conf, "conf.py"), "w", encoding="utf-8") as config:
        config.write(SPHINX_CONFIG % {"theme": theme, "theme_options": theme_options, "templates_path": templates_path})

    run([antsibull_docs, "--config-file", os.path.join(conf, "antsibull-docs.cfg"), "collection", "--use-current",
         "--squash-hierarchy", "--fail-on-error", "--dest-dir", rst, COLLECTION], env)
    try:
        add_guides_text(site, rst, env)
        link_roles_to_guides(rst)
    except DocsError as error:
        print("docs: %s" % error, file=sys.stderr)
        return 1
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
