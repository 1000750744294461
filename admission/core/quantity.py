"""Kubernetes' resource.Quantity: read a quantity as Go reads it, write it as Go writes it.

Argo's controller reads `cpu: 0.5` into a Quantity and stores `"500m"`; `1024Mi` comes back as
`"1Gi"`, `1.5Gi` as `"1536Mi"`. A spelling Go considers canonical already (`100m`, `1e3`, even
`+1` or `5.`) is kept verbatim: Go caches the string it parsed. Pure; no I/O.

Mirrors k8s.io/apimachinery v0.33.1 pkg/api/resource (the version Argo v3.7.18 pins):
- quantity.go: parseQuantityString, ParseQuantity, CanonicalizeBytes, MarshalJSON, UnmarshalJSON
- suffix.go: the suffix tables and interpret/constructBytes
- amount.go, math.go: int64Amount/infDecAmount canonical bytes, negativeScaleInt64 rounding
"""

from __future__ import annotations

import functools
import math
import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Final

DECIMAL_SI: Final = "DecimalSI"  # 12M  (12 * 10^6)
BINARY_SI: Final = "BinarySI"  # 12Mi (12 * 2^20)
DECIMAL_EXPONENT: Final = "DecimalExponent"  # 12e6

# quantity.go: the errors ParseQuantity returns, in Go's words.
FORMAT_WRONG: Final = (
    "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"
)
NUMERIC: Final = "unable to parse numeric part of quantity"
SUFFIX: Final = "unable to parse quantity's suffix"

# suffix.go newSuffixer: decimal suffixes by power of ten, binary ones by power of two.
DECIMAL_SUFFIXES: Final = {
    "n": -9, "u": -6, "m": -3, "": 0, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18,
}  # fmt: skip
BINARY_SUFFIXES: Final = {"Ki": 10, "Mi": 20, "Gi": 30, "Ti": 40, "Pi": 50, "Ei": 60}
_DECIMAL_BY_EXPONENT: Final = {e: s for s, e in DECIMAL_SUFFIXES.items()}
_BINARY_BY_EXPONENT: Final = {e: s for s, e in BINARY_SUFFIXES.items()}

_DIGITS: Final = frozenset("0123456789")
_SUFFIX_CHARS: Final = frozenset("eEinumkKMGTP")
_INT64_MAX: Final = (1 << 63) - 1
_NANO: Final = -9  # amount.go Nano: finer values are rounded up to it
_MAX_DIGITS: Final = 18  # math.go maxInt64Factors

# unicode.IsSpace, which strings.TrimSpace strips.
GO_SPACES: Final = "\t\n\v\f\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007" + (
    "\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)
# Characters encoding/json writes as escapes: inside a quantity they leave a backslash behind.
_GO_ESCAPED: Final = re.compile('["\\\\<>&\u2028\u2029\x00-\x1f\ud800-\udfff]')
_INT64_TEXT: Final = re.compile(r"[+-]?[0-9]+")
_DECIMAL_TEXT: Final = re.compile(r"([+-]?)([0-9]*)(?:\.([0-9]*))?")


class QuantityError(ValueError):
    """Go cannot read this value as a resource.Quantity."""


@dataclass(frozen=True)
class Quantity:
    """A parsed quantity: `coefficient * 10**exponent`, its format, and Go's cached spelling."""

    coefficient: int
    exponent: int
    format: str
    cached: str | None = None

    def __str__(self) -> str:
        """The string Go writes for this quantity (Quantity.MarshalJSON)."""
        if self.cached is not None:
            return self.cached
        number, suffix = canonical_parts(self)
        return number + suffix


@dataclass(frozen=True)
class _Parts:
    """parseQuantityString's result: the sign, the number as written, its digits and suffix."""

    positive: bool
    value: str
    num: str
    denom: str
    suffix: str


def canonical_quantity(value: Any) -> str:
    """Go's marshalled form of a JSON value read into a Quantity; QuantityError if Go refuses it.

    `None` is Go's zero Quantity, `"0"` (what a null reads as in a non-pointer field).
    """
    if value is None:
        return "0"
    if isinstance(value, str | int | float):  # bool too: `typed` keeps True apart from 1
        return _canonical_scalar(value)
    return str(parse_quantity(unmarshal_text(value)))


@functools.lru_cache(maxsize=4096, typed=True)
def _canonical_scalar(value: str | int | float) -> str:
    # Templates repeat a handful of spellings ("100m", "1Gi") in every container.
    return str(parse_quantity(unmarshal_text(value)))


def unmarshal_text(value: Any) -> str:
    """The text Quantity.UnmarshalJSON parses for a JSON value, as the API server encodes it.

    The quotes of a string are dropped but its escapes are not decoded, then spaces are trimmed.
    """
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, int | float):
        text = go_json_number(value)
    elif isinstance(value, str):
        if _GO_ESCAPED.search(value):
            raise QuantityError(FORMAT_WRONG)  # the escape's backslash is no quantity character
        text = value
    else:
        raise QuantityError(FORMAT_WRONG)  # an object or array is passed on as raw JSON
    return text.strip(GO_SPACES)


def go_json_number(value: int | float) -> str:
    """How the API server writes a JSON number it read (int64 when it fits, else float64)."""
    if isinstance(value, int) and -_INT64_MAX - 1 <= value <= _INT64_MAX:
        return str(value)
    try:
        return go_float_text(float(value))
    except OverflowError:
        raise QuantityError(f"number {value} does not fit a float64") from None


def go_float_text(value: float) -> str:
    """encoding/json's float64 text: shortest digits, exponent form below 1e-6 or from 1e21."""
    if not math.isfinite(value):
        raise QuantityError(f"json: unsupported value: {value}")
    if value == 0:
        return "-0" if math.copysign(1.0, value) < 0 else "0"
    if 1e-6 <= abs(value) < 1e21:
        return format(Decimal(repr(value)).normalize(), "f")
    sign, digits, exponent = Decimal(repr(value)).normalize().as_tuple()
    assert isinstance(exponent, int)
    text = "".join(map(str, digits))
    mantissa = text[0] + ("." + text[1:] if len(text) > 1 else "")
    power = exponent + len(text) - 1
    # strconv writes at least two exponent digits; encoding/json trims "e-07" to "e-7".
    written = f"+{power:02d}" if power >= 0 else f"-{-power}"
    return f"{'-' if sign else ''}{mantissa}e{written}"


# --- Parsing (quantity.go ParseQuantity) ------------------------------------------------------


def parse_quantity(text: str) -> Quantity:
    """ParseQuantity: the fast int64 path when nothing is lost, else the exact decimal path."""
    if not text:
        raise QuantityError(FORMAT_WRONG)
    if text == "0":
        return Quantity(0, 0, DECIMAL_SI, "0")
    parts = split_quantity(text)
    base, exponent, fmt = interpret_suffix(parts.suffix)
    fast = _parse_int64(text, parts, exponent, fmt)
    if fast is not None:
        return fast
    return _parse_exact(parts, base, exponent, fmt)


def split_quantity(text: str) -> _Parts:
    """parseQuantityString: sign, leading zeros dropped, numerator, denominator, suffix."""
    end = len(text)
    positive = text[0] != "-"
    pos = 1 if text[0] in "+-" else 0
    while pos < end and text[pos] == "0":
        pos += 1
    if pos >= end:
        return _Parts(positive, "0", "0", "", "")
    start = pos
    pos = _skip(text, pos, _DIGITS)
    if pos >= end:
        return _Parts(positive, text, text[start:], "", "")
    num = text[start:pos] or "0"
    denom = ""
    if text[pos] == ".":
        start = pos + 1
        pos = _skip(text, start, _DIGITS)
        denom = text[start:pos]
        if pos >= end:
            return _Parts(positive, text, num, denom, "")
    value, start = text[:pos], pos
    pos = _skip(text, pos, _SUFFIX_CHARS)
    if pos < end and text[pos] in "+-":
        pos += 1
    if _skip(text, pos, _DIGITS) < end:
        raise QuantityError(FORMAT_WRONG)
    return _Parts(positive, value, num, denom, text[start:])


def _skip(text: str, pos: int, allowed: frozenset[str]) -> int:
    while pos < len(text) and text[pos] in allowed:
        pos += 1
    return pos


def interpret_suffix(suffix: str) -> tuple[int, int, str]:
    """suffix.go interpret: (base, exponent, format) of a suffix, or QuantityError."""
    if suffix in DECIMAL_SUFFIXES:
        return 10, DECIMAL_SUFFIXES[suffix], DECIMAL_SI
    if suffix in BINARY_SUFFIXES:
        return 2, BINARY_SUFFIXES[suffix], BINARY_SI
    if len(suffix) > 1 and suffix[0] in "eE" and _INT64_TEXT.fullmatch(suffix[1:]):
        parsed = int(suffix[1:])
        if -_INT64_MAX - 1 <= parsed <= _INT64_MAX:  # strconv.ParseInt(…, 10, 64)
            return 10, _int32(parsed), DECIMAL_EXPONENT
    raise QuantityError(SUFFIX)


def _int32(value: int) -> int:
    """Go's int32() conversion: wraps around."""
    return (value + (1 << 31)) % (1 << 32) - (1 << 31)


def _parse_int64(text: str, parts: _Parts, exponent: int, fmt: str) -> Quantity | None:
    """ParseQuantity's int64 path, or None where Go falls through to inf.Dec."""
    mantissa = 1
    if fmt == BINARY_SI:
        if parts.denom:
            return None
        mantissa = 1 << exponent
        # 1Mi has about 6 decimal digits: exponent*3/10 estimates the digits the suffix adds.
        precision = 15 - len(parts.num) - exponent * 3 // 10 - 1
        scale = 0
    else:
        precision = _MAX_DIGITS - len(parts.num) - len(parts.denom)
        scale = exponent
    scale -= len(parts.denom)
    if precision < 0 or scale < _NANO:
        return None
    shifted = parts.num + parts.denom
    digits = int(shifted)
    result = digits * mantissa
    if result > _INT64_MAX:  # int64Multiply overflows
        return None
    cached = text if _is_canonical(shifted, digits, scale, exponent, fmt) else None
    return Quantity(result if parts.positive else -result, scale, fmt, cached)


def _is_canonical(shifted: str, digits: int, scale: int, exponent: int, fmt: str) -> bool:
    """Whether Go keeps the parsed string as the quantity's spelling (its `s` cache)."""
    if fmt == BINARY_SI:
        return exponent % 10 == 0 and digits & 0x07 != 0
    return scale % 3 == 0 and not shifted.endswith("000") and shifted[0] != "0"


def _parse_exact(parts: _Parts, base: int, exponent: int, fmt: str) -> Quantity:
    """ParseQuantity's inf.Dec path: exact, rounded up to 1n, BinarySI capped at 2^63-1."""
    coefficient, scale = _dec_string(parts.value)
    if base == 10:
        scale += exponent
    else:
        coefficient <<= exponent
    negative = coefficient < 0
    coefficient = abs(coefficient)
    if coefficient and scale < _NANO:
        coefficient, scale = _round_up(coefficient, _NANO - scale), _NANO
    if fmt == BINARY_SI and _exceeds(coefficient, scale, _INT64_MAX):
        coefficient, scale = _INT64_MAX, 0
    # Go also turns a BinarySI below 1 into DecimalSI here; canonical_parts does it anyway.
    return Quantity(-coefficient if negative else coefficient, scale, fmt)


def _dec_string(value: str) -> tuple[int, int]:
    """inf.Dec SetString: (unscaled, power of ten) of a signed decimal, or QuantityError."""
    match = _DECIMAL_TEXT.fullmatch(value)
    if not match or not (match[2] or match[3]):
        raise QuantityError(NUMERIC)
    fraction = match[3] or ""
    unscaled = int((match[2] or "") + fraction)
    return (-unscaled if match[1] == "-" else unscaled), -len(fraction)


def _round_up(coefficient: int, places: int) -> int:
    """`coefficient / _pow10(places)` rounded away from zero (inf.RoundUp); coefficient > 0."""
    if len(str(coefficient)) <= places:
        return 1  # below one unit of the new scale: the smallest non-zero amount
    whole, rest = divmod(coefficient, _pow10(places))
    return whole + (1 if rest else 0)


def _pow10(places: int) -> int:
    """10 to a non-negative power, typed."""
    return int(10**places)


def _exceeds(coefficient: int, scale: int, limit: int) -> bool:
    """Whether |coefficient| * 10**scale > limit, for scale >= -9."""
    if scale >= 0:
        return abs(coefficient) * _pow10(scale) > limit
    return abs(coefficient) > limit * _pow10(-scale)


# --- Writing (quantity.go CanonicalizeBytes) --------------------------------------------------


def canonical_parts(quantity: Quantity) -> tuple[str, str]:
    """CanonicalizeBytes: (number, suffix) with no fraction and the largest exponent possible.

    BinarySI is written in base 1024 only from 1024 up and when it is a whole number; otherwise
    as DecimalSI.
    """
    coefficient, scale, fmt = quantity.coefficient, quantity.exponent, quantity.format
    if coefficient == 0:
        return "0", ""
    if fmt == BINARY_SI:
        whole = _whole_number(coefficient, scale)
        if whole is not None and abs(whole) >= 1024:
            return _base1024(whole)
        fmt = DECIMAL_SI
    return _base1000(coefficient, scale, fmt)


def _whole_number(coefficient: int, scale: int) -> int | None:
    """The quantity as an integer, or None when rounding would lose precision (AsScale(0))."""
    if scale >= 0:
        return coefficient * _pow10(scale)
    whole, rest = divmod(abs(coefficient), _pow10(-scale))
    if rest:
        return None
    return -whole if coefficient < 0 else whole


def _base1024(whole: int) -> tuple[str, str]:
    """AsCanonicalBase1024Bytes: strip factors of 1024 into Ki, Mi, … (none for 2^0)."""
    amount, times = abs(whole), 0
    while amount >= 1024 and amount % 1024 == 0:
        amount //= 1024
        times += 1
    number = str(-amount if whole < 0 else amount)
    return number, _BINARY_BY_EXPONENT.get(times * 10, "")


def _base1000(coefficient: int, scale: int, fmt: str) -> tuple[str, str]:
    """AsCanonicalBytes: strip factors of ten, then lower the exponent to a multiple of three."""
    while coefficient % 10 == 0:
        coefficient //= 10
        scale += 1
    spare = scale % 3
    coefficient *= _pow10(spare)
    scale -= spare
    if fmt == DECIMAL_EXPONENT:
        return str(coefficient), f"e{scale}" if scale else ""
    # A DecimalSI exponent without a suffix (above E) is written bare, as Go does.
    return str(coefficient), _DECIMAL_BY_EXPONENT.get(scale, "")
