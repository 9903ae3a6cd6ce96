"""The surveys in extensions/awx/: up to date with the role's argument specs, and valid for AWX.

The runner and slicing tests launch their jobs with these surveys' defaults, so the role is also
shown to accept every default a survey gives (booleans arrive as the strings "true"/"false").
"""

from __future__ import annotations

import re

import pytest
import yaml

import awx_support
import survey_from_argument_specs as generator
from awx_env import REPO, load_survey

NAMES = ("capture", "golden_image")
GENERATED = NAMES + ("golden_image_workflow",)


@pytest.mark.parametrize("name", GENERATED)
def test_survey_is_up_to_date(name):
    with open(generator.survey_path(name), encoding="utf-8") as survey:
        assert survey.read() == generator.rendered(generator.surveys()[name]), \
            "run python tests/awx/survey_from_argument_specs.py and commit extensions/awx/survey_%s.json" % name


@pytest.mark.parametrize("name", GENERATED)
def test_awx_accepts_the_survey(name):
    awx_support.validate_survey_spec(load_survey(name))


@pytest.mark.parametrize("name", NAMES)
def test_questions_are_role_options_or_playbook_variables(name):
    with open(REPO / "roles" / "image_capture" / "meta" / "argument_specs.yml", encoding="utf-8") as specs:
        options = yaml.safe_load(specs)["argument_specs"]["main"]["options"]
    with open(REPO / "playbooks" / ("%s.yml" % name), encoding="utf-8") as playbook:
        playbook_text = playbook.read()
    for item in load_survey(name)["spec"]:
        variable = item["variable"]
        assert variable in options or variable in playbook_text, "%s is neither a role option nor used by the playbook" % variable
        assert variable not in generator.PER_HOST, "%s differs per host: it belongs in the inventory" % variable
        if variable in options and "default" in item:
            default = options[variable].get("default")
            expected = ("true" if default else "false") if options[variable].get("type") == "bool" else default
            assert item["default"] == expected, variable


def test_golden_image_survey_leaves_the_playbooks_role_vars_alone():
    """Extra vars override role vars: the golden_image survey must not ask for what the playbook sets."""
    variables = set(item["variable"] for item in load_survey("golden_image")["spec"])
    assert not variables & set(generator.SET_BY_GOLDEN_IMAGE)
    assert {"golden_image_host", "golden_image_prefix", "golden_image_keep"} <= variables


def test_launch_with_defaults():
    extra_vars = awx_support.survey_extra_vars(load_survey("golden_image"), {"golden_image_host": "web-1"})
    assert extra_vars["golden_image_host"] == "web-1" and extra_vars["image_capture_shutdown"] == "true"
    assert "golden_image_keep" not in extra_vars and "image_capture_description" not in extra_vars
    with pytest.raises(ValueError, match="golden_image_host"):
        awx_support.survey_extra_vars(load_survey("golden_image"), {})


def test_workflow_questions_are_the_pipelines_variables_with_their_role_options_spec():
    """Each question is a variable golden_image_pipeline.yml hands to the role option it was generated from,
    with that option's type and default; the stage and the ids the nodes hand each other are never asked."""
    with open(REPO / "playbooks" / "golden_image_pipeline.yml", encoding="utf-8") as playbook:
        playbook_text = playbook.read()
    options = dict(generator.role_options("image_bake"), **generator.role_options("image_verify"))
    questions = dict((item["variable"], item) for item in load_survey("golden_image_workflow")["spec"])
    for variable, role_option in generator.WORKFLOW_OPTIONS:
        assert re.search(r"%s: .*\b%s\b" % (role_option, variable), playbook_text), "the playbook does not hand %s to %s" % (
            variable, role_option)
        spec, item = options[role_option], questions[variable]
        expected_type = {"bool": "multiplechoice", "int": "integer", "float": "float"}.get(spec.get("type", "str"), "text")
        assert item["type"] == expected_type, variable
        if spec.get("default") is not None:
            default = spec["default"]
            assert item["default"] == (("true" if default else "false") if spec.get("type") == "bool" else default), variable
        assert "image_bake_" not in item["question_description"].replace("image_bake_cleanup_prefix", "") \
            and "image_verify_" not in item["question_description"], variable
    for variable in questions:
        assert variable in playbook_text, "%s is not a variable of golden_image_pipeline.yml" % variable
    assert not set(questions) & {"golden_image_pipeline_stage", "golden_image_candidate_id", "golden_image_verified_id",
                                 "golden_image_id"}
    assert questions["golden_image_region"]["required"] is True
