"""The docs site renders the collection's content, in Chromium, and its links hold.

What the pages must show comes from the collection's own files (the modules' DOCUMENTATION, the
role's argument specs and README, the playbooks, the surveys, docs/docsite), so a page that
renders without it fails, and so does a page that drops what a file adds.
"""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path
from urllib.parse import urlsplit

import yaml
from site_pages import SITE, Page

# The theme's defaults: Ansible's blog and forum, as if this were Ansible's own documentation.
ANSIBLE_SITES = ("forum.ansible.com", "ansible.com/blog")


def guides(collection: Path) -> dict[str, str]:
    """docs/docsite/extra-docs.yml's guides -> their titles, as the rst pages give them."""
    index = yaml.safe_load((collection / "docs" / "docsite" / "extra-docs.yml").read_text(encoding="utf-8"))
    titles = {}
    for section in index["sections"]:
        for name in section["toctree"]:
            lines = (collection / "docs" / "docsite" / "rst" / (name + ".rst")).read_text(encoding="utf-8").splitlines()
            titles[name] = next(lines[row - 1] for row in range(1, len(lines)) if re.fullmatch(r"=+", lines[row]))
    return titles


def strings_of(path: Path) -> dict[str, str]:
    """A module's DOCUMENTATION, EXAMPLES and RETURN (its constant strings), as ansible-doc reads them."""
    return {node.targets[0].id: node.value.value for node in ast.parse(path.read_text(encoding="utf-8")).body
            if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name) and isinstance(node.value, ast.Constant)}


def markdown_section(text: str, title: str) -> str:
    match = re.search(r"^## %s\n(.*?)(?=^## |\Z)" % re.escape(title), text, re.M | re.S)
    assert match, "no section '## %s'" % title
    return match.group(1)


def plain(markdown: str) -> str:
    """Markdown's text as a page shows it: no emphasis or code marks, one space between words."""
    return " ".join(re.sub(r"\*\*|`", "", markdown).split())


def test_index_lists_every_plugin_role_and_guide(rendered, collection):
    index = rendered["index"]
    expected = {"%s_module.html" % path.stem for path in (collection / "plugins" / "modules").glob("*.py")}
    expected |= {"%s_inventory.html" % path.stem for path in (collection / "plugins" / "inventory").glob("*.py")}
    expected |= {"%s_filter.html" % path.stem for path in (collection / "plugins" / "filter").glob("*.yml")}
    expected |= {"%s_role.html" % path.name for path in (collection / "roles").iterdir()}
    assert len(expected) >= 13
    assert not expected - index.hrefs(), "the index does not link these pages"
    for name, title in guides(collection).items():
        assert ("docsite/%s.html" % name, title) in index.links, "the index does not list the guide %r" % title


def test_top_bar_links_the_collections_own_sites(rendered, collection):
    galaxy = yaml.safe_load((collection / "galaxy.yml").read_text(encoding="utf-8"))
    index = rendered["index"]
    for text, url in (("Repository", galaxy["repository"]), ("Issues", galaxy["issues"]),
                      ("Galaxy", "https://galaxy.ansible.com/ui/repo/published/golden_image/linode/")):
        assert (url, text) in index.links
    assert not [image for image in index.images if "Ansible-Mark" in image], "Ansible's logo on the page"


def test_module_page_shows_every_option_and_return_value(rendered, collection):
    page = rendered["module-linode_image_capture"]
    strings = strings_of(collection / "plugins" / "modules" / "linode_image_capture.py")
    documentation, returns = yaml.safe_load(strings["DOCUMENTATION"]), yaml.safe_load(strings["RETURN"])
    assert documentation["short_description"] in page.headings[0]
    assert {"parameter-%s" % option for option in documentation["options"]} <= page.ids
    assert {"return-%s" % value for value in returns} <= page.ids
    # The shared API options come from a docs fragment and show as well.
    assert {"parameter-api_token", "parameter-request_timeout"} <= page.ids
    # The examples, task by task.
    for task in yaml.safe_load(strings["EXAMPLES"]):
        assert task["name"] in page.text


def test_role_page_shows_its_argument_spec_and_links_its_guide(rendered, collection):
    page = rendered["role-image_capture"]
    specs = yaml.safe_load((collection / "roles" / "image_capture" / "meta" / "argument_specs.yml").read_text(encoding="utf-8"))
    main = specs["argument_specs"]["main"]
    assert main["short_description"] in page.headings[0]
    assert len(main["options"]) >= 10
    assert {"parameter-main--%s" % option for option in main["options"]} <= page.ids
    # A reference to the guide (the menu's link to it has no anchor).
    assert "docsite/role_guide.html#ansible-collections-golden-image-linode-docsite-role-guide" in page.hrefs()


def test_role_guide_shows_the_roles_readme(rendered, collection):
    page = rendered["guide-role"]
    readme = (collection / "roles" / "image_capture" / "README.md").read_text(encoding="utf-8")
    headings = re.findall(r"^#{2,3} (.+)$", readme, re.M)
    assert {"What it does, in order", "Safety", "Fleets"} <= set(headings)
    assert not set(map(plain, headings)) - set(page.headings), "headings of the role's README missing on the page"
    safety_notes = [plain(note) for note in re.split(r"^- ", markdown_section(readme, "Safety"), flags=re.M)[1:]]
    assert len(safety_notes) >= 3
    for note in safety_notes:
        assert note in page.text
    assert plain(markdown_section(readme, "Size limit: what \"6 GB\" means here")) in page.text
    # Its link back to the role's options, on the site.
    assert "../image_capture_role.html" in page.hrefs()


# Playbook -> the guide that shows it and every variable it reads.
PLAYBOOK_GUIDES = {"capture": "guide-playbooks", "golden_image": "guide-playbooks", "golden_image_pipeline": "guide-pipeline",
                   "golden_image_cleanup": "guide-pipeline"}


def test_playbook_guides_show_every_variable_and_survey_question(rendered, collection):
    playbooks = {path.stem: path.read_text(encoding="utf-8") for path in (collection / "playbooks").glob("*.yml")}
    assert set(playbooks) == set(PLAYBOOK_GUIDES), "a playbook that no guide shows, or a guide for a playbook that is gone"
    for name, playbook in playbooks.items():
        guide = rendered[PLAYBOOK_GUIDES[name]]
        assert "golden_image.linode." + name in guide.text
        variables = set(re.findall(r"\b((?:capture|golden_image)_\w+) \| default\(", playbook))
        assert variables, "no variable found in playbooks/%s.yml" % name
        for variable in variables:
            assert variable in guide.text, "playbooks/%s.yml reads %s, which its guide does not show" % (name, variable)
    page = rendered["guide-playbooks"]
    for survey_file in (collection / "extensions" / "awx").glob("survey_*.json"):
        survey = json.loads(survey_file.read_text(encoding="utf-8"))
        assert survey_file.name in page.text
        for question in survey["spec"]:
            assert question["question_name"] in page.text and question["variable"] in page.text
    # A role variable links its description on the role's page; the README's links to the role's
    # README and docs/awx.md lead to their guides here, not to the repository.
    assert [href for href in page.hrefs() if href.startswith("../image_capture_role.html#") and href.endswith("image-capture-size-limit")]
    assert not [href for href in page.hrefs() if href.endswith(("/roles/image_capture/README.md", "/docs/awx.md"))]


def site_pages() -> list[Path]:
    return sorted(SITE.rglob("*.html"))


def test_no_link_to_ansibles_blog_or_forum(site):
    pages = site_pages()
    assert len(pages) >= 20
    offenders = ["%s: %s" % (path.relative_to(site), reference) for path in pages
                 for reference in Page(path.read_text(encoding="utf-8")).references if any(name in reference for name in ANSIBLE_SITES)]
    assert not offenders


def test_no_internal_link_is_broken(site):
    pages = {}

    def parsed(path: Path) -> Page:
        if path not in pages:
            pages[path] = Page(path.read_text(encoding="utf-8"))
        return pages[path]

    broken = []
    checked = 0
    for path in site_pages():
        for reference in parsed(path).references:
            url = urlsplit(reference)
            if url.scheme or url.netloc or reference.startswith("mailto:"):
                continue
            target = (path.parent / url.path).resolve() if url.path else path
            checked += 1
            if not target.is_file():
                broken.append("%s: %s (no such file)" % (path.relative_to(site), reference))
            elif url.fragment and target.suffix == ".html" and url.fragment not in parsed(target).ids:
                broken.append("%s: %s (no such anchor)" % (path.relative_to(site), reference))
    assert checked > 500
    assert not broken, "\n".join(broken)
