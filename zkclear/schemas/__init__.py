"""One schema per record that zkclear reads or writes as JSON (pydantic, strict).

================== ============================ =========================================
published as       record                       where it is converted
================== ============================ =========================================
trade              :class:`Trade`               :meth:`Trade.of` / ``to_engine``
trade-list         :class:`TradeList`           the operator's intake, ``member submit``
report             :class:`NettedReport`        :meth:`NettedReport.of` / ``to_engine``
pool               :class:`PoolFile`            :func:`zkclear.roles.admin.load_pool`
risk               :class:`Risk`                :meth:`Risk.to_engine`
deployment         :class:`DeploymentFile`      :class:`zkclear.chain.contracts.Deployment`
x25519-key         :class:`X25519KeyFile`       :class:`zkclear.privacy.keyfile.X25519KeyPair`
viewkey            :class:`ViewKeyFile`         :mod:`zkclear.privacy.viewkeys`
compliance-share   :class:`ComplianceShareFile` :class:`zkclear.privacy.compliance.KeyShare`
eth-key            :class:`EthKeyFile`          :mod:`zkclear.roles.member`
admin-token        :class:`AdminTokenFile`      :mod:`zkclear.operator.run`
lot                :class:`LotFile`             :mod:`zkclear.roles.auction`, ``GET /v1/lot``
sealed-bid         :class:`SealedBidFile`       :mod:`zkclear.roles.auction`
signed-prices      :class:`SignedPricesFile`    :mod:`zkclear.roles.signed_prices`
================== ============================ =========================================

Every record is strict (``"1"`` is not an integer), frozen, and refuses unknown fields;
:func:`parse` / :func:`load` raise the caller's :class:`~zkclear.errors.ZkclearError`
subclass with the failing fields' paths. The JSON Schemas are published in
``docs/schemas/`` by ``python -m zkclear.schemas --write docs/schemas`` (a test fails when
they are out of date).
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel

from .auction import LotFile, SealedBidFile
from .base import Record, describe, dump, format_of, hex_value, load, parse, read_file
from .keys import AdminTokenFile, ComplianceShareFile, EthKeyFile, ViewKeyFile, X25519KeyFile
from .oracle import SignedPricesFile
from .pool import DeploymentConfig, DeploymentFile, PoolFile, Risk
from .trades import NettedReport, Trade, TradeList

__all__ = [
    "SCHEMAS",
    "AdminTokenFile",
    "ComplianceShareFile",
    "DeploymentConfig",
    "DeploymentFile",
    "EthKeyFile",
    "LotFile",
    "NettedReport",
    "PoolFile",
    "Record",
    "Risk",
    "SealedBidFile",
    "SignedPricesFile",
    "Trade",
    "TradeList",
    "ViewKeyFile",
    "X25519KeyFile",
    "describe",
    "dump",
    "format_of",
    "hex_value",
    "json_schema",
    "load",
    "parse",
    "read_file",
]

#: Published name (``docs/schemas/<name>.json``) -> record.
SCHEMAS: dict[str, type[BaseModel]] = {
    "trade": Trade,
    "trade-list": TradeList,
    "report": NettedReport,
    "pool": PoolFile,
    "risk": Risk,
    "deployment": DeploymentFile,
    "x25519-key": X25519KeyFile,
    "viewkey": ViewKeyFile,
    "compliance-share": ComplianceShareFile,
    "eth-key": EthKeyFile,
    "admin-token": AdminTokenFile,
    "lot": LotFile,
    "sealed-bid": SealedBidFile,
    "signed-prices": SignedPricesFile,
}


def json_schema(name: str) -> str:
    """The published text of ``docs/schemas/<name>.json``."""
    doc: dict[str, Any] = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"zkclear/{name}.json",
        **SCHEMAS[name].model_json_schema(),
    }
    return json.dumps(doc, indent=2, sort_keys=False) + "\n"
