"""OCPP-J framing and schema validation, fast.

``unpack`` reads a frame once and tells exactly what is wrong with a bad one (the ``ocpp`` library
only logs frames it cannot parse). ``validate`` checks a payload against the official OCPP 1.6 JSON
schemas shipped with the ``ocpp`` library, compiled once to Python code (fastjsonschema) instead
of interpreted per message, and maps a violation to the error code the 1.6 specification names.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from datetime import timezone as dt_timezone
from functools import cache
from pathlib import Path
from typing import Any

import fastjsonschema
import ocpp
from django.utils.dateparse import parse_datetime
from ocpp.messages import Call, CallError, CallResult

SCHEMAS_16 = Path(ocpp.__file__).resolve().parent / "v16" / "schemas"
MAX_UNIQUE_ID = 36

FORMATION_VIOLATION = "FormationViolation"
PROTOCOL_ERROR = "ProtocolError"
TYPE_CONSTRAINT = "TypeConstraintViolation"
PROPERTY_CONSTRAINT = "PropertyConstraintViolation"
OCCURENCE_CONSTRAINT = "OccurenceConstraintViolation"  # sic, the 1.6 spelling
NOT_IMPLEMENTED = "NotImplemented"
INTERNAL_ERROR = "InternalError"


class FrameError(Exception):
    """A frame or payload that gets a CALLERROR: ``code`` per the spec, ``unique_id`` or "-1"."""

    def __init__(self, code: str, description: str, unique_id: str = "-1", details: dict[str, Any] | None = None):
        super().__init__(description)
        self.code = code
        self.description = description
        self.unique_id = unique_id
        self.details = details or {}

    def to_json(self) -> str:
        return call_error_json(self.unique_id, self.code, self.description, self.details)


def call_error_json(unique_id: str, code: str, description: str, details: dict[str, Any] | None = None) -> str:
    return json.dumps([4, unique_id, code, description, details or {}], separators=(",", ":"))


def utc_z(value: datetime) -> str:
    """Every time the CSMS sends: UTC with a ``Z``."""
    return value.astimezone(dt_timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _not_json(constant: str) -> Any:
    # Python's json reads NaN and Infinity; JSON (RFC 8259, which OCPP-J uses) has neither.
    raise ValueError(f"{constant} is not JSON")


def unpack(raw: str) -> tuple[Call | CallResult | CallError, Any]:
    """Parse one frame into the ``ocpp`` library's message object (and the decoded list).

    Raises ``FrameError``: not JSON → FormationViolation with "-1"; not an OCPP-J array, an unknown
    message type or wrong element types → FormationViolation; missing elements → ProtocolError;
    with the frame's uniqueId whenever it can be read.
    """
    try:
        frame = json.loads(raw, parse_constant=_not_json)
    except (ValueError, RecursionError):
        raise FrameError(FORMATION_VIOLATION, "Message is not valid JSON") from None
    if not isinstance(frame, list) or not frame:
        raise FrameError(FORMATION_VIOLATION, "An OCPP-J message is a JSON array")
    unique_id = frame[1] if len(frame) > 1 and isinstance(frame[1], str) and frame[1] else None
    reply_id = unique_id[:MAX_UNIQUE_ID] if unique_id is not None else "-1"
    type_id = frame[0]
    if type_id == 2:
        if len(frame) < 4:
            raise FrameError(PROTOCOL_ERROR, "A CALL has 4 elements", reply_id)
        if len(frame) > 4:
            raise FrameError(FORMATION_VIOLATION, "A CALL has 4 elements", reply_id)
        if unique_id is None or len(unique_id) > MAX_UNIQUE_ID:
            raise FrameError(FORMATION_VIOLATION, "UniqueId must be a string of at most 36 characters", reply_id)
        if not isinstance(frame[2], str) or not frame[2]:
            raise FrameError(FORMATION_VIOLATION, "Action must be a string", reply_id)
        if not isinstance(frame[3], dict):
            raise FrameError(FORMATION_VIOLATION, "Payload must be a JSON object", reply_id)
        return Call(frame[1], frame[2], frame[3]), frame
    if type_id == 3:
        if len(frame) != 3 or unique_id is None:
            raise FrameError(PROTOCOL_ERROR if len(frame) < 3 else FORMATION_VIOLATION, "A CALLRESULT has 3 elements", reply_id)
        if not isinstance(frame[2], dict):
            raise FrameError(FORMATION_VIOLATION, "Payload must be a JSON object", reply_id)
        return CallResult(frame[1], frame[2]), frame
    if type_id == 4:
        if len(frame) < 4 or unique_id is None:
            raise FrameError(PROTOCOL_ERROR, "A CALLERROR has 5 elements", reply_id)
        details = frame[4] if len(frame) > 4 and isinstance(frame[4], dict) else {}
        return CallError(frame[1], str(frame[2]), str(frame[3]), details), frame
    raise FrameError(FORMATION_VIOLATION, f"Unknown MessageTypeId {type_id!r}", reply_id)


def _date_time(value: str) -> bool:
    # Chargers send many ISO 8601 shapes (with or without offset, fractions); Django's parser
    # accepts what the domain can read, and the domain reads naive times as UTC.
    try:
        return parse_datetime(value) is not None
    except ValueError:
        return False


_FORMATS: dict[str, Callable[[str], bool]] = {"date-time": _date_time, "uri": lambda value: True}

_RULE_CODES = {
    "type": TYPE_CONSTRAINT,
    "required": OCCURENCE_CONSTRAINT,
    "minItems": OCCURENCE_CONSTRAINT,
    "maxItems": OCCURENCE_CONSTRAINT,
    "enum": PROPERTY_CONSTRAINT,
    "maxLength": PROPERTY_CONSTRAINT,
    "minLength": PROPERTY_CONSTRAINT,
    "format": PROPERTY_CONSTRAINT,
    "minimum": PROPERTY_CONSTRAINT,
    "maximum": PROPERTY_CONSTRAINT,
    "multipleOf": PROPERTY_CONSTRAINT,
    "pattern": PROPERTY_CONSTRAINT,
    "additionalProperties": FORMATION_VIOLATION,
}


@cache
def validator(schema_name: str) -> Callable[[Any], Any] | None:
    """The compiled validator of one 1.6 schema (``BootNotification``, ``BootNotificationResponse``)."""
    path = SCHEMAS_16 / f"{schema_name}.json"
    if not path.exists():
        return None
    schema = json.loads(path.read_text(encoding="utf-8-sig"))

    return fastjsonschema.compile(schema, formats=_FORMATS)  # type: ignore[no-any-return]


def validate(schema_name: str, payload: Any, unique_id: str) -> None:
    """Raise ``FrameError`` with the 1.6 error code when ``payload`` breaks the schema."""
    check = validator(schema_name)
    if check is None:
        return
    try:
        check(payload)
    except fastjsonschema.JsonSchemaValueException as exc:
        code = _RULE_CODES.get(exc.rule or "", FORMATION_VIOLATION)
        field = (exc.name or "data").removeprefix("data").lstrip(".") or None
        raise FrameError(code, exc.message, unique_id, {"field": field} if field else {}) from None


def precompile() -> None:
    """Compile the schemas of every charger-initiated message up front (at import of the consumer)."""
    for name in CHARGER_ACTIONS:
        validator(name)
        validator(name + "Response")


CHARGER_ACTIONS = (
    "Authorize", "BootNotification", "DataTransfer", "DiagnosticsStatusNotification",
    "FirmwareStatusNotification", "Heartbeat", "MeterValues", "StartTransaction", "StatusNotification",
    "StopTransaction",
)
