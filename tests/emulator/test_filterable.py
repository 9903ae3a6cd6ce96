"""filterable.py (the X-Filter allow-lists) must be exactly what the spec marks ``__Filterable__``."""

from __future__ import annotations

import importlib.util
import warnings
from pathlib import Path
from types import ModuleType

import pytest

import contract
from linode_emulator import filterable
from linode_emulator.routes import ROUTES

GENERATOR = contract.REPO_ROOT / "emulator" / "tools" / "gen_filterable.py"
MODULE = contract.REPO_ROOT / "emulator" / "src" / "linode_emulator" / "filterable.py"


def _generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gen_filterable", GENERATOR)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _spec_file() -> Path:
    """The spec, as the contract tests find it; a skip when absent, a failure under CI=true."""
    path = contract.spec_path()
    if not path.is_file():
        reason = f"Linode OpenAPI spec not found at {path} (set {contract.SPEC_ENV}): cannot check filterable.py"
        if contract._ci():  # pylint: disable=protected-access
            pytest.fail(f"{reason}; CI=true, so this must not be skipped", pytrace=False)
        warnings.warn(contract.ContractSkipped(reason), stacklevel=2)
        pytest.skip(reason)
    return path


def test_committed_module_is_what_the_generator_writes_from_the_spec() -> None:
    generated = _generator().generate(_spec_file())
    assert MODULE.read_text(encoding="utf-8") == generated, (
        "emulator/src/linode_emulator/filterable.py is stale: run "
        "python emulator/tools/gen_filterable.py ../shared/linode-api/openapi.yaml -o "
        "emulator/src/linode_emulator/filterable.py"
    )


def test_the_installed_module_is_the_committed_one() -> None:
    spec = importlib.util.spec_from_file_location("committed_filterable", MODULE)
    assert spec is not None and spec.loader is not None
    committed = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(committed)
    assert filterable.FILTERABLE == committed.FILTERABLE, "reinstall the emulator: pip install ./emulator"


def test_known_fields_of_spec_4_189() -> None:
    # The table of the facts file: what the real API accepts (and, by omission, refuses).
    expected = {
        "/images": ("deprecated", "is_public", "label", "size", "status", "tags", "type", "vendor"),
        "/account/events": ("action", "created", "entity.id", "entity.type", "id", "read"),
        "/linode/instances": (
            "group", "id", "ipv4", "label", "placement_group.label",
            "placement_group.placement_group_type", "region", "tags",
        ),
        "/linode/instances/{linodeId}/disks": ("label", "size"),
        "/linode/instances/{linodeId}/configs": ("interfaces.label", "label"),
        "/linode/types": ("class", "disk", "gpus", "label", "memory", "network_out", "transfer", "vcpus"),
        "/regions": ("country", "site-type"),
    }
    assert filterable.FILTERABLE == expected


def test_every_list_the_emulator_serves_has_an_allow_list() -> None:
    served = {route.template for route in ROUTES if route.is_list}
    assert served == set(filterable.FILTERABLE)
