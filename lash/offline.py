"""`--offline` (or LASH_OFFLINE=1): forbid every network access of this process.

The Hugging Face libraries are switched to their offline modes, and Python-level sockets refuse
any address that is not this machine (torchrun's rendezvous on localhost keeps working), so a run
that would need the network fails at once with a message that says how to avoid it.
"""

from __future__ import annotations

import os
import socket

ENV = "LASH_OFFLINE"
_LOCAL_HOSTS = {"localhost", "127.0.0.1", "::1", "", None}
_FIX = ("Fix: set data.data_dir (or --config data_dir=... in the workflow, or LASH_DATA_DIR) to a "
        "local WikiText-2 directory, or drop --offline / LASH_OFFLINE")


class OfflineError(ConnectionRefusedError):
    """Raised by any attempt to reach the network while offline mode is on."""


def is_offline() -> bool:
    return os.environ.get(ENV, "").strip().lower() in ("1", "true", "yes")


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
