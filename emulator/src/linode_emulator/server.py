"""HTTP(S) plumbing: a threading server on 127.0.0.1 that feeds the emulator.

Why the stdlib server is enough: one thread per connection with HTTP/1.1
keep-alive, a listen backlog of 1024, and the TLS handshake done in the
connection's own thread (not in the accept loop), so 200 clients connecting
at once are all accepted and served. Threads are daemons, so a hanging fault
or an idle keep-alive connection never holds up shutdown.
"""

from __future__ import annotations

import logging
import socket
import socketserver
import ssl
import struct
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from .app import Emulator, Reply
from .errors import ApiError
from .http_types import Request, Response

log = logging.getLogger("linode_emulator.server")
access_log = logging.getLogger("linode_emulator.access")

HANDSHAKE_TIMEOUT_S = 30.0
IDLE_TIMEOUT_S = 300.0
MAX_BODY_BYTES = 10 * 1024 * 1024


class EmulatorRequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "linode-emulator"
    sys_version = ""
    timeout = IDLE_TIMEOUT_S  # idle keep-alive connections end eventually
    # Headers and body go out in separate writes; with Nagle's algorithm and the
    # client's delayed ACK every keep-alive response would stall for ~40 ms.
    disable_nagle_algorithm = True
    server: "EmulatorHTTPServer"

    reset_connection = False

    def do_GET(self) -> None:
        self._dispatch()

    do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = do_GET

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            return b"".join(chunks)
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY_BYTES:
            raise ApiError(413, "Request body too large")
        return self.rfile.read(length) if length > 0 else b""

    def _dispatch(self) -> None:
        emulator = self.server.emulator
        received = time.time()
        split = urlsplit(self.path)
        try:
            body = self._read_body()
        except ValueError:
            self._send(Response(400, {"errors": [{"reason": "Malformed request body"}]}))
            self.close_connection = True
            return
        except ApiError as error:
            self._send(Response.from_error(error))
            self.close_connection = True
            return
        request = Request(
            method=self.command,
            raw_path=split.path,
            query=split.query,
            headers={k.lower(): v for k, v in self.headers.items()},
            body=body,
            received=received,
        )
        try:
            reply = emulator.handle(request)
        except Exception:  # a bug must not kill the connection silently
            log.exception("internal error on %s %s", self.command, self.path)
            reply = Reply("respond", Response(500, {"errors": [{"reason": "Internal emulator error"}]}))
        if reply.kind == "reset":
            self._reset()
        elif reply.kind == "hang":
            access_log.info("%s %s -> (hang)", self.command, self.path)
            emulator.stopping.wait()
            self.close_connection = True
        else:
            assert reply.response is not None
            self._send(reply.response)

    def _send(self, response: Response) -> None:
        payload = response.encode()
        self.send_response(response.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)

    def _reset(self) -> None:
        """Close without an answer; SO_LINGER 0 makes it a TCP reset, as a crashed proxy would."""
        access_log.info("%s %s -> (reset)", self.command, self.path)
        try:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
        self.reset_connection = True
        self.close_connection = True

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (stdlib signature)
        access_log.info("%s %s", self.address_string(), format % args)


class EmulatorHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 1024
    allow_reuse_address = True

    def __init__(self, port: int, emulator: Emulator, ssl_context: ssl.SSLContext | None) -> None:
        self.emulator = emulator
        self.ssl_context = ssl_context
        super().__init__(("127.0.0.1", port), EmulatorRequestHandler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind calls getfqdn(), a reverse DNS lookup that can
        # stall for seconds on machines without working DNS. Loopback needs none.
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = "127.0.0.1", self.server_address[1]

    @property
    def port(self) -> int:
        return self.server_address[1]

    def process_request_thread(self, request: socket.socket, client_address: Any) -> None:
        connection: socket.socket = request
        reset = False
        try:
            if self.ssl_context is not None:
                # Handshake here, in the connection's thread, so one slow client
                # cannot stall the accept loop for everybody else.
                request.settimeout(HANDSHAKE_TIMEOUT_S)
                connection = self.ssl_context.wrap_socket(request, server_side=True)
                connection.settimeout(None)
            handler = self.RequestHandlerClass(connection, client_address, self)
            reset = handler.reset_connection
        except (ssl.SSLError, ConnectionError, socket.timeout) as exc:
            log.debug("connection from %s ended early: %s", client_address, exc)
        except Exception:
            self.handle_error(request, client_address)
        finally:
            if reset:
                connection.close()
            else:
                self.shutdown_request(connection)


def run_ticker(emulator: Emulator) -> threading.Thread:
    """Fire job steps at their deadlines even when nobody polls (for power hooks)."""
    state = emulator.state

    def loop() -> None:
        while not emulator.stopping.is_set():
            with state.timers_changed:
                deadline = state.next_deadline()
                wait = 1.0 if deadline is None else deadline - state.clock.now()
                if wait > 0:
                    state.timers_changed.wait(timeout=min(wait, 1.0))
            try:
                state.advance()
            except Exception:
                log.exception("ticker failed to advance the state")

    thread = threading.Thread(target=loop, name="emulator-ticker", daemon=True)
    thread.start()
    return thread
