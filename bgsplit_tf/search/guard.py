"""What the labelling page's server checks before it answers: it lets in no one but the person who started it.

The page holds a user's labels and listens on 127.0.0.1, where every other web page open in the same
browser can send it requests. So every request must pass, in order:

- **Host**: exactly the loopback address and port it listens on (a DNS-rebinding page's requests carry
  its own domain in Host, and are refused).
- **A secret of this run**: the URL printed at start carries a random token; the first load trades it
  for an HttpOnly, SameSite=Strict cookie named after the port; every API call without the cookie (or
  the token in an X-Bgsplit-Token header, for scripts) is refused. Another page on 127.0.0.1 counts as
  the same *site* for cookies, so the cookie alone does not stop it; the next check does.
- **Writes only from the page itself**: a state-changing request needs Content-Type application/json
  (a cross-site page can send that only after a CORS preflight, which this server never grants), an
  Origin (when the browser sends one) equal to the page's own, and a Sec-Fetch-Site (when sent) of
  same-origin.
- **Bodies bounded and well-formed**: a Content-Length up to MAX_BODY_BYTES, a JSON object, each field
  of its type.

A refusal changes nothing and answers with the status and a one-line reason (Refused).
"""

from __future__ import annotations

import dataclasses
import hmac
import json
import secrets
import urllib.parse

LOOPBACK = "127.0.0.1"
MAX_BODY_BYTES = 16 * 1024
TOKEN_HEADER = "X-Bgsplit-Token"
# Headers on every answer: no sniffing of types, no framing, no caching, no referrer, no embedding elsewhere.
COMMON_HEADERS = {"X-Content-Type-Options": "nosniff", "X-Frame-Options": "DENY", "Cache-Control": "no-store",
                  "Referrer-Policy": "no-referrer", "Cross-Origin-Resource-Policy": "same-origin"}
# The page's own policy: scripts, styles and images from this server only, none inline, no plugins or forms.
PAGE_POLICY = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
               "base-uri 'none'; form-action 'none'; frame-ancestors 'none'")


class Refused(Exception):
    """A request the page does not answer: HTTP status `code` and a one-line reason."""

    def __init__(self, code: int, reason: str):
        super().__init__(reason)
        self.code, self.reason = code, reason


@dataclasses.dataclass(frozen=True)
class Guard:
    """The checks of one server listening on LOOPBACK:port, with this run's secret token."""

    port: int
    token: str = dataclasses.field(default_factory=lambda: secrets.token_urlsafe(32), repr=False)

    @property
    def origin(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    @property
    def url(self) -> str:
        """The way in: the page's address with the token (printed at start)."""
        return f"{self.origin}/?token={self.token}"

    @property
    def cookie_name(self) -> str:
        # Cookies are not kept apart by port: one name per port keeps two searches' tokens apart.
        return f"bgsplit_search_{self.port}"

    def session_cookie(self) -> str:
        """The Set-Cookie value that carries the token after the first load."""
        return f"{self.cookie_name}={self.token}; Path=/; HttpOnly; SameSite=Strict"

    def check_host(self, headers) -> None:
        """Refuses a request whose Host is not LOOPBACK:port (DNS rebinding, or a proxy's)."""
        if headers.get("Host") != f"{LOOPBACK}:{self.port}":
            raise Refused(403, f"this page answers only at {self.origin}, not at host {headers.get('Host')!r}")

    def _matches(self, candidate: str | None) -> bool:
        return bool(candidate) and hmac.compare_digest(candidate.encode(), self.token.encode())

    def token_in_query(self, query: str) -> bool:
        """Whether a URL's query carries this run's token (the printed URL)."""
        return self._matches(urllib.parse.parse_qs(query).get("token", [""])[0])

    def check_token(self, headers) -> None:
        """Refuses a request without this run's token, in its cookie or the X-Bgsplit-Token header."""
        cookies = {}
        for part in (headers.get("Cookie") or "").split(";"):
            name, _, value = part.strip().partition("=")
            cookies[name] = value
        if not (self._matches(cookies.get(self.cookie_name)) or self._matches(headers.get(TOKEN_HEADER))):
            raise Refused(403, "this run's token is missing or wrong: open the URL bgsplit-search printed at start "
                               "(it carries the token)")

    def check_write(self, headers) -> None:
        """Refuses a state-changing request that is not the page's own (module docstring)."""
        origin = headers.get("Origin")
        if origin is not None and origin != self.origin:
            raise Refused(403, f"requests from {origin} may not change this search")
        site = headers.get("Sec-Fetch-Site")
        if site is not None and site not in ("same-origin", "none"):
            raise Refused(403, f"a {site} request may not change this search")
        media_type = (headers.get("Content-Type") or "").split(";")[0].strip().lower()
        if media_type != "application/json":
            raise Refused(415, f"send Content-Type: application/json, not {media_type or 'none'!r}")

    def read_json(self, headers, stream) -> dict:
        """The request's body as a JSON object, read from `stream` after its Content-Length is checked."""
        length = headers.get("Content-Length")
        if length is None:
            raise Refused(411, "send a Content-Length")
        try:
            size = int(length)
        except ValueError:
            raise Refused(400, f"Content-Length {length!r} is not a number") from None
        if size < 0:
            raise Refused(400, f"Content-Length {size} is negative")
        if size > MAX_BODY_BYTES:
            raise Refused(413, f"a body of {size} bytes is above the limit of {MAX_BODY_BYTES}")
        raw = stream.read(size)
        if len(raw) != size:
            raise Refused(400, f"the body ended after {len(raw)} of its {size} bytes")
        try:
            body = json.loads(raw or b"{}")
        except (json.JSONDecodeError, UnicodeDecodeError) as error:
            raise Refused(400, f"the body is not JSON: {error}") from None
        if not isinstance(body, dict):
            raise Refused(400, f"the body must be a JSON object, not {type(body).__name__}")
        return body


def field(body: dict, name: str, kind: type, default=None):
    """body[name], refused (400) when missing (without a default) or not of `kind`."""
    if name not in body:
        if default is None:
            raise Refused(400, f"field {name!r} is missing")
        return default
    value = body[name]
    if type(value) is not kind:  # exact: a bool is not an int, a number is not a string
        raise Refused(400, f"field {name!r} must be a {kind.__name__}, not {type(value).__name__}")
    return value
