"""What every API model shares: the base class (frozen, strict, camelCase) and field types.

Field metadata read by the CRD generator (``json_schema_extra``): ``crd_default: True`` makes the
field's Python default the CRD's ``default``; ``crd`` holds extra OpenAPI keywords (``pattern``,
``x-kubernetes-*``); ``int_or_string`` marks a Kubernetes quantity.
"""

from __future__ import annotations

from typing import Annotated, Any, Final

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field
from pydantic.alias_generators import to_camel

__all__ = ["CRD_DEFAULT", "INT32_MAX", "ApiModel", "Quantity", "RawObject", "StringMap"]

#: Field metadata: this field's Python default is also the CRD schema's ``default``.
CRD_DEFAULT: Final[dict[str, Any]] = {"crd_default": True}
INT32_MAX: Final = 2147483647

#: A Kubernetes object rayop passes through untouched (pod template, Service, env var...).
RawObject = dict[str, Any]
#: ``map[string]string``.
StringMap = dict[str, str]


def _quantity_to_string(value: object) -> object:
    # Status quantities are int-or-string in the CRD (as KubeRay's resource.Quantity); we keep str.
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return value


Quantity = Annotated[
    str,
    BeforeValidator(_quantity_to_string),
    Field(json_schema_extra={"int_or_string": True}),
]


class ApiModel(BaseModel):
    """Base of every API model: frozen, strict (as the API server's types are), camelCase aliases.

    Unknown keys are ignored here; ``parse_raycluster`` reports them as warnings beforehand.
    """

    model_config = ConfigDict(
        frozen=True,
        strict=True,
        extra="ignore",
        alias_generator=to_camel,
        populate_by_name=True,
    )
