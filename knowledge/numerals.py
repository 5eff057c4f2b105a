"""Chinese numerals as used in article numbers (第一千零七十九条 ↔ 1079)."""

from __future__ import annotations

_DIGITS = "零一二三四五六七八九"
_UNITS = ((1000, "千"), (100, "百"), (10, "十"))


def to_chinese_numeral(n: int) -> str:
    """1079 → 一千零七十九; 10 → 十; 15 → 十五; 110 → 一百一十 (as statutes write them)."""
    if not 0 < n < 10000:
        raise ValueError(f"article number {n} is outside 1..9999")
    out: list[str] = []
    rest = n
    pending_zero = False
    for value, unit in _UNITS:
        digit, rest = divmod(rest, value)
        if digit:
            if pending_zero:
                out.append("零")
                pending_zero = False
            # 10–19 are written 十, 十五 at the start, but 一百一十 inside a number.
            if not (value == 10 and digit == 1 and not out):
                out.append(_DIGITS[digit])
            out.append(unit)
        elif out:
            pending_zero = True
    if rest:
        if pending_zero:
            out.append("零")
        out.append(_DIGITS[rest])
    return "".join(out)


def from_chinese_numeral(text: str) -> int:
    """一千零七十九 → 1079; also accepts Arabic digits ("1079")."""
    text = text.strip()
    if text.isdigit():
        return int(text)
    total, digit = 0, 0
    units = {"千": 1000, "百": 100, "十": 10}
    for ch in text:
        if ch in _DIGITS:
            digit = _DIGITS.index(ch)
        elif ch == "两":
            digit = 2
        elif ch in units:
            total += (digit or 1) * units[ch]
            digit = 0
        else:
            raise ValueError(f"'{text}' is not a Chinese numeral (bad character '{ch}')")
    return total + digit
