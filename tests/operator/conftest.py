"""The operator tests' shared set-up as a fixture: ``env``, a pool on the embedded EVM with
registered, funded members, its operator service behind a real HTTP server and one member
client per member (:func:`tests.operator.helpers.service_env`), one per test module. A
module sets its service options in a module-level ``SERVICE`` dict (``enrol`` and the
:class:`~zkclear.operator.service.OperatorService` options)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from .helpers import ServiceEnv, service_env


@pytest.fixture(scope="module")
def env(request: pytest.FixtureRequest,
        tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServiceEnv]:
    options = dict(getattr(request.module, "SERVICE", {}))
    with service_env(tmp_path_factory.mktemp("operator"), **options) as e:
        yield e
