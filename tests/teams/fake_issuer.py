"""A fake Bot Framework token issuer on loopback: OpenID metadata and a JWKS with one RSA key, and
tokens signed with it the way the Bot Connector signs the tokens it sends to bots.

It serves from its own thread (stdlib `http.server`), not from the test's event loop: botbuilder
fetches the metadata with blocking `requests` calls on the event loop, so an aiohttp fake on the same
loop could never answer.
"""

from __future__ import annotations

import base64
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from jwt.algorithms import RSAAlgorithm

BOT_CONNECTOR_ISSUER = "https://api.botframework.com"
KEY_ID = "fake-key-1"


class FakeIssuer:
    def __init__(self, *, endorsements: tuple[str, ...] = ("msteams",)) -> None:
        self._key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        jwk = json.loads(RSAAlgorithm.to_jwk(self._key.public_key()))
        self.jwks = {"keys": [{**jwk, "kid": KEY_ID, "use": "sig", "endorsements": list(endorsements)}]}
        self.requests = 0
        self.delay_s = 0.0  # before each answer: a slow (or, with a long delay, hanging) issuer
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def metadata_url(self) -> str:
        return f"{self.base_url}/v1/.well-known/openidconfiguration"

    def start(self) -> None:
        self._thread.start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def token(self, *, app_id: str, service_url: str | None, kid: Any = KEY_ID, **claims: Any) -> str:
        """A Bot Connector token for `app_id`; `service_url=None` leaves the serviceurl claim out."""
        now = int(time.time())
        payload: dict[str, Any] = {"iss": BOT_CONNECTOR_ISSUER, "aud": app_id, "nbf": now - 10,
                                   "exp": now + 600}
        if service_url is not None:
            payload["serviceurl"] = service_url
        payload.update(claims)
        return self.sign({"alg": "RS256", "typ": "JWT", "kid": kid}, payload)

    def sign(self, header: Any, payload: Any) -> str:
        """A JWS over any JSON header and payload, signed RS256 with the published key (PyJWT's `encode`
        refuses some of the odd values the fuzz tests need, e.g. a key id that is no string)."""
        signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(payload).encode())}"
        signature = self._key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
        return f"{signing_input}.{_b64(signature)}"

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        issuer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                issuer.requests += 1
                time.sleep(issuer.delay_s)
                if self.path.endswith("/openidconfiguration"):
                    body = {"issuer": BOT_CONNECTOR_ISSUER, "jwks_uri": f"{issuer.base_url}/v1/keys",
                            "id_token_signing_alg_values_supported": ["RS256"]}
                elif self.path == "/v1/keys":
                    body = issuer.jwks
                else:
                    self.send_error(404)
                    return
                data = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:  # quiet test output
                pass

        return Handler


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()
