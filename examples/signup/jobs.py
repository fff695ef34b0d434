"""The signup example's worker module.

    brokerctl worker examples.signup.jobs --target 127.0.0.1:50051

Two kinds of job: ``send_welcome_email`` (async, I/O) and ``make_avatar`` (CPU-bound, run
in the worker's process pool). Both are idempotent, because the broker delivers at least once.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import pathlib
from email.message import EmailMessage

from broker_client import JobContext, PermanentError, Worker

from .mail import FileMailer

worker = Worker(["signup"], concurrency=16, lease_duration=30)
# Where the example "sends" mail and writes avatars; a real app would hold an SMTP/API client.
OUTPUT = pathlib.Path(os.environ.get("SIGNUP_OUTPUT", "signup-output"))
mailer = FileMailer(OUTPUT / "outbox")


@worker.handler("send_welcome_email", timeout=30)
async def send_welcome_email(ctx: JobContext) -> bool:
    """Email a new user once, however often the job is delivered."""
    user = ctx.json()
    if "@" not in user.get("email", ""):
        raise PermanentError(f"not an email address: {user.get('email')!r}")  # retrying won't fix it
    message = EmailMessage()
    message["To"] = user["email"]
    message["From"] = "hello@example.com"
    message["Subject"] = f"Welcome, {user.get('name') or 'friend'}!"
    # The same id on every delivery lets the mail provider (and our outbox) drop duplicates.
    message["Message-ID"] = f"<{ctx.idempotency_key or ctx.id}@example.com>"
    message.set_content("Thanks for signing up.")
    return await asyncio.to_thread(mailer.send_once, ctx.idempotency_key or ctx.id, message)


@worker.handler("make_avatar", cpu_bound=True)
def make_avatar(ctx: JobContext) -> str:
    """Draw a 5x5 identicon for the user's email: same input, same file, so redelivery is harmless."""
    digest = hashlib.sha256(ctx.json()["email"].strip().lower().encode()).hexdigest()
    colour = f"#{digest[:6]}"
    cells = [(x, y) for y in range(5) for x in range(3) if int(digest[6 + y * 3 + x], 16) % 2]
    rects = "".join(f'<rect x="{x * 10}" y="{y * 10}" width="10" height="10"/>'
                    f'<rect x="{(4 - x) * 10}" y="{y * 10}" width="10" height="10"/>' for x, y in cells)
    path = OUTPUT / "avatars" / f"{digest[:16]}.svg"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 50 50" fill="{colour}">{rects}</svg>')
    return str(path)
