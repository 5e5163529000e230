"""The base of every JSON request body: values as the schema says them, nothing coerced."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, model_validator


def _integral(value: Any) -> Any:
    """`3.0` as `3`: JSON Schema counts it as an integer; strict pydantic would not."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**63:
        return int(value)
    if isinstance(value, list):
        return [_integral(v) for v in value]
    if isinstance(value, dict):
        return {k: _integral(v) for k, v in value.items()}
    return value


class RequestBody(BaseModel):
    """Strict: `0` is not `false` and `"10"` is not `10`, so a body the OpenAPI schema refuses
    is refused here too (times stay ISO strings: their fields say `strict=False`)."""

    model_config = ConfigDict(strict=True)

    @model_validator(mode="before")
    @classmethod
    def _integers(cls, data: Any) -> Any:
        return _integral(data)
