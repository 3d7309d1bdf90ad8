"""JavaScript regular expressions for the pupil port (`sentinel/rules/validation.py`: CHT's pupil validation
rules, as CHT 4.15+ shared-libs/validation/src runs them).

`new RegExp(source, flags)` translated to a Python `re` pattern, for the `regex` rule function.
"""
from __future__ import annotations

import re
import warnings
from functools import lru_cache


class JSRegexError(ValueError):
    """A pattern or flags `new RegExp` rejects (or that Python cannot run)."""


_JS_FLAG_BITS = {"d": 0, "g": 0, "i": re.IGNORECASE, "m": re.MULTILINE, "s": re.DOTALL, "u": 0, "v": 0, "y": 0}
_WORD = "A-Za-z0-9_"
_BOUNDARY = rf"(?:(?<=[{_WORD}])(?![{_WORD}])|(?<![{_WORD}])(?=[{_WORD}]))"
_NOT_BOUNDARY = rf"(?:(?<=[{_WORD}])(?=[{_WORD}])|(?<![{_WORD}])(?![{_WORD}]))"
_SPACE_CLASS = r"\t\n\v\f\r \u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff"
_LINE_END = r"\n\r\u2028\u2029"


@lru_cache(maxsize=512)
def _js_regex(source: str, flags: str) -> tuple[re.Pattern[str], bool]:
    """(compiled Python pattern, sticky) for `new RegExp(source, flags)`; raises JSRegexError."""
    if any(f not in _JS_FLAG_BITS for f in flags) or len(set(flags)) != len(flags) or {"u", "v"} <= set(flags):
        raise JSRegexError(f"invalid flags '{flags}'")
    unicode_mode = "u" in flags or "v" in flags
    multiline, dotall = "m" in flags, "s" in flags
    out: list[str] = []
    i, n, in_class = 0, len(source), False
    while i < n:
        ch = source[i]
        if ch == "\\":
            if i + 1 >= n:
                raise JSRegexError("\\ at end of pattern")
            esc = source[i + 1]
            i += 2
            if esc == "d":
                out.append("0-9" if in_class else "[0-9]")
            elif esc == "D":
                out.append(r"\D" if in_class else "[^0-9]")
            elif esc == "w":
                out.append(_WORD if in_class else f"[{_WORD}]")
            elif esc == "W":
                out.append(r"\W" if in_class else f"[^{_WORD}]")
            elif esc == "s":
                out.append(_SPACE_CLASS if in_class else f"[{_SPACE_CLASS}]")
            elif esc == "S":
                out.append(r"\S" if in_class else f"[^{_SPACE_CLASS}]")
            elif esc == "b":
                out.append(r"\x08" if in_class else _BOUNDARY)
            elif esc == "B":
                out.append("B" if in_class else _NOT_BOUNDARY)
            elif esc == "k" and source.startswith("<", i) and not in_class:
                end = source.find(">", i)
                if end < 0:
                    raise JSRegexError("invalid named reference")
                out.append(f"(?P={source[i + 1:end]})")
                i = end + 1
            elif esc == "c" and i < n and source[i].isascii() and source[i].isalpha():
                out.append(re.escape(chr(ord(source[i]) % 32)))
                i += 1
            elif esc == "x" and re.fullmatch(r"[0-9a-fA-F]{2}", source[i:i + 2]):
                out.append("\\x" + source[i:i + 2])
                i += 2
            elif esc == "u" and re.fullmatch(r"[0-9a-fA-F]{4}", source[i:i + 4]):
                out.append("\\u" + source[i:i + 4])
                i += 4
            elif esc == "u" and unicode_mode and source.startswith("{", i):
                end = source.find("}", i)
                if end < 0:
                    raise JSRegexError("invalid unicode escape")
                out.append(re.escape(chr(int(source[i + 1:end], 16))))
                i = end + 1
            elif esc in "fnrtv0123456789":
                out.append("\\" + esc)
            elif esc.isascii() and esc.isalpha():
                if unicode_mode:
                    if esc in "pP":
                        raise JSRegexError(f"\\{esc}{{...}} property escapes are not supported")
                    raise JSRegexError(f"invalid escape \\{esc}")
                out.append(esc)  # an identity escape outside unicode mode
            else:
                out.append(re.escape(esc))
            continue
        if in_class:
            if ch == "]":
                in_class = False
                out.append("]")
            elif ch in "[&~|-" and (ch == "[" or source[i + 1:i + 2] == ch):
                out.append("\\" + ch)
            else:
                out.append(ch)
            i += 1
            continue
        if ch == "[":
            if source.startswith("[^]", i):
                out.append(r"[\s\S]")
                i += 3
            elif source.startswith("[]", i):
                out.append("(?!)")
                i += 2
            else:
                in_class = True
                out.append("[")
                i += 1
                if source.startswith("^", i):
                    out.append("^")
                    i += 1
            continue
        if ch == "(" and source.startswith("(?", i):
            rest = source[i + 2:]
            if rest[:1] in (":", "=", "!"):
                out.append("(?" + rest[0])
                i += 3
            elif rest[:2] in ("<=", "<!"):
                out.append("(?" + rest[:2])
                i += 4
            else:
                named = re.match(r"<([A-Za-z_][A-Za-z0-9_]*)>", rest)
                if not named:
                    raise JSRegexError("invalid group")
                out.append(f"(?P<{named[1]}>")
                i += 2 + len(named[0])
            continue
        if ch == ".":
            out.append("." if dotall else f"[^{_LINE_END}]")
        elif ch == "$":
            out.append(rf"(?=[{_LINE_END}]|\Z)" if multiline else r"\Z")
        elif ch == "^" and multiline:
            out.append(rf"(?:\A|(?<=[{_LINE_END}]))")
        else:
            out.append(ch)
        i += 1
    if in_class:
        raise JSRegexError("unterminated character class")
    bits = 0
    for flag in flags:
        bits |= _JS_FLAG_BITS[flag]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return re.compile("".join(out), bits & ~re.MULTILINE), "y" in flags
    except (re.error, OverflowError, ValueError) as error:
        raise JSRegexError(str(error)) from None
