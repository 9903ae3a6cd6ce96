# -*- coding: utf-8 -*-
# Copyright (c) golden_image.linode contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A loopback HTTPS pass-through in front of the Linode API emulator, for endpoints it does not serve.

linode.cloud's ``instance`` module reads ``GET /linode/instances/{id}/ips`` at the end of every call
(for its ``networking`` result), an endpoint of the Linode API that the emulator does not implement:
without it every ``linode.cloud.instance`` task fails with a 404 that no real account would answer.
The fleet benchmark therefore puts this shim between linode.cloud and the emulator when (and only
when) the emulator answers that endpoint 404: it answers ``/ips`` itself from the emulator's state
(the instance's public IPv4 and its IPv6 SLAAC address) and forwards every other request unchanged,
status, headers (rate-limit headers, ``Retry-After``) and body included, so the emulator still logs,
rate-limits and answers them. The requests it answers itself are logged here and added to the
benchmark's counts; they do not count against the emulator's rate limits (which favours linode.cloud).

It binds 127.0.0.1 only and serves the emulator's own server certificate, so the emulator's CA
trusts it. Every upstream request has a timeout.
"""

from __future__ import annotations

import http.client
import http.server
import json
import re
import socketserver
import ssl
import threading
import time
import urllib.parse

UPSTREAM_TIMEOUT_S = 60
IPS_PATH = re.compile(r"^/v4(?:beta)?/linode/instances/(\d+)/ips$")
# Hop-by-hop headers are not forwarded (RFC 9110 7.6.1); Content-Length is recomputed.
HOP_BY_HOP = frozenset(("connection", "keep-alive", "proxy-connection", "transfer-encoding", "te", "trailer", "upgrade",
                        "host", "content-length"))


def ips_body(linode: dict) -> dict:
    """``GET /linode/instances/{id}/ips`` in the API's LinodeIPs shape, from an instance of the emulator's state."""
    address = (linode.get("ipv4") or ["192.0.2.1"])[0]
    region = linode.get("region")
    public = [{"address": address, "gateway": address.rsplit(".", 1)[0] + ".1", "subnet_mask": "255.255.255.0",
               "prefix": 24, "type": "ipv4", "public": True, "rdns": None, "linode_id": linode["id"], "region": region,
               "vpc_nat_1_1": None, "reserved": False}]
    ipv6 = (linode.get("ipv6") or "").split("/")[0] or None
    slaac = {"address": ipv6, "gateway": "fe80::1", "subnet_mask": "ffff:ffff:ffff:ffff::", "prefix": 64,
             "type": "ipv6", "public": True, "rdns": None, "linode_id": linode["id"], "region": region} if ipv6 else None
    return {"ipv4": {"public": public, "private": [], "shared": [], "reserved": [], "vpc": []},
            "ipv6": {"slaac": slaac, "link_local": None, "global": []}}


class _Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def handle_error(self, request, client_address):
        # A client that went away mid-handshake or mid-request: nothing to report for a benchmark.
        return


class ApiShim(object):
    """Serve ``/ips`` from ``linodes`` (the emulator's state), forward the rest to ``upstream`` (its ``url``)."""

    def __init__(self, upstream: str, ca_file: str, cert_file: str, key_file: str, linodes: list) -> None:
        parsed = urllib.parse.urlsplit(upstream)
        self.upstream_host = parsed.hostname
        self.upstream_port = parsed.port
        self.client_context = ssl.create_default_context(cafile=ca_file)
        self.server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.server_context.load_cert_chain(cert_file, key_file)
        self.linodes = dict((int(linode["id"]), linode) for linode in linodes)
        self.log = []
        self.lock = threading.Lock()
        self.server = None
        self.thread = None
        self.url = None

    def start(self) -> str:
        shim = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            upstream = None

            def setup(self):
                # The TLS handshake happens in this connection's own thread, not in the accepting one.
                self.request = shim.server_context.wrap_socket(self.request, server_side=True)
                super().setup()

            def log_message(self, format, *args):  # pylint: disable=redefined-builtin
                return

            def _answer(self, status: int, headers: list, body: bytes) -> None:
                self.send_response(status)
                for name, value in headers:
                    if name.lower() not in HOP_BY_HOP:
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _handle(self) -> None:
                arrived = time.time()
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                path = urllib.parse.urlsplit(self.path).path
                found = IPS_PATH.match(path)
                if self.command == "GET" and found:
                    linode = shim.linodes.get(int(found.group(1)))
                    if linode is None:
                        status, payload = 404, {"errors": [{"reason": "Not found"}]}
                    else:
                        status, payload = 200, ips_body(linode)
                    with shim.lock:
                        shim.log.append({"method": "GET", "path": path, "status": status, "time": arrived})
                    self._answer(status, [("Content-Type", "application/json")], json.dumps(payload).encode("utf-8"))
                    return
                headers = dict((k, v) for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP)
                for attempt in (1, 2):
                    if self.upstream is None:
                        self.upstream = http.client.HTTPSConnection(shim.upstream_host, shim.upstream_port,
                                                                    context=shim.client_context, timeout=UPSTREAM_TIMEOUT_S)
                    try:
                        self.upstream.request(self.command, self.path, body=body, headers=headers)
                        answer = self.upstream.getresponse()
                        data = answer.read()
                        break
                    except (http.client.HTTPException, OSError):
                        # A kept-alive upstream connection the emulator closed: reconnect once.
                        self.upstream.close()
                        self.upstream = None
                        if attempt == 2:
                            self._answer(502, [("Content-Type", "application/json")],
                                         b'{"errors": [{"reason": "bench shim: the emulator did not answer"}]}')
                            return
                self._answer(answer.status, answer.getheaders(), data)

            do_GET = _handle
            do_POST = _handle
            do_PUT = _handle
            do_DELETE = _handle

            def finish(self):
                if self.upstream is not None:
                    self.upstream.close()
                super().finish()

        self.server = _Server(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True)
        self.thread.start()
        self.url = "https://127.0.0.1:%d" % self.server.server_address[1]
        return self.url

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.thread.join(10)
            self.server = None

    def requests(self) -> list:
        with self.lock:
            return list(self.log)
