"""How a member signs a request to the operator API (shared by the member client and the
server, which checks it in :mod:`.auth`; no HTTP framework here).

Four headers carry the signature:

    X-Zkclear-Address    the signer's account (checksummed or lower case)
    X-Zkclear-Timestamp  unix seconds
    X-Zkclear-Nonce      16-64 characters [A-Za-z0-9_-], never reused by that account
    X-Zkclear-Signature  EIP-191 personal_sign over :func:`canonical_request`

The signed text is ``zkclear-request-v1``, the pool id, the method, the path (with its
query), the timestamp, the nonce and the SHA-256 of the body, one per line.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import time
from typing import Any

from eth_account import Account
from eth_account.messages import encode_defunct

__all__ = ["ADDRESS", "NONCE", "NONCE_FORMAT", "SIGNATURE", "SIGNATURE_DOMAIN", "TIMESTAMP",
           "canonical_request", "recover_signer", "sign_request"]

SIGNATURE_DOMAIN = "zkclear-request-v1"
ADDRESS, TIMESTAMP = "X-Zkclear-Address", "X-Zkclear-Timestamp"
NONCE, SIGNATURE = "X-Zkclear-Nonce", "X-Zkclear-Signature"
#: What a request nonce must look like.
NONCE_FORMAT = re.compile(r"^[A-Za-z0-9_-]{16,64}$")


def canonical_request(pool_id: str, method: str, path: str, timestamp: int, nonce: str,
                      body: bytes) -> str:
    """The text a member signs for one request."""
    return "\n".join([SIGNATURE_DOMAIN, pool_id, method.upper(), path, str(timestamp), nonce,
                      hashlib.sha256(body).hexdigest()])


def sign_request(private_key: Any, pool_id: str, method: str, path: str, body: bytes, *,
                 timestamp: int | None = None, nonce: str | None = None) -> dict[str, str]:
    """The authentication headers of a request signed with ``private_key``."""
    ts = int(time.time()) if timestamp is None else timestamp
    nonce = nonce or secrets.token_urlsafe(24)
    acct = Account.from_key(private_key)
    msg = encode_defunct(text=canonical_request(pool_id, method, path, ts, nonce, body))
    sig = acct.sign_message(msg).signature.hex()
    return {ADDRESS: acct.address, TIMESTAMP: str(ts), NONCE: nonce,
            SIGNATURE: sig if sig.startswith("0x") else "0x" + sig}


def recover_signer(pool_id: str, method: str, path: str, timestamp: int, nonce: str,
                   body: bytes, signature: str) -> str:
    """The account that signed this request (raises on a signature that does not parse)."""
    text = canonical_request(pool_id, method, path, timestamp, nonce, body)
    return str(Account.recover_message(encode_defunct(text=text), signature=signature))
