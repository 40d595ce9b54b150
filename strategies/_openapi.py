"""The Fibre Cafe contract loaded into schemathesis (private: use `fibrecert.strategies`)."""

from __future__ import annotations

import functools
from typing import Any

from fibrecert import contracts


@functools.lru_cache(maxsize=None)
def schema() -> Any:
    import schemathesis

    return schemathesis.openapi.from_dict(contracts.openapi_document())


def operation(path: str, method: str = "POST") -> Any:
    return schema()[path][method]
