"""A small HTTP server on 127.0.0.1 for download tests: Range requests, drops, failures."""

from __future__ import annotations

import re
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

_RANGE = re.compile(r"bytes=(\d+)-")


class LocalServer:
    """Serves ``files`` (path -> bytes) from memory; records every request.

    ``drop_once[path] = n`` sends only ``n`` bytes of the next answer for ``path`` and
    closes the connection; ``fail[path] = k`` answers the next ``k`` requests with 503;
    paths in ``ignore_range`` answer a Range request with the whole file (200);
    ``announce[path] = n`` sends ``Content-Length: n`` whatever the body's length (a lie);
    paths in ``endless`` stream zeros without a ``Content-Length`` until the client leaves.
    """

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.drop_once: dict[str, int] = {}
        self.fail: dict[str, int] = {}
        self.ignore_range: set[str] = set()
        self.announce: dict[str, int] = {}
        self.endless: set[str] = set()
        self.requests: list[tuple[str, str | None]] = []
        self.statuses: list[int] = []
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._server.owner = self  # type: ignore[attr-defined]
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    @property
    def root(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def url(self, path: str) -> str:
        return f"{self.root}/{urllib.parse.quote(path)}"

    def __enter__(self) -> LocalServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


class _Handler(BaseHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # quiet
        pass

    def _status(self, code: int) -> None:
        self.server.owner.statuses.append(code)  # type: ignore[attr-defined]
        self.send_response(code)

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        owner: LocalServer = self.server.owner  # type: ignore[attr-defined]
        path = urllib.parse.unquote(self.path.lstrip("/"))
        requested = self.headers.get("Range")
        owner.requests.append((path, requested))
        if owner.fail.get(path):
            owner.fail[path] -= 1
            self._status(503)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if path in owner.endless:
            self._endless()
            return
        body = owner.files.get(path)
        if body is None:
            self._status(404)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        match = _RANGE.fullmatch(requested or "")
        start = 0
        if match and path not in owner.ignore_range:
            start = int(match[1])
            if start >= len(body):
                self._status(416)
                self.send_header("Content-Range", f"bytes */{len(body)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self._status(206)
            self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
        else:
            self._status(200)
        payload = body[start:]
        self.send_header("Content-Length", str(owner.announce.get(path, len(payload))))
        self.end_headers()
        cut = owner.drop_once.pop(path, None)
        self.wfile.write(payload if cut is None else payload[:cut])
        self.wfile.flush()
        self.close_connection = True

    def _endless(self) -> None:
        self._status(200)
        self.end_headers()
        block = bytes(1 << 16)
        try:
            while True:
                self.wfile.write(block)
        except OSError:  # the client closed the connection
            pass
        self.close_connection = True
