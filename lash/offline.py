"""`--offline` (or LASH_OFFLINE=1): forbid every network access of this process.

The Hugging Face libraries are switched to their offline modes, and Python-level sockets refuse
any address that is not this machine (torchrun's rendezvous on localhost keeps working), so a run
that would need the network fails at once with a message that says how to avoid it.
"""

from __future__ import annotations

import os
import socket
import threading
from urllib.parse import urlparse

ENV = "LASH_OFFLINE"
_LOCAL_HOSTS = {"localhost", "127.0.0.1", "::1", "", None}
_FIX = ("Fix: set data.data_dir (or --config data_dir=... in the workflow, or LASH_DATA_DIR) to a "
        "local WikiText-2 directory, or drop --offline / LASH_OFFLINE")


class OfflineError(ConnectionRefusedError):
    """Raised by any attempt to reach the network while offline mode is on."""


def is_offline() -> bool:
    return os.environ.get(ENV, "").strip().lower() in ("1", "true", "yes")


def hub_cache_only() -> bool:
    """The Hugging Face libraries will not touch the network (lash's or their own offline mode)."""
    flags = (os.environ.get(v, "").strip().lower() for v in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE"))
    return is_offline() or any(f in ("1", "true", "yes", "on") for f in flags)


def hub_address() -> tuple[str, int]:
    """(host, port) of the Hugging Face hub this process would use (HF_ENDPOINT, else huggingface.co)."""
    url = urlparse(os.environ.get("HF_ENDPOINT") or "https://huggingface.co")
    return url.hostname or "huggingface.co", url.port or (80 if url.scheme == "http" else 443)


def hub_unreachable_reason(timeout: float = 5.0) -> str | None:
    """None when a TCP connection to the hub opens within `timeout` seconds, else why not. Asked once
    before loading, so that a machine without network gives up at once instead of after the Hugging
    Face libraries' retries. The lookup runs in a thread: getaddrinfo itself has no timeout."""
    host, port = hub_address()
    outcome: list[str | None] = []

    def probe() -> None:
        try:
            socket.create_connection((host, port), timeout=timeout).close()
            outcome.append(None)
        except OSError as exc:
            outcome.append(exc.strerror or str(exc) or type(exc).__name__)

    thread = threading.Thread(target=probe, daemon=True)
    thread.start()
    thread.join(timeout)
    if not outcome:
        return f"{host}:{port}: no answer within {timeout:g} s"
    return None if outcome[0] is None else f"{host}:{port}: {outcome[0]}"


def _is_local(host) -> bool:
    if isinstance(host, bytes):
        host = host.decode()
    return host in _LOCAL_HOSTS or (isinstance(host, str) and host.startswith("127."))


def _refuse(host) -> None:
    raise OfflineError(f"network access to {host!r} refused: lash runs offline. {_FIX}")


def enable_offline() -> None:
    """Turn offline mode on for this process and its children (idempotent)."""
    os.environ[ENV] = "1"
    for var in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE"):
        os.environ[var] = "1"
    if getattr(socket, "_lash_offline", False):
        return
    real_getaddrinfo, real_connect = socket.getaddrinfo, socket.socket.connect

    def getaddrinfo(host, *args, **kwargs):
        if not _is_local(host):
            _refuse(host)
        return real_getaddrinfo(host, *args, **kwargs)

    def connect(self, address):
        if self.family in (socket.AF_INET, socket.AF_INET6) and not _is_local(address[0]):
            _refuse(address[0])
        return real_connect(self, address)

    socket.getaddrinfo = getaddrinfo
    socket.socket.connect = connect
    socket._lash_offline = True
