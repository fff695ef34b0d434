"""A mailer that writes .eml files: stands in for SMTP or an email API in the example."""

from __future__ import annotations

import os
import pathlib
import re
import tempfile
from email.message import EmailMessage


class FileMailer:
    """Delivers each message at most once per key: the key names the file, so a redelivered
    job finds its message already there and sends nothing (the idempotency recipe)."""

    def __init__(self, directory: pathlib.Path) -> None:
        self.directory = directory

    def send_once(self, key: str, message: EmailMessage) -> bool:
        """Write ``message`` under ``key``; False when that key was already sent."""
        self.directory.mkdir(parents=True, exist_ok=True)
        path = self.directory / (re.sub(r"[^A-Za-z0-9_.-]", "_", key) + ".eml")
        if path.exists():
            return False
        # Write then rename: a worker killed halfway leaves no half message behind.
        with tempfile.NamedTemporaryFile("wb", dir=self.directory, delete=False) as tmp:
            tmp.write(bytes(message))
        os.replace(tmp.name, path)
        return True

    def sent(self) -> list[pathlib.Path]:
        return sorted(self.directory.glob("*.eml")) if self.directory.exists() else []
