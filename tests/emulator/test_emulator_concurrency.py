"""200 clients at once, each on its own TLS connection, all get answers."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

from conftest import Emulator, new_session

CLIENTS = 200


def test_200_concurrent_tls_clients_all_get_200(emu: Emulator) -> None:
    sessions = [new_session(emu, timeout=60) for _client in range(CLIENTS)]
    # Everybody connects first and then waits, so all 200 connections are open
    # at the same time before the first real request goes out.
    barrier = threading.Barrier(CLIENTS, timeout=120)

    def client(index: int) -> tuple[int, int, int]:
        session = sessions[index]
        first = session.get(f"{emu.api_url}/profile")
        barrier.wait()
        second = session.get(f"{emu.api_url}/linode/instances/{1001 + index % 3}")
        return first.status_code, second.status_code, second.json()["id"]

    try:
        with ThreadPoolExecutor(max_workers=CLIENTS) as pool:
            results = list(pool.map(client, range(CLIENTS)))
    finally:
        for session in sessions:
            session.close()
    assert [(first, second) for first, second, _id in results] == [(200, 200)] * CLIENTS
    assert [linode_id for _first, _second, linode_id in results] == [1001 + n % 3 for n in range(CLIENTS)]
    log = emu.request_log()
    assert len(log) == 2 * CLIENTS
    assert {e["status"] for e in log} == {200}
