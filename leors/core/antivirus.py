"""A minimal client for clamd (the ClamAV daemon): every upload is streamed to it before it is stored.

The daemon is named by the setting LEORS_CLAMD: "unix:///run/clamav/clamd.ctl" or
"tcp://127.0.0.1:3310"; empty means no scanning (the local demo). It speaks clamd's INSTREAM
command: "zINSTREAM\\0", then chunks each preceded by its length as 4 bytes big-endian, then a
zero length; clamd answers "stream: OK" or "stream: <signature> FOUND" (NUL-terminated, because of
the "z" prefix). Written here rather than taken from PyPI: the clients there (clamd, pyclamd) are
unmaintained for a decade and this protocol is a few lines.
"""

from __future__ import annotations

import socket
import struct
from typing import IO
from urllib.parse import urlsplit

from django.conf import settings

CHUNK_BYTES = 64 * 1024


class ScannerUnavailable(Exception):
    """clamd could not be reached or gave no verdict: the caller must refuse the upload (fail closed)."""


def is_configured() -> bool:
    return bool(settings.LEORS_CLAMD)


def address_problem(address: str) -> str | None:
    """Why `address` is not a clamd address we can use, or None (the settings check it at start-up)."""
    parts = urlsplit(address)
    if parts.scheme == "unix" and parts.path and not parts.netloc:
        return None
    if parts.scheme == "tcp" and parts.hostname:
        try:
            if parts.port is not None:
                return None
        except ValueError:
            pass
    return f"LEORS_CLAMD={address!r} is not a clamd address; use unix:///path/to/clamd.ctl or tcp://host:3310."


def _connect(address: str, timeout: float) -> socket.socket:
    problem = address_problem(address)
    if problem:
        raise ScannerUnavailable(problem)
    parts = urlsplit(address)
    try:
        if parts.scheme == "unix":
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.settimeout(timeout)
            try:
                sock.connect(parts.path)
            except OSError:
                sock.close()
                raise
            return sock
        return socket.create_connection((parts.hostname or "", parts.port or 3310), timeout=timeout)
    except OSError as error:
        raise ScannerUnavailable(f"clamd at {address} cannot be reached: {error}") from error


def _reply(sock: socket.socket) -> str:
    data = b""
    while not data.endswith(b"\0"):
        chunk = sock.recv(4096)
        if not chunk:
            break
        data += chunk
    return data.rstrip(b"\0").decode("utf-8", "replace").strip()


def scan(stream: IO[bytes], *, address: str | None = None) -> str | None:
    """Stream `stream` from its current position to clamd; return the signature name if infected.

    Returns None when clamd answers "OK". Raises ScannerUnavailable when no scanner is configured,
    when clamd cannot be reached, or when it answers anything but a verdict (e.g. its
    StreamMaxLength was exceeded): the caller refuses the upload rather than store it unscanned.
    """
    address = address if address is not None else settings.LEORS_CLAMD
    if not address:
        raise ScannerUnavailable("No virus scanner is configured (LEORS_CLAMD is empty).")
    sock = _connect(address, float(settings.LEORS_CLAMD_TIMEOUT))
    try:
        try:
            sock.sendall(b"zINSTREAM\0")
            while chunk := stream.read(CHUNK_BYTES):
                sock.sendall(struct.pack("!L", len(chunk)) + chunk)
            sock.sendall(struct.pack("!L", 0))
            answer = _reply(sock)
        except OSError as error:  # includes a timeout, and clamd closing on a stream over its limit
            raise ScannerUnavailable(f"clamd at {address} failed during the scan: {error}") from error
    finally:
        sock.close()
    if answer == "stream: OK":
        return None
    if answer.startswith("stream: ") and answer.endswith(" FOUND"):
        return answer.removeprefix("stream: ").removesuffix(" FOUND").strip() or "unknown signature"
    raise ScannerUnavailable(f"clamd at {address} gave no verdict: {answer or 'no answer'}")
