"""What every schema shares: the model configuration, the field types, and one way to
read a document and say what is wrong with it.

A document is validated in pydantic's strict mode (``"1"`` is not an integer, ``true`` is
not 1), with unknown fields refused (``extra="forbid"``: a typo must not silently drop
data) and the result frozen. :func:`parse` turns a :class:`pydantic.ValidationError` into
the caller's :class:`~zkclear.errors.ZkclearError` subclass with a one-line message that
names each failing field by its path (``trades[3].price: must be an integer``). Messages
never repeat the offending value: a key file's content is a secret.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Self, TypeVar, get_args

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    GetCoreSchemaHandler,
    GetJsonSchemaHandler,
    PlainValidator,
    ValidationError,
    WithJsonSchema,
    model_validator,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import PydanticCustomError, core_schema

from zkclear.errors import ZkclearError

M = TypeVar("M", bound=BaseModel)

#: Most errors one message lists (the rest are counted).
MAX_LISTED = 3


class Record(BaseModel):
    """Base of every schema: strict, frozen, unknown fields refused."""

    model_config = ConfigDict(strict=True, frozen=True, extra="forbid")

    @classmethod
    def tagged(cls, **fields: Any) -> Self:
        """A record of a tagged file, its ``format`` filled in."""
        return cls(**{"format": format_of(cls), **fields})


def format_of(model: type[BaseModel]) -> str:
    """The ``format`` tag a record's files carry (``zkclear-pool-v1`` ...)."""
    (tag,) = get_args(model.model_fields["format"].annotation)
    return str(tag)


def hex_value(text: str) -> bytes:
    """The bytes of a hex field a record has checked (``0x`` optional)."""
    return bytes.fromhex(text[2:] if text[:2].lower() == "0x" else text)


class EngineRecord(Record):
    """A record the engine checks further: it is refused, with the engine's message, when
    :meth:`to_engine` raises ValueError (ParamsError, BoundError ... are ValueErrors)."""

    def to_engine(self) -> Any:
        raise NotImplementedError

    @model_validator(mode="after")
    def _engine_accepts(self) -> Any:
        try:
            self.to_engine()
        except ValueError as exc:
            raise PydanticCustomError("engine", "{reason}", {"reason": str(exc)}) from None
        return self


# --- field types ----------------------------------------------------------------------------

#: An unsigned 64-bit integer (slots, epochs, seconds, block numbers).
U64 = Annotated[int, Field(ge=0, lt=2**64)]


@dataclass(frozen=True)
class HexBytes:
    """Field metadata: a string of ``nbytes`` bytes in hex. ``prefix`` True needs ``0x``,
    False forbids it, None allows either. Use as ``Annotated[str, HexBytes(32)]``."""

    nbytes: int
    prefix: bool | None = True

    @property
    def pattern(self) -> str:
        head = {True: "0x", False: "", None: "(0x)?"}[self.prefix]
        return f"^{head}[0-9a-fA-F]{{{2 * self.nbytes}}}$"

    def check(self, value: str) -> str:
        digits = 2 * self.nbytes
        has = value[:2].lower() == "0x"
        body = value[2:] if has and self.prefix is not False else value
        if (self.prefix and not has) or len(body) != digits:
            shape = {True: f"0x and {digits} hex digits", False: f"{digits} hex digits",
                     None: f"{digits} hex digits, 0x optional"}[self.prefix]
            raise PydanticCustomError("hex_length", f"must be {self.nbytes} bytes ({shape})")
        try:
            bytes.fromhex(body)
        except ValueError:
            raise PydanticCustomError("hex_digits", "is not hexadecimal") from None
        return value

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler
                                     ) -> core_schema.CoreSchema:
        return core_schema.no_info_after_validator_function(self.check, handler(source))

    def __get_pydantic_json_schema__(self, schema: core_schema.CoreSchema,
                                     handler: GetJsonSchemaHandler) -> JsonSchemaValue:
        out = handler(schema)
        out["pattern"] = self.pattern
        return out


#: Field metadata: the value is secret (left out of the record's ``repr``).
SECRET = Field(repr=False)


def _address(value: str) -> str:
    if len(value) != 42 or value[:2].lower() != "0x":
        raise PydanticCustomError("address", "must be an address (0x and 40 hex digits)")
    try:
        bytes.fromhex(value[2:])
    except ValueError:
        raise PydanticCustomError("address", "must be an address (0x and 40 hex digits)"
                                  ) from None
    return value


#: An Ethereum address, any letter case (0x and 40 hex digits).
Address = Annotated[str, AfterValidator(_address),
                    Field(json_schema_extra={"pattern": "^0x[0-9a-fA-F]{40}$"})]


def _decimal(value: Any) -> str:
    if (not isinstance(value, str) or not 0 < len(value.removeprefix("-")) <= 80
            or not value.removeprefix("-").isascii() or not value.removeprefix("-").isdigit()):
        raise PydanticCustomError("decimal", "must be an integer written as a decimal string")
    return value


#: An integer of any size written as a decimal string (JSON numbers lose precision in
#: many readers beyond 2^53).
DecimalStr = Annotated[str, PlainValidator(_decimal),
                       WithJsonSchema({"type": "string", "pattern": "^-?[0-9]{1,80}$"})]


# --- reading documents ---------------------------------------------------------------------


def _path(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _message(err: Any) -> str:
    kind, msg = err["type"], err["msg"]
    if kind == "missing":
        return "missing"
    if kind == "extra_forbidden":
        return "unknown field"
    if kind == "json_invalid":
        return f"not valid JSON ({err.get('ctx', {}).get('error', msg)})"
    if kind in ("model_type", "model_attributes_type", "dict_type"):
        return "must be a JSON object"
    if kind in ("int_type", "int_from_float", "int_parsing"):
        return "must be an integer"
    if kind == "string_type":
        return "must be a string"
    if kind == "list_type":
        return "must be a list"
    for lead in ("Input should be ", "Value should be "):
        if msg.startswith(lead):
            return "must be " + msg[len(lead):]
    return msg.removeprefix("Value error, ")


def describe(exc: ValidationError, limit: int = MAX_LISTED) -> str:
    """``path: problem; path: problem (+N more)``, one line, never the offending values.

    A wrong ``format`` tag is reported alone (the document is of another kind)."""
    errors = exc.errors(include_url=False)
    fmt = [e for e in errors if e["loc"][:1] == ("format",)]
    errors = fmt or errors
    parts = [f"{_path(e['loc'])}: {_message(e)}" if e["loc"] else _message(e)
             for e in errors[:limit]]
    got = fmt[0].get("input") if fmt else None
    if isinstance(got, str) and len(got) <= 40:  # a format tag is not a secret
        parts[0] += f", got {got!r}"
    more = f" (+{len(errors) - limit} more)" if len(errors) > limit else ""
    return "; ".join(parts) + more


def parse(model: type[M], data: str | bytes | Any, *, where: str,
          error: type[ZkclearError] = ZkclearError) -> M:
    """Validate ``data`` (JSON text or bytes, or JSON-like Python values) as ``model``;
    ``error("<where>: <describe>")`` otherwise. The pydantic error is not chained: its
    text holds the input, which may be a key."""
    try:
        if isinstance(data, str | bytes | bytearray):
            return model.model_validate_json(data)
        return model.model_validate(data)
    except ValidationError as exc:
        msg = f"{where}: {describe(exc)}"
    raise error(msg) from None


def read_file(path: str | Path, what: str, error: type[ZkclearError] = ZkclearError) -> bytes:
    """The bytes of ``path``; ``error("cannot read <what> <path>: <why>")`` otherwise."""
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise error(f"cannot read {what} {path}: {exc.strerror}") from None


def load(model: type[M], path: str | Path, *, what: str,
         error: type[ZkclearError] = ZkclearError) -> M:
    """Read and validate the file ``path`` (``what`` names it in messages)."""
    return parse(model, read_file(path, what, error), where=f"{what} {path}", error=error)


def dump(record: BaseModel) -> dict[str, Any]:
    """The JSON document of ``record``; optional fields that are None are left out (a
    required field that may be null, like the pool file's ``token``, is kept)."""
    skip = {name for name, info in type(record).model_fields.items()
            if not info.is_required() and getattr(record, name) is None}
    return record.model_dump(mode="json", exclude=skip)
