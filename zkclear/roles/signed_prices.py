"""An oracle reporter's signed post, and a quorum of them submitted in one transaction
(docs/protocol.md, "Oracle", signed posts; ``PriceOracle.postSignedMarks``).

:func:`sign_prices` (``zkclear oracle sign``) signs a reporter's post for an epoch and
writes it to a ``zkclear-signed-prices-v1`` file (:class:`zkclear.schemas.SignedPricesFile`,
published as ``docs/schemas/signed-prices.json``): no transaction, no gas. The
signature binds the chain, the oracle, the epoch and every value of the post::

    {"format": "zkclear-signed-prices-v1", "chain_id": 31337, "oracle": "0x…",
     "epoch": 1, "reporter": "0x…", "observed_at": 1767000000,
     "prices": [1015, 1095], "funding": [0, 0],
     "venues": [{"name": "alpha", "prices": [1000, 1080]}, …],
     "v": 27, "r": "0x…", "s": "0x…"}

:func:`post_signed_prices` (``zkclear oracle post-signed``; any account with gas) reads
a quorum of such files and refuses, before anything is sent, a file that is malformed or
for another chain, oracle or epoch, whose signature does not recover to its reporter
(altered after signing), two files of one reporter, a signer who is not a reporter, and
a number of files other than the oracle's quorum.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from zkclear.fsutil import write_atomic
from zkclear.roles.admin import RoleError, _client, _price_state, _sender, post_values
from zkclear.schemas import SignedPricesFile, dump, hex_value, load

SIGNED_PRICES = "the signed prices"


def sign_prices(rpc_url: str, deployment: str | Path, epoch: int, out: str | Path,
                prices: Sequence[int] | None = None, *,
                venues: Mapping[str, Sequence[int]] | None = None,
                key_file: str | Path | None = None, from_account: str | None = None,
                funding: Sequence[int] | None = None,
                observed_at: int | None = None) -> dict[str, Any]:
    """Sign ``epoch``'s post (arguments as :func:`zkclear.roles.admin.post_prices`) with
    the key file's key, else as ``from_account`` or the node's first account, and write
    it to ``out``. ``observed_at``: default the latest block's time."""
    from eth_account import Account

    from zkclear.roles.member import read_eth_key

    key = read_eth_key(Path(key_file)) if key_file else None
    if key is not None and from_account:
        raise RoleError("pass --key (sign locally) or --from (a node account), not both")
    cl = _client(rpc_url, deployment, None, from_account)
    marks = post_values(cl.deployment.config.n_instruments, prices, venues, funding)
    reporter = str(Account.from_key(key).address) if key is not None else _sender(cl)
    if not cl.call(cl.oracle.functions.isReporter(reporter)):
        raise RoleError(f"{reporter} is not a reporter of the oracle {cl.oracle.address}")
    args: dict[str, Any] = {"observed_at": observed_at, "venues": venues or None,
                            "funding": funding}
    post = (cl.sign_post(key, epoch, marks, **args) if key is not None
            else cl.sign_post_as(reporter, epoch, marks, **args))
    if cl.post_signer(post) != reporter or _high_s(post):  # a node's eth_sign
        raise RoleError(f"the node's signature for {reporter} is not one the oracle takes "
                        "(EIP-191, low s): pass --key FILE")
    doc = SignedPricesFile.tagged(
        chain_id=cl.deployment.chain_id, oracle=str(cl.oracle.address), epoch=post.epoch,
        reporter=reporter, observed_at=post.observed_at, prices=list(post.prices),
        funding=list(post.funding), v=post.v, r="0x" + post.r.hex(), s="0x" + post.s.hex(),
        venues=[{"name": k, "prices": list(v)} for k, v in (venues or {}).items()])
    try:
        write_atomic(out, json.dumps(dump(doc), indent=1) + "\n", mode=0o644)
    except OSError as exc:
        raise RoleError(f"cannot write {SIGNED_PRICES} {out}: {exc.strerror}") from None
    return {**dump(doc), "out": str(out)}


def _high_s(post: Any) -> bool:
    """The oracle takes only canonical (low s) signatures (InvalidPostSignature)."""
    from zkclear.chain.commits import SECP256K1_HALF_N

    return int.from_bytes(post.s, "big") > SECP256K1_HALF_N


def signed_post(doc: SignedPricesFile) -> Any:
    """The client's :class:`~zkclear.chain.commits.SignedPost` of a signed-prices file
    (its venues encoded as the contract reads them, b"" for none)."""
    from zkclear.chain.commits import SignedPost
    from zkclear.chain.oracle import encode_venues

    venues = encode_venues({q.name: q.prices for q in doc.venues}) if doc.venues else b""
    return SignedPost(doc.epoch, doc.observed_at, tuple(doc.prices), tuple(doc.funding),
                      venues, doc.v, hex_value(doc.r), hex_value(doc.s))


def load_signed_prices(files: Sequence[str | Path]) -> list[tuple[str, SignedPricesFile]]:
    """Each file's path and document (RoleError naming a file that is not one)."""
    return [(str(path), load(SignedPricesFile, path, what=SIGNED_PRICES, error=RoleError))
            for path in files]


def check_signed_prices(cl: Any, epoch: int, docs: Sequence[tuple[str, SignedPricesFile]]
                        ) -> list[tuple[str, Any]]:
    """The reporter and :class:`~zkclear.chain.commits.SignedPost` of each document,
    checked against the client's chain, oracle and ``epoch``, its signature, the oracle's
    reporters and quorum; RoleError naming the file otherwise."""
    from eth_keys.exceptions import BadSignature
    from web3 import Web3

    checksum = Web3.to_checksum_address
    seen: dict[str, str] = {}
    posts: list[tuple[str, Any]] = []
    for path, doc in docs:
        where = f"{SIGNED_PRICES} {path}"
        if doc.chain_id != cl.deployment.chain_id:
            raise RoleError(f"{where} is for chain {doc.chain_id}, the deployment is on "
                            f"chain {cl.deployment.chain_id}")
        if checksum(doc.oracle) != cl.oracle.address:
            raise RoleError(f"{where} is for the oracle {doc.oracle}, the deployment's is "
                            f"{cl.oracle.address}")
        if doc.epoch != epoch:
            raise RoleError(f"{where} is signed for epoch {doc.epoch}, not {epoch}")
        m = cl.deployment.config.n_instruments
        if len(doc.prices) != m:
            raise RoleError(f"{where}: the pool has {m} instruments, the file "
                            f"{len(doc.prices)} prices")
        reporter, post = str(checksum(doc.reporter)), signed_post(doc)
        try:
            signer = cl.post_signer(post)
        except BadSignature:  # r or s out of range: no signer at all
            signer = None
        if signer == reporter and _high_s(post):
            raise RoleError(f"{where}: the signature is not canonical (high s): the oracle "
                            "refuses it")
        if signer != reporter:
            raise RoleError(f"{where}: the signature does not recover to its reporter "
                            f"{reporter} (the file was altered after signing)")
        if reporter in seen:
            raise RoleError(f"{where} and {seen[reporter]} are both from the reporter "
                            f"{reporter}")
        seen[reporter] = path
        if not cl.call(cl.oracle.functions.isReporter(reporter)):
            raise RoleError(f"{where}: {reporter} is not a reporter of the oracle")
        posts.append((reporter, post))
    quorum = int(cl.call(cl.oracle.functions.quorum()))
    if len(posts) != quorum:
        raise RoleError(f"the oracle's quorum is {quorum} signed posts, got {len(posts)} "
                        "files")
    return posts


def post_signed_prices(rpc_url: str, deployment: str | Path, epoch: int,
                       files: Sequence[str | Path], *, key_file: str | Path | None = None,
                       from_account: str | None = None) -> dict[str, Any]:
    """Submit a quorum of reporters' signed posts for ``epoch`` in one transaction (any
    sender), once every file is checked (:func:`check_signed_prices`)."""
    docs = load_signed_prices(files)  # a malformed file is refused before connecting
    cl = _client(rpc_url, deployment, key_file, from_account)
    posts = check_signed_prices(cl, epoch, docs)
    receipt = cl.post_signed_marks(epoch, [p for _, p in posts], sender=_sender(cl))
    return {"epoch": epoch, "reporters": [r for r, _ in posts],
            "gas_used": int(receipt["gasUsed"]), **_price_state(cl, epoch)}
