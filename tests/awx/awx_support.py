"""What AWX does around a job, redone here so the tests can run a job the way AWX runs it.

Each function mirrors one piece of AWX (as of AWX 24) and says where it comes from:

- ``validate_credential_type``: what the API checks when a custom credential type is saved
  (``CredentialTypeInputField`` and ``CredentialTypeInjectorField``);
- ``inject_credential``: how a job gets its credential (``CredentialType.inject_credential``):
  file injectors become files in ``<private data dir>/env``, env injectors become the job's
  environment, rendered in Jinja's immutable sandbox with only the inputs that have a value;
- ``build_safe_env``: the copy of the job's environment that AWX stores and shows;
- ``inventory_script_data``: the inventory a job (or one slice of a sliced job) gets;
- ``validate_survey_spec``: what the API checks when a job template's survey is saved;
- ``artifacts_of`` and ``merge_artifacts``: the ``set_stats`` data a job publishes, and how a
  workflow combines the artifacts of several jobs (the slices of a sliced job, parallel parents);
- ``run_workflow``: which nodes of a workflow run, in which order, and with which extra vars
  (the workflow manager, ``WorkflowDAG``, and ``WorkflowJobNode.get_job_kwargs``).
"""

from __future__ import annotations

import json
import os
import re
import stat
import tempfile
from types import SimpleNamespace

from jinja2 import StrictUndefined, UndefinedError
from jinja2.sandbox import ImmutableSandboxedEnvironment

# awx/main/constants.py: environment variables a credential may not set, besides ANSIBLE_*.
ENV_BLOCKLIST = frozenset((
    "VIRTUAL_ENV", "PATH", "PYTHONPATH", "JOB_ID", "INVENTORY_ID", "INVENTORY_SOURCE_ID", "INVENTORY_UPDATE_ID",
    "AD_HOC_COMMAND_ID", "REST_API_URL", "REST_API_TOKEN", "MAX_EVENT_RES", "CALLBACK_QUEUE", "CALLBACK_CONNECTION",
    "CACHE", "JOB_CALLBACK_DEBUG", "INVENTORY_HOSTVARS", "AWX_HOST", "PROJECT_REVISION", "SUPERVISOR_CONFIG_PATH",
))
FIELD_KEYS = {"id", "label", "type", "format", "choices", "help_text", "multiline", "secret", "ask_at_runtime", "default"}
NAME_PATTERN = re.compile(r"^[a-zA-Z_]+[a-zA-Z0-9_]*$")
FILE_TEMPLATE_PATTERN = re.compile(r"^template(\.[a-zA-Z_]+[a-zA-Z0-9_]*)?$")
CUSTOM_KINDS = ("cloud", "net")
HIDDEN_PASSWORD = "**********"
SURVEY_TYPES = {"text": str, "textarea": str, "password": str, "multiplechoice": str, "multiselect": str,
                "integer": int, "float": (float, int)}


def validate_credential_type(credential_type: dict) -> None:
    """Raise ``ValueError`` where AWX's API would refuse this custom credential type."""
    if credential_type.get("kind") not in CUSTOM_KINDS:
        raise ValueError("kind must be one of %s for a custom credential type" % (CUSTOM_KINDS,))
    inputs = credential_type.get("inputs") or {}
    if set(inputs) - {"fields", "required"}:
        raise ValueError("inputs: unknown keys %s" % sorted(set(inputs) - {"fields", "required"}))
    ids = []
    for field in inputs.get("fields", []):
        unknown = set(field) - FIELD_KEYS
        if unknown or not {"id", "label"} <= set(field):
            raise ValueError("field %s: unknown keys %s or no id/label" % (field.get("id"), sorted(unknown)))
        if not NAME_PATTERN.match(field["id"]) or field["id"] == "tower" or field["id"] in ids:
            raise ValueError("field id %r is invalid, reserved or repeated" % field["id"])
        ids.append(field["id"])
        field_type = field.get("type", "string")
        if field_type not in ("string", "boolean"):
            raise ValueError("field %s: type %r" % (field["id"], field_type))
        if field_type != "string" and set(field) & {"choices", "multiline", "format", "secret"}:
            raise ValueError("field %s: choices/multiline/format/secret are for strings only" % field["id"])
        if field.get("format") not in (None, "ssh_private_key", "url"):
            raise ValueError("field %s: format %r" % (field["id"], field["format"]))
    if set(inputs.get("required", [])) - set(ids):
        raise ValueError("required names unknown fields: %s" % sorted(set(inputs["required"]) - set(ids)))

    injectors = credential_type.get("injectors") or {}
    if set(injectors) - {"file", "env", "extra_vars"}:
        raise ValueError("injectors: unknown keys %s" % sorted(set(injectors) - {"file", "env", "extra_vars"}))
    templates = list(injectors.get("file", {}))
    if any(not FILE_TEMPLATE_PATTERN.match(name) for name in templates):
        raise ValueError("file injectors must be named template or template.<name>: %s" % templates)
    if "template" in templates and len(templates) > 1:
        raise ValueError("more than one file needs the template.<name> form for all of them")
    for name, value in injectors.get("env", {}).items():
        if not NAME_PATTERN.match(name) or name.startswith("ANSIBLE_") or name in ENV_BLOCKLIST:
            raise ValueError("environment variable %s is not allowed in a credential" % name)
        if not all(ord(char) < 128 for char in value):
            raise ValueError("environment variable %s: its template must be ASCII" % name)

    # Every template must render with every field defined (strict undefined), as AWX checks.
    namespace = dict((field_id, "EXAMPLE") for field_id in ids)
    filename = "EXAMPLE_FILENAME" if "template" in templates else SimpleNamespace(
        **dict((name.split(".", 1)[1], "EXAMPLE_FILENAME") for name in templates))
    namespace["tower"] = SimpleNamespace(filename=filename)
    sandbox = ImmutableSandboxedEnvironment(undefined=StrictUndefined)
    for kind, entries in injectors.items():
        for name, template in entries.items():
            try:
                sandbox.from_string(template).render(namespace)
            except UndefinedError as exc:
                raise ValueError("%s %s uses an undefined field (%s)" % (kind, name, exc)) from None


def inject_credential(credential_type: dict, inputs: dict, private_data_dir: str) -> dict:
    """The environment variables a job gets from a credential; file injectors are written to ``env/``."""
    fields = dict((field["id"], field) for field in credential_type["inputs"].get("fields", []))
    namespace = {}
    for name, value in inputs.items():
        if name not in fields:
            raise ValueError("%s is not a field of %s" % (name, credential_type["name"]))
        if isinstance(value, bool) or len(value):
            namespace[name] = value
    for name, field in fields.items():
        if field.get("type") == "boolean" and name not in inputs:
            namespace[name] = False
    tower = SimpleNamespace()
    namespace["tower"] = tower
    sandbox = ImmutableSandboxedEnvironment()
    env_dir = os.path.join(private_data_dir, "env")
    os.makedirs(env_dir, exist_ok=True)
    for label, template in credential_type["injectors"].get("file", {}).items():
        handle, path = tempfile.mkstemp(dir=env_dir)
        with os.fdopen(handle, "w", encoding="utf-8") as injected:
            injected.write(sandbox.from_string(template).render(**namespace))
        os.chmod(path, stat.S_IRUSR | stat.S_IWUSR | stat.S_IRGRP | stat.S_IWGRP)
        if "." not in label:
            tower.filename = path
        else:
            if not hasattr(tower, "filename"):
                tower.filename = SimpleNamespace()
            setattr(tower.filename, label.split(".", 1)[1], path)
    return dict((name, sandbox.from_string(template).render(**namespace))
                for name, template in credential_type["injectors"].get("env", {}).items())


def build_safe_env(env: dict) -> dict:
    """The job environment as AWX stores it: values of secret-looking names hidden."""
    hidden = re.compile(r"API|TOKEN|KEY|SECRET|PASS", re.I)
    url_password = re.compile(r"^.*?://[^:]+:(.*?)@.*?$")
    safe = dict(env)
    for name, value in safe.items():
        if name == "AWS_ACCESS_KEY_ID" or (name.startswith("ANSIBLE_") and not name.startswith(("ANSIBLE_NET", "ANSIBLE_GALAXY_SERVER"))):
            continue
        if hidden.search(name):
            safe[name] = HIDDEN_PASSWORD
        elif isinstance(value, str) and url_password.match(value):
            safe[name] = url_password.sub(HIDDEN_PASSWORD, value)
    return safe


def sliced_hosts(host_names: list, slice_number: int, slice_count: int) -> list:
    """The hosts of slice ``slice_number`` (1-based) of ``slice_count``: AWX orders hosts by name and strides."""
    ordered = sorted(host_names)
    if slice_count > 1 and slice_number > 0:
        return ordered[slice_number - 1::slice_count]
    return ordered


def inventory_script_data(groups: dict, hostvars: dict, all_vars: dict, slice_number: int = 0, slice_count: int = 1) -> dict:
    """The JSON of AWX's inventory script for a job (``--list``), or for one slice of a sliced job."""
    kept = set(sliced_hosts(list(hostvars), slice_number, slice_count))
    data = {"all": {"children": sorted(groups), "vars": dict(all_vars)}}
    for group, members in groups.items():
        data[group] = {"hosts": [host for host in members if host in kept], "children": [], "vars": {}}
    data["_meta"] = {"hostvars": dict((host, hostvars[host]) for host in sorted(kept))}
    return data


def write_inventory_script(path: str, data: dict, python: str) -> None:
    """An executable inventory, as AWX writes ``inventory/hosts`` into a job's private data dir."""
    with open(path, "w", encoding="utf-8") as script:
        script.write("#!%s\nprint(%s)\n" % (python, json.dumps(json.dumps(data))))
    os.chmod(path, stat.S_IRWXU)


def validate_survey_spec(spec: dict) -> None:
    """Raise ``ValueError`` where AWX's API would refuse this survey (``JobTemplateSurveySpec``)."""
    for key, kind in (("name", str), ("description", str), ("spec", list)):
        if not isinstance(spec.get(key), kind):
            raise ValueError("survey %s must be a %s" % (key, kind.__name__))
    if not spec["spec"]:
        raise ValueError("survey spec has no questions")
    seen = set()
    for index, item in enumerate(spec["spec"]):
        for key, kind in (("type", str), ("question_name", str), ("variable", str), ("required", bool)):
            if not isinstance(item.get(key), kind):
                raise ValueError("question %d: %s must be a %s" % (index, key, kind.__name__))
        if item["variable"] in seen:
            raise ValueError("question %d: variable %s is repeated" % (index, item["variable"]))
        seen.add(item["variable"])
        if item["type"] not in SURVEY_TYPES:
            raise ValueError("question %d: type %s" % (index, item["type"]))
        default = item.get("default", "")
        if default != "" and (not isinstance(default, SURVEY_TYPES[item["type"]]) or isinstance(default, bool)):
            raise ValueError("question %d: default %r is not a %s" % (index, default, item["type"]))
        for key in ("min", "max"):
            if item.get(key) is not None and not isinstance(item[key], int):
                raise ValueError("question %d: %s must be an integer" % (index, key))
        if item["type"] in ("multiplechoice", "multiselect"):
            choices = item.get("choices")
            choices = choices.splitlines() if isinstance(choices, str) else choices
            if not choices:
                raise ValueError("question %d: %s needs choices" % (index, item["type"]))
            defaults = default.splitlines() if isinstance(default, str) else default
            if item["type"] == "multiplechoice" and len(defaults) > 1:
                raise ValueError("question %d: one default only" % index)
            if any(choice not in choices for choice in defaults):
                raise ValueError("question %d: default %r is not one of the choices" % (index, default))


def survey_extra_vars(spec: dict, answers: dict) -> dict:
    """The extra variables a launch with these answers gives the job: the answers, and the defaults of the other questions."""
    extra_vars = {}
    for item in spec["spec"]:
        if item["variable"] in answers:
            extra_vars[item["variable"]] = answers[item["variable"]]
        elif "default" in item:
            extra_vars[item["variable"]] = item["default"]
        elif item["required"]:
            raise ValueError("'%s' value missing" % item["variable"])
    unknown = set(answers) - set(extra_vars)
    if unknown:
        raise ValueError("no survey question for %s" % sorted(unknown))
    return extra_vars


def artifacts_of(artifact_dir: str) -> dict:
    """The ``set_stats`` data of a finished job: ``artifact_data`` of its ``playbook_on_stats`` event, as AWX reads it."""
    events_dir = os.path.join(artifact_dir, "job_events")
    for name in sorted(os.listdir(events_dir)):
        with open(os.path.join(events_dir, name), encoding="utf-8") as event_file:
            event = json.load(event_file)
        if event.get("event") == "playbook_on_stats":
            return event["event_data"].get("artifact_data", {})
    raise AssertionError("no playbook_on_stats event in %s" % events_dir)


def merge_artifacts(artifacts: list) -> dict:
    """How a workflow combines the artifacts of several jobs: key by key, a later job's value wins."""
    combined = {}
    for job_artifacts in artifacts:
        combined.update(job_artifacts)
    return combined


SUCCESSFUL = "successful"
DO_NOT_RUN = "do_not_run"
# AWX follows a node's failure edges when its job ended in any of these.
FAILED_STATUSES = ("failed", "error", "canceled")
EDGES = ("success_nodes", "failure_nodes", "always_nodes")


def _fired(node: dict, status: str) -> list:
    """The children a finished node's edges lead to: success or failure edges by its job's status, always edges either way."""
    if status == DO_NOT_RUN:
        return []
    kind = "success_nodes" if status == SUCCESSFUL else "failure_nodes"
    return list(node.get(kind) or []) + list(node.get("always_nodes") or [])


def run_workflow(nodes: dict, workflow_extra_vars: dict, launch) -> list:
    """Run a workflow's nodes as AWX's workflow manager does; the runs, in order.

    ``nodes``: identifier -> the node (``success_nodes``, ``failure_nodes``, ``always_nodes``: identifiers of
    children; ``extra_data``: the node's own prompted variables), in the order AWX lists them.
    ``workflow_extra_vars``: the workflow job's variables (its template's extra vars and the survey's answers).
    ``launch(identifier, extra_vars)`` runs the node's job (its job template adds its own extra vars under these)
    and returns ``(status, artifacts)``.

    A node runs once every parent has finished or will not run, when it is a root or an edge of a parent led
    to it (success edges after a ``successful`` job, failure edges after a failed one, always edges either way;
    ``all_parents_must_converge`` is off, as here); otherwise it will not run (``do_not_run``), and neither will
    what only it leads to. Its extra vars: its ``extra_data``, under its ancestors' artifacts (each parent's own
    ancestor artifacts, then its job's artifacts, parent after parent, a later value winning: ``merge_artifacts``),
    under the workflow job's variables, which take precedence over artifacts. Each run: ``node``, ``extra_vars``,
    ``status``, ``artifacts``; a node that did not run is listed with status ``do_not_run``.
    """
    unknown = [child for node in nodes.values() for edge in EDGES for child in node.get(edge) or [] if child not in nodes]
    if unknown:
        raise ValueError("edges to nodes that do not exist: %s" % unknown)
    parents = dict((name, [parent for parent, node in nodes.items() if any(name in (node.get(edge) or []) for edge in EDGES)])
                   for name in nodes)
    status, artifacts, ancestor_artifacts, runs = {}, {}, {}, []
    progressed = True
    while progressed:
        progressed = False
        for name, node in nodes.items():
            if name in status or any(parent not in status for parent in parents[name]):
                continue
            progressed = True
            if parents[name] and not any(name in _fired(nodes[parent], status[parent]) for parent in parents[name]):
                status[name] = DO_NOT_RUN
                runs.append({"node": name, "extra_vars": None, "status": DO_NOT_RUN, "artifacts": None})
                continue
            inherited = merge_artifacts([job for parent in parents[name]
                                         for job in (ancestor_artifacts.get(parent, {}), artifacts.get(parent) or {})])
            ancestor_artifacts[name] = inherited
            extra_vars = dict(node.get("extra_data") or {})
            extra_vars.update((key, value) for key, value in inherited.items() if key != "_ansible_no_log")
            extra_vars.update(workflow_extra_vars)
            status[name], artifacts[name] = launch(name, extra_vars)
            runs.append({"node": name, "extra_vars": extra_vars, "status": status[name], "artifacts": artifacts[name]})
    return runs


def job_extra_vars(job_template_vars: dict, launched_with: dict) -> dict:
    """A job's extra vars: its template's, overridden by what it was launched with (here, by the workflow)."""
    return dict(job_template_vars or {}, **launched_with)


class Job:
    """One job run the way AWX runs it: a private data dir handed to ansible-runner.

    ``project/`` holds a playbook that imports the collection's playbook (an AWX job template
    picks a playbook file of its project), ``inventory/hosts`` is AWX's inventory script,
    ``env/envvars`` the job's environment (what the credential injects, and the settings of the
    execution environment) and ``env/extravars`` the job's extra variables.
    """

    def __init__(self, private_data_dir: str, ident: str) -> None:
        self.private_data_dir = private_data_dir
        self.ident = ident
        self.status = None
        self.rc = None
        self.seconds = None
        self.stats = {}
        self.hosts = []
        self.summary = ""

    @property
    def artifact_dir(self) -> str:
        return os.path.join(self.private_data_dir, "artifacts", self.ident)

    def prepare(self, playbook: str, inventory: dict, envvars: dict, extravars: dict, python: str) -> None:
        for folder in ("project", "inventory", "env"):
            os.makedirs(os.path.join(self.private_data_dir, folder), exist_ok=True)
        with open(os.path.join(self.private_data_dir, "project", self.playbook_file(playbook)), "w", encoding="utf-8") as play:
            play.write("---\n- name: Run %s\n  ansible.builtin.import_playbook: %s\n" % (playbook, playbook))
        write_inventory_script(os.path.join(self.private_data_dir, "inventory", "hosts"), inventory, python)
        self.hosts = sorted(inventory["_meta"]["hostvars"])
        for name, content in (("envvars", envvars), ("extravars", extravars)):
            with open(os.path.join(self.private_data_dir, "env", name), "w", encoding="utf-8") as env_file:
                json.dump(content, env_file)

    @staticmethod
    def playbook_file(playbook: str) -> str:
        return playbook.rsplit(".", 1)[-1] + ".yml"

    def run(self, playbook: str, timeout: int, forks: int = 0, job_type: str = "run"):
        """Run the job to its end (or ``timeout`` seconds) and return the ansible-runner ``Runner``.

        ``forks`` and ``job_type`` are the job template's fields of those names (0: Ansible's default;
        a ``check`` job runs ansible-playbook with --check, as AWX does).
        """
        import time  # pylint: disable=import-outside-toplevel

        import ansible_runner  # pylint: disable=import-outside-toplevel

        started = time.monotonic()
        runner = ansible_runner.run(private_data_dir=self.private_data_dir, playbook=self.playbook_file(playbook),
                                    ident=self.ident, quiet=True, timeout=timeout, forks=forks or None,
                                    cmdline="--check" if job_type == "check" else None)
        self.seconds = time.monotonic() - started
        self.status, self.rc, self.stats = runner.status, runner.rc, runner.stats or {}
        return runner

    def artifacts(self) -> dict:
        return artifacts_of(self.artifact_dir)

    def files(self) -> list:
        """Every file under the job's artifacts, relative to the private data dir."""
        found = []
        for folder, _dirs, names in os.walk(os.path.join(self.private_data_dir, "artifacts")):
            found.extend(os.path.relpath(os.path.join(folder, name), self.private_data_dir) for name in names)
        return sorted(found, key=_natural_key)

    def files_containing(self, secret: str) -> list:
        needle = secret.encode("utf-8")
        found = []
        for relative in self.files():
            with open(os.path.join(self.private_data_dir, relative), "rb") as artifact:
                if needle in artifact.read():
                    found.append(relative)
        return found

    def listing(self) -> str:
        """``find artifacts -type f`` with sizes, job events folded into one line per run of files."""
        lines, events = [], []
        for relative in self.files():
            size = os.path.getsize(os.path.join(self.private_data_dir, relative))
            if os.path.basename(os.path.dirname(relative)) == "job_events":
                events.append((relative, size))
            else:
                lines.append("%8d  %s" % (size, relative))
        if events:
            lines.append("%8d  %s  (%d files: %s .. %s)" % (
                sum(size for _name, size in events), os.path.dirname(events[0][0]) + "/", len(events),
                os.path.basename(events[0][0]), os.path.basename(events[-1][0])))
        return "\n".join(lines)

    def stdout_tail(self, lines: int = 40) -> str:
        path = os.path.join(self.artifact_dir, "stdout")
        if not os.path.exists(path):
            return "(no stdout artifact)"
        with open(path, encoding="utf-8", errors="replace") as stdout:
            return "".join(stdout.readlines()[-lines:])


def _natural_key(text: str) -> list:
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", text)]
