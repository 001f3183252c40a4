"""Loaded by every Python process started with this folder on PYTHONPATH (tests only).

Refuses connections to anything but loopback, so a notebook that tries to download
(a hub model, a data set) fails loudly in the tests instead of working by luck.
Kernels still talk to the test process over loopback ZeroMQ, which stays allowed.
"""

import ipaddress
import os
import socket

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")


def _is_local(address) -> bool:
    if not isinstance(address, tuple):  # AF_UNIX path
        return True
    host = address[0]
    if host in ("localhost", ""):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


_connect, _connect_ex = socket.socket.connect, socket.socket.connect_ex


def _guarded(original):
    def connect(self, address):
        if not _is_local(address):
            raise OSError(f"network access is blocked in the course tests (tried {address!r})")
        return original(self, address)

    return connect


socket.socket.connect = _guarded(_connect)
socket.socket.connect_ex = _guarded(_connect_ex)
