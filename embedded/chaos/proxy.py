"""A TCP proxy in front of a server, that the fault suite closes (refusing and cutting every connection) and
reopens: an outage of a shared server (the PostgreSQL audit store), without stopping the server.

While closed, its port refuses new connections and those it carried are cut; reopened, it listens on the same port.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable
    from types import TracebackType

_CHUNK = 65_536


class TcpProxy:
    """Forwards connections made to 127.0.0.1:`port` to `target`, until closed."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self._target = (target_host, target_port)
        self._lock = threading.Lock()
        self._sockets: set[socket.socket] = set()
        self._listener: socket.socket | None = None
        self._threads: list[threading.Thread] = []
        self.port = 0

    def __enter__(self) -> TcpProxy:
        self.open()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.close()
        for thread in self._threads:
            thread.join(timeout=5)

    @property
    def is_open(self) -> bool:
        """Whether the proxy accepts connections now."""
        return self._listener is not None

    def open(self) -> None:
        """Listen (again, on the same port once it had one) and forward every connection made."""
        if self._listener is not None:
            return
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self.port = listener.getsockname()[1]
        self._listener = listener
        self._start(self._accept, listener)

    def close(self) -> None:
        """Refuse new connections and cut those open, on both sides."""
        listener, self._listener = self._listener, None
        if listener is not None:
            _shut(listener)
        with self._lock:
            carried, self._sockets = self._sockets, set()
        for connection in carried:
            _shut(connection)

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            try:
                server = socket.create_connection(self._target, timeout=5)
            except OSError:
                _shut(client)
                continue
            server.settimeout(None)
            with self._lock:
                if self._listener is not listener:
                    _shut(client)
                    _shut(server)
                    return
                self._sockets.update((client, server))
            self._start(self._pump, client, server)
            self._start(self._pump, server, client)

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(_CHUNK):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            with self._lock:
                self._sockets.discard(source)
                self._sockets.discard(sink)
            _shut(source)
            _shut(sink)

    def _start(self, target: Callable[..., None], *arguments: socket.socket) -> None:
        thread = threading.Thread(target=target, args=arguments, daemon=True)
        thread.start()
        self._threads = [running for running in self._threads if running.is_alive()] + [thread]


def _shut(connection: socket.socket) -> None:
    with contextlib.suppress(OSError):
        connection.shutdown(socket.SHUT_RDWR)
    connection.close()
