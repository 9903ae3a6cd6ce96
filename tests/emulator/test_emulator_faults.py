"""Injected faults through POST/DELETE /__emulator__/faults."""

from __future__ import annotations

import time

import pytest
import requests

from conftest import Emulator, new_session


def test_status_fault_with_retry_after_then_normal_service(api: requests.Session, emu: Emulator) -> None:
    emu.add_faults({"method": "GET", "path": "^/v4/images/", "times": 2, "status": 429, "retry_after": 2})
    url = f"{emu.api_url}/images/private/4242"
    for _attempt in range(2):
        response = api.get(url)
        assert response.status_code == 429
        assert response.headers["Retry-After"] == "2"
        assert response.json()["errors"][0]["reason"]
    assert api.get(url).status_code == 200  # times: 2 is used up
    # Other methods and paths were never affected.
    assert api.get(f"{emu.api_url}/images").status_code == 200


def test_status_fault_with_a_reason(api: requests.Session, emu: Emulator) -> None:
    emu.add_faults({"method": "POST", "path": "/boot$", "times": 1, "status": 400, "reason": "Linode busy"})
    answer = api.post(f"{emu.api_url}/linode/instances/1002/boot", json={})
    assert answer.status_code == 400
    assert answer.json() == {"errors": [{"reason": "Linode busy"}]}


def test_delay_fault(api: requests.Session, emu: Emulator) -> None:
    emu.add_faults({"path": "^/v4/profile$", "times": 1, "delay_s": 0.6})
    started = time.monotonic()
    assert api.get(f"{emu.api_url}/profile").status_code == 200
    assert time.monotonic() - started >= 0.6
    started = time.monotonic()
    assert api.get(f"{emu.api_url}/profile").status_code == 200
    assert time.monotonic() - started < 0.5


def test_reset_fault_closes_the_connection_without_an_answer(api: requests.Session, emu: Emulator) -> None:
    emu.add_faults({"path": ".*", "times": 1, "reset": True})
    with pytest.raises(requests.exceptions.ConnectionError):
        api.get(f"{emu.api_url}/profile")
    assert api.get(f"{emu.api_url}/profile").status_code == 200
    assert [e["status"] for e in emu.request_log()] == [0, 200]  # 0: no answer was sent


def test_hang_fault_never_answers(emu: Emulator) -> None:
    emu.add_faults({"path": "^/v4/linode/instances$", "times": 1, "hang": True})
    with new_session(emu, timeout=0.5) as impatient:
        started = time.monotonic()
        with pytest.raises(requests.exceptions.ReadTimeout):
            impatient.get(f"{emu.api_url}/linode/instances")
        assert time.monotonic() - started < 3
        assert impatient.get(f"{emu.api_url}/linode/instances").status_code == 200


def test_probability_fault(api: requests.Session, emu: Emulator) -> None:
    emu.add_faults({"path": "^/v4/profile$", "probability": 0.5, "status": 503})
    statuses = [api.get(f"{emu.api_url}/profile").status_code for _attempt in range(120)]
    failures = statuses.count(503)
    assert set(statuses) == {200, 503}
    assert 25 <= failures <= 95  # binomial(120, 0.5): mean 60, sd 5.5
    emu.control("DELETE", "faults")
    emu.add_faults({"path": "^/v4/profile$", "probability": 0.0, "status": 503})
    assert {api.get(f"{emu.api_url}/profile").status_code for _attempt in range(10)} == {200}


def test_times_counts_matching_requests_only(api: requests.Session, emu: Emulator) -> None:
    emu.add_faults({"method": "POST", "path": "^/v4/images$", "times": 3, "status": 500})
    assert api.get(f"{emu.api_url}/images").status_code == 200  # GET does not use up the rule
    statuses = [api.post(f"{emu.api_url}/images", json={"disk_id": 2003}).status_code for _attempt in range(4)]
    assert statuses == [500, 500, 500, 200]
    rules = emu.control("GET", "faults").json()["rules"]
    assert rules[0]["fired"] == 3


def test_skip_lets_the_first_matches_through(api: requests.Session, emu: Emulator) -> None:
    emu.add_faults({"method": "GET", "path": "^/v4/images$", "skip": 2, "times": 1, "status": 500})
    statuses = [api.get(f"{emu.api_url}/images").status_code for _attempt in range(4)]
    assert statuses == [200, 200, 500, 200]
    assert emu.control("GET", "faults").json()["rules"][0]["fired"] == 1


def test_after_effect_server_acts_but_client_sees_502(api: requests.Session, emu: Emulator) -> None:
    emu.add_faults({"method": "POST", "path": "^/v4/images$", "times": 1, "status": 502, "after_effect": True})
    response = api.post(f"{emu.api_url}/images", json={"disk_id": 2001, "label": "ghost"})
    assert response.status_code == 502
    assert response.json()["errors"][0]["reason"] == "Bad Gateway"
    private = [i for i in emu.state()["images"] if i["label"] == "ghost"]
    assert len(private) == 1  # created exactly once, although the client saw an error
    assert private[0]["status"] == "creating"
    # A blind retry would now duplicate it; a careful client looks first.
    listed = api.get(f"{emu.api_url}/images", headers={"X-Filter": '{"label": "ghost"}'}).json()["data"]
    assert [i["id"] for i in listed] == [private[0]["id"]]


def test_rules_add_up_and_delete_clears_them(api: requests.Session, emu: Emulator) -> None:
    emu.add_faults({"path": "^/v4/profile$", "status": 500})
    answer = emu.add_faults({"path": "^/v4/account$", "status": 503})
    assert [r["path"] for r in answer["rules"]] == ["^/v4/profile$", "^/v4/account$"]
    assert api.get(f"{emu.api_url}/profile").status_code == 500
    assert api.get(f"{emu.api_url}/account").status_code == 503
    assert emu.control("DELETE", "faults").json() == {}
    assert api.get(f"{emu.api_url}/profile").status_code == 200
    assert api.get(f"{emu.api_url}/account").status_code == 200


def test_reset_clears_faults(api: requests.Session, emu: Emulator) -> None:
    emu.add_faults({"path": ".*", "status": 500})
    assert api.get(f"{emu.api_url}/profile").status_code == 500
    emu.reset()
    assert api.get(f"{emu.api_url}/profile").status_code == 200


def test_malformed_rules_are_refused(emu: Emulator) -> None:
    session = emu.control_session
    for rules in (
        [{"path": "(", "status": 500}],
        [{"path": ".*"}],
        [{"path": ".*", "status": 500, "colour": "red"}],
        [{"path": ".*", "probability": 2, "status": 500}],
        "not a list",
    ):
        response = session.post(f"{emu.url}/__emulator__/faults", json={"rules": rules})
        assert response.status_code == 400, rules
        assert response.json()["errors"][0]["reason"]
    assert session.get(f"{emu.url}/__emulator__/faults").json() == {"rules": []}
