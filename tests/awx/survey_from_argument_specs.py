"""Write the AWX surveys of the capture and golden_image job templates, and of the golden-image workflow, from the roles' argument specs.

    python tests/awx/survey_from_argument_specs.py           # rewrite extensions/awx/survey_*.json
    python tests/awx/survey_from_argument_specs.py --check   # exit 1 if they differ from what it would write

A survey question becomes an extra variable of the job, and an extra variable applies to every host
of the job and overrides the inventory. So the surveys ask only for what holds for a whole job:

- options that name one host's instance, disk, label or mount, and image_capture_host_checks (a
  property of the hosts), stay in the inventory;
- list options (tags, regions) are left out: a survey has no list answer (put them in the job
  template's extra variables as YAML lists);
- image_capture_report_file is left out: the file would stay in the job's execution environment
  (the report is in the job's output, and its image ids in the job's set_stats);
- image_capture_run_id is left out (under AWX the run is named after the job, awx<job id>), and so
  is image_capture_fail_hosts (the capture playbook sets it for its serial batches);
- the golden_image playbook sets the label, tags, regions and retention of the role itself from
  its own variables (golden_image_*), which its survey asks for instead.

The golden-image workflow's survey (extensions/awx/golden_image_workflow.yml) asks for the
golden_image_pipeline playbook's variables, each the image_bake or image_verify option the playbook
hands it to (WORKFLOW_OPTIONS): its type, default and description come from that option's argument
spec, with the roles' option names in the description replaced by the playbook's. It leaves out
golden_image_pipeline_stage (each node's job template sets it, and a workflow variable would override
it on every node) and the ids the nodes hand each other (artifacts, which the workflow's variables
would override too).

Types: str -> text (textarea for descriptions), int -> integer, float -> float, bool -> a
multiple choice of "true"/"false" (the role reads these with the bool filter).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys

import yaml

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ARGUMENT_SPECS = os.path.join(REPO, "roles", "image_capture", "meta", "argument_specs.yml")
ROLE_ARGUMENT_SPECS = os.path.join(REPO, "roles", "%s", "meta", "argument_specs.yml")
OUTPUT_DIR = os.path.join(REPO, "extensions", "awx")
PREFIX = "image_capture_"

PER_HOST = ("image_capture_linode", "image_capture_disk", "image_capture_label", "image_capture_mount", "image_capture_host_checks")
NOT_IN_A_JOB = ("image_capture_report_file", "image_capture_run_id", "image_capture_fail_hosts", "image_capture_ssh_after_boot")
SET_BY_GOLDEN_IMAGE = ("image_capture_label", "image_capture_tags", "image_capture_replicate_regions", "image_capture_keep",
                       "image_capture_keep_prefix")
TEXTAREA = ("image_capture_description",)

# The playbooks' own variables (see the head of playbooks/capture.yml and playbooks/golden_image.yml).
PLAYBOOK_QUESTIONS = {
    "capture": [
        {"variable": "capture_hosts", "question_name": "Hosts", "type": "text", "required": False, "default": "linodes",
         "question_description": "Inventory group (or pattern) of the hosts to capture."},
        {"variable": "capture_serial", "question_name": "Batch size", "type": "text", "required": False, "default": "100%",
         "question_description": "Hosts per batch, as a number or a percentage; each batch shares its API reads and waits."},
    ],
    "golden_image": [
        {"variable": "golden_image_host", "question_name": "Reference host", "type": "text", "required": True,
         "question_description": "The one inventory host whose disk becomes the golden image."},
        {"variable": "golden_image_prefix", "question_name": "Label prefix", "type": "text", "required": False, "default": "golden",
         "question_description": "The image is labelled <prefix>-<UTC date>-<time>; retention applies to this prefix."},
        {"variable": "golden_image_keep", "question_name": "Images to keep", "type": "integer", "required": False, "min": 1,
         "question_description": "Keep this many newest available images of the prefix and delete the older ones. "
                                 "Empty: delete nothing."},
    ],
}
# The golden_image_pipeline playbook's variables the workflow's survey asks for, each with the role option the
# playbook hands it to (playbooks/golden_image_pipeline.yml), in the survey's order.
WORKFLOW_OPTIONS = (
    ("golden_image_region", "image_bake_region"),
    ("golden_image_base_image", "image_bake_base_image"),
    ("golden_image_type", "image_bake_type"),
    ("golden_image_provision_role", "image_bake_provision_role"),
    ("golden_image_provision_tasks", "image_bake_provision_tasks"),
    ("golden_image_check_tasks", "image_verify_tasks"),
    ("golden_image_delete_failed", "image_verify_delete_failed"),
    ("golden_image_cleanup_older_than", "image_bake_cleanup_older_than"),
)
WORKFLOW_QUESTIONS = [
    {"variable": "golden_image_prefix", "question_name": "Label prefix", "type": "text", "required": False, "default": "golden",
     "question_description": "The image is labelled <prefix>-<UTC date>-<time>, its temporary instances bake-<prefix>-* and "
                             "verify-<prefix>-*; retention and the clean-up apply to this prefix."},
    {"variable": "golden_image_keep", "question_name": "Verified images to keep", "type": "integer", "required": False, "min": 1,
     "question_description": "The promotion keeps this many newest verified images of the prefix, the new one among them, "
                             "and deletes the older verified ones. Empty: delete nothing."},
]
WORKFLOW_REQUIRED = ("golden_image_region",)
# Question names where capitalizing the option name is not enough.
QUESTION_NAMES = {"image_capture_cloud_init": "Cloud-init", "image_capture_ssh_timeout": "SSH timeout",
                  "image_capture_size_limit": "Image size limit (MiB)", "image_capture_margin": "Free margin"}
# The order of a question's keys in the files.
KEY_ORDER = ("variable", "question_name", "question_description", "type", "required", "default", "min", "max", "choices")
SURVEY_NAMES = {"capture": "Capture every host's disk", "golden_image": "Capture a golden image",
                "golden_image_workflow": "Bake, verify and promote a golden image"}


def plain(text: str) -> str:
    """Ansible doc markup (O(), V(), C(), E(), I(), B(), U()) as plain text."""
    text = re.sub(r"\b[OVCEIBU]\(([^()]*)\)", r"\1", text)
    return re.sub(r"\s+", " ", text).strip()


def question(name: str, option: dict, prefix: str = PREFIX, renames: tuple = ()) -> dict:
    description = option.get("description", "")
    description = " ".join(description) if isinstance(description, list) else description
    for role_option, variable in renames:
        description = re.sub(r"\b%s\b" % role_option, variable, description)
    kind = option.get("type", "str")
    item = {
        "variable": name,
        "question_name": QUESTION_NAMES.get(name) or name[len(prefix):].replace("_", " ").capitalize(),
        "question_description": plain(description),
        "required": False,
    }
    default = option.get("default")
    if kind == "bool":
        item.update(type="multiplechoice", choices="true\nfalse")
        default = None if default is None else ("true" if default else "false")
    elif kind == "int":
        item["type"] = "integer"
    elif kind == "float":
        item["type"] = "float"
    else:
        item["type"] = "textarea" if name in TEXTAREA else "text"
    if default is not None:
        item["default"] = default
    return item


def role_questions(options: dict, leave_out: tuple) -> list:
    return [question(name, option) for name, option in options.items()
            if name not in leave_out and option.get("type", "str") in ("str", "int", "float", "bool")]


def role_options(role: str) -> dict:
    with open(ROLE_ARGUMENT_SPECS % role, encoding="utf-8") as specs:
        return yaml.safe_load(specs)["argument_specs"]["main"]["options"]


def workflow_questions() -> list:
    """The golden_image_pipeline variables of WORKFLOW_OPTIONS, each as its role option's question."""
    options = dict(role_options("image_bake"), **role_options("image_verify"))
    renames = tuple((role_option, variable) for variable, role_option in WORKFLOW_OPTIONS)
    questions = []
    for variable, role_option in WORKFLOW_OPTIONS:
        item = question(variable, options[role_option], prefix="golden_image_", renames=renames)
        item["required"] = variable in WORKFLOW_REQUIRED
        questions.append(item)
    return WORKFLOW_QUESTIONS + questions


def surveys() -> dict:
    with open(ARGUMENT_SPECS, encoding="utf-8") as specs:
        options = yaml.safe_load(specs)["argument_specs"]["main"]["options"]
    return {
        "capture": {
            "name": SURVEY_NAMES["capture"],
            "description": "golden_image.linode.capture; generated from the image_capture role's argument specs.",
            "spec": PLAYBOOK_QUESTIONS["capture"] + role_questions(options, PER_HOST + NOT_IN_A_JOB),
        },
        "golden_image": {
            "name": SURVEY_NAMES["golden_image"],
            "description": "golden_image.linode.golden_image; generated from the image_capture role's argument specs.",
            "spec": PLAYBOOK_QUESTIONS["golden_image"] + role_questions(options, PER_HOST + NOT_IN_A_JOB + SET_BY_GOLDEN_IMAGE),
        },
        "golden_image_workflow": {
            "name": SURVEY_NAMES["golden_image_workflow"],
            "description": "The golden-image workflow (golden_image.linode.golden_image_pipeline, one stage a node); "
                           "generated from the image_bake and image_verify roles' argument specs.",
            "spec": workflow_questions(),
        },
    }


def survey_path(name: str) -> str:
    return os.path.join(OUTPUT_DIR, "survey_%s.json" % name)


def rendered(survey: dict) -> str:
    ordered = dict(survey, spec=[dict((key, item[key]) for key in KEY_ORDER if key in item) for item in survey["spec"]])
    return json.dumps(ordered, indent=2) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--check", action="store_true", help="only compare; exit 1 when a file differs")
    args = parser.parse_args()
    stale = []
    for name, survey in surveys().items():
        path = survey_path(name)
        current = None
        if os.path.exists(path):
            with open(path, encoding="utf-8") as existing:
                current = existing.read()
        if current == rendered(survey):
            continue
        stale.append(os.path.relpath(path, REPO))
        if not args.check:
            with open(path, "w", encoding="utf-8") as output:
                output.write(rendered(survey))
    if args.check and stale:
        print("out of date (run %s): %s" % (os.path.relpath(__file__, REPO), ", ".join(stale)), file=sys.stderr)
        return 1
    for path in stale:
        print("wrote %s" % path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
