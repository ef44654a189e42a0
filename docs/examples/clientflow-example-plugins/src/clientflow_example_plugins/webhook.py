"""The `webhook` notifier: POSTs each email as JSON, with its Message-ID as the Idempotency-Key.

Delivery is at least once: a crash after a POST and before the outbox records it sends the
email again after the lease. The `Idempotency-Key` header is the same on every try, so the
receiver can keep one copy. A 5xx answer, 408, 425, 429, a time-out or a refused connection
raise an ordinary error: the outbox tries again later. Any other 4xx answer, or a redirect,
raises PermanentFailure: trying again cannot help, so the message is parked as failed.

    notifiers = ["webhook"]

    [notifier.webhook]
    url = "https://hooks.example.com/clientflow"   # token: CLIENTFLOW_WEBHOOK_TOKEN=...
"""

from __future__ import annotations

import http.client
import json
import urllib.error
import urllib.request
from email.message import Message
from pathlib import Path
from typing import IO, Any

from clientflow.errors import ConfigError
from clientflow.hookspecs import RegisterNotifier, hookimpl
from clientflow.outbox import PermanentFailure
from clientflow.storage import Email

SETTINGS: dict[str, Any] = {
    "type": "object",
    "properties": {
        "url": {"type": "string", "description": "where to POST each email (http:// or https://)"},
        "token": {"type": "string", "secret": True, "description": "sent as Authorization: Bearer"},
        "timeout": {"type": "number", "exclusiveMinimum": 0, "description": "seconds"},
    },
    "required": ["url"],
    "additionalProperties": False,
}
LATER = {408, 425, 429}  # 4xx answers that mean "not now" rather than "never"


@hookimpl
def clientflow_register_notifiers(register: RegisterNotifier) -> None:
    register("webhook", WebhookNotifier, settings=SETTINGS)


class WebhookNotifier:
    """Sends each email to one URL."""

    name = "webhook"

    def __init__(
        self,
        url: str,
        token: str | None = None,
        timeout: float = 10,
        project_root: Path | None = None,  # every factory gets it; a web hook needs no files
    ) -> None:
        if not url.startswith(("http://", "https://")):
            raise ConfigError(f"the webhook url must start with http:// or https://, not {url!r}")
        self.url = url
        self.token = token
        self.timeout = timeout
        self.opener = urllib.request.build_opener(NoRedirects)

    def send(self, email: Email) -> None:
        key = email.message_id
        if not key or not all("!" <= c <= "~" for c in key):  # a header is one line of visible ASCII
            raise PermanentFailure(f"the message id {key!r} cannot be an Idempotency-Key header")
        headers = {"Content-Type": "application/json", "Idempotency-Key": key}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        body = {
            "id": email.id,
            "message_id": email.message_id,
            "from": email.sender,
            "to": list(email.to),
            "subject": email.subject,
            "text": email.text,
            "html": email.html,
            "template": email.template,
            "run": email.run,
        }
        data = json.dumps(body).encode("utf-8")
        request = urllib.request.Request(self.url, data=data, headers=headers, method="POST")
        try:
            with self.opener.open(request, timeout=self.timeout):
                pass  # any 2xx answer: delivered
        except urllib.error.HTTPError as exc:
            answer = f"the webhook answered {exc.code} {exc.reason}"
            if exc.code >= 500 or exc.code in LATER:
                raise ConnectionError(answer) from exc
            raise PermanentFailure(answer) from exc  # a redirect or a 4xx: fix the url or the token
        except (OSError, http.client.HTTPException) as exc:  # refused, reset, timed out, garbled
            raise ConnectionError(f"the webhook could not be reached: {exc}") from exc


class NoRedirects(urllib.request.HTTPRedirectHandler):
    """A redirect is answered as an error: following it would turn the POST into a GET."""

    def redirect_request(
        self,
        req: urllib.request.Request,
        fp: IO[bytes],
        code: int,
        msg: str,
        headers: Message,
        newurl: str,
    ) -> None:
        return None
