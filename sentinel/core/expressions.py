"""Evaluate configuration expressions: legacy JavaScript strings and JsonLogic rules.

Every transition evaluates its config through here: `bool_expr`, `alerts[].condition` (CHT's
`FORM(i)` through `accessors`), `is_report_counted` function source, recipient expressions. A string
is JavaScript with CHT's semantics (`1000 < x < 10000` is always true, JS truthiness); any other JSON
value (normally a dict) is a JsonLogic rule applied to the values by name (`{"var": "doc.fields.x"}`).
`None`, `""` or whitespace is the empty condition: always true (CHT skips an empty `bool_expr`).

Reads and writes nothing. Never raises while evaluating: an error, a timeout or running out of
memory counts as false (None for values) and is logged once per (where, kind) at warning level,
naming the rule's place in the settings but never the values (they hold personal data): of a JS
error only its name is logged. `syntax_problems()` gives the settings check the compile messages.

Sandbox: a quickjs-ng context has only the ECMAScript built-ins: no require, process, std/os modules
(`import()` fails), console, timers, fetch or XMLHttpRequest. A call may use `time_limit` seconds
(default 0.05, measured as the process's CPU time, so other busy threads shorten it) and a context
at most `memory_limit` bytes (default 32 MB); after a timeout or out-of-memory the thread's context
is replaced. Values cross as one JSON string (quickjs-ng takes no dicts). Contexts are not
thread-safe: each thread has its own, and code is compiled once per (Expressions, thread, context).
Unlike CHT (a fresh vm context per call), globals an expression sets stay visible to later calls in
the same thread: each thread keeps one context (and the code compiled in it) for its lifetime, because
a quickjs-ng context must be freed by the thread that made it. A timeout or out-of-memory replaces it.

Why quickjs-ng: maintained, wheels for every CPython, real CPU/memory limits, ~6 µs a call.
Why panzi-json-logic: passes the whole official suite in pure Python; we add JS-parity fixes:
`cat` joins like JS (null -> "", booleans -> "true"/"false", 1.0 -> "1"); `===`/`!==` and `in` on
arrays tell booleans from numbers; `%` keeps the dividend's sign; `/` and `%` by zero give
Infinity/NaN; `{"-": [a, null]}` is a - 0; `log` prints nothing. Known remaining divergences from
json-logic-js: panzi's own string conversions (`substr`, `<`/`==` between a string and a boolean or
array) still write True/False; `reduce` does not evaluate a rule given as its initial value; `cat`
writes floats below 1e-4 as "1e-5" (JS "0.00001"); a non-finite result of `value()` is None (JSON
has no NaN). JsonLogic has no time limit (its only loops are over the data's own arrays).
"""
from __future__ import annotations

import json
import logging
import math
import re
import threading
from typing import Any, Callable, Sequence

import quickjs
from json_logic import jsonLogic
from json_logic.builtins import BUILTINS, to_bool, to_number

from sentinel.core.docs import js_truthy  # noqa: F401 - re-exported: callers of `function()` read results with it

log = logging.getLogger(__name__)

DEFAULT_TIME_LIMIT = 0.05  # seconds of CPU per call
DEFAULT_MEMORY_LIMIT = 32 * 1024 * 1024  # bytes per context (one per thread)

_FAILED = object()
_IDENTIFIER = re.compile(r"^[A-Za-z_$][\w$]*$")
_ERROR_NAME = re.compile(r"^(\w*Error)\b")


def _blank(source: Any) -> bool:
    return source is None or isinstance(source, str) and not source.strip()


# --- JsonLogic ---------------------------------------------------------------------------------------

_SPECIAL_FORMS = {"if", "?:", "and", "or", "filter", "reduce", "map", "all", "some", "none"}


def _js_string(value: Any, in_join: bool = False) -> str:
    """String(value) as JavaScript gives it, or as Array.prototype.join does (in_join: null -> "")."""
    if value is None:
        return "" if in_join else "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            return "NaN" if math.isnan(value) else "Infinity" if value > 0 else "-Infinity"
        if value.is_integer() and abs(value) < 1e21:
            return str(int(value))
        return re.sub(r"e([+-])0*(\d)", r"e\1\2", repr(value))
    if isinstance(value, list):
        return ",".join(_js_string(item, True) for item in value)
    return "[object Object]" if isinstance(value, dict) else str(value)


def _strict_equal(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool) or a is None or b is None:
        return a is b
    if isinstance(a, (list, dict)) or isinstance(b, (list, dict)):
        return a is b  # JS compares objects by reference
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return a == b
    return type(a) is type(b) and a == b


def _divide(data: Any = None, a: Any = None, b: Any = None, *_: Any) -> float:
    x, y = to_number(a), to_number(b)
    if y != 0:
        return x / y
    return math.nan if x == 0 or math.isnan(x) else math.copysign(math.inf, x) * math.copysign(1, y)


def _modulo(data: Any = None, a: Any = None, b: Any = None, *_: Any) -> float | int:
    x, y = to_number(a), to_number(b)
    try:
        result = math.fmod(x, y)  # the dividend's sign, as JS
    except ValueError:  # x infinite or y zero
        return math.nan
    return int(result) if isinstance(x, int) and isinstance(y, int) else result


def _in(data: Any = None, needle: Any = None, haystack: Any = None, *_: Any) -> bool:
    if isinstance(haystack, list):  # Array.prototype.indexOf compares with ===
        return any(_strict_equal(needle, item) for item in haystack)
    return isinstance(haystack, str) and _js_string(needle) in haystack


def _subtract(data: Any = None, *args: Any) -> float | int:
    if len(args) < 2:
        return -to_number(args[0] if args else None)
    return to_number(args[0]) - to_number(args[1])


OPERATIONS: dict[str, Any] = {
    **BUILTINS,
    "cat": lambda data=None, *args: "".join(_js_string(arg, True) for arg in args),
    "===": lambda data=None, a=None, b=None, *_: _strict_equal(a, b),
    "!==": lambda data=None, a=None, b=None, *_: not _strict_equal(a, b),
    "in": _in,
    "/": _divide,
    "%": _modulo,
    "-": _subtract,
    "log": lambda data=None, a=None, *_: a,
}


def _unknown_operators(rule: Any, found: list[str]) -> list[str]:
    """Operators json-logic would reject (a dict with one key is logic; any other dict is data)."""
    if isinstance(rule, list):
        for item in rule:
            _unknown_operators(item, found)
    elif isinstance(rule, dict) and len(rule) == 1:
        op, args = next(iter(rule.items()))
        if op not in OPERATIONS and op not in _SPECIAL_FORMS and op not in found:
            found.append(op)
        _unknown_operators(args, found)
    return found


def _json_value(value: Any) -> Any:
    """What JSON.stringify keeps: non-finite numbers become None."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, list):
        return [_json_value(item) for item in value]
    if isinstance(value, dict):
        return {key: _json_value(item) for key, item in value.items()}
    return value


# --- JavaScript --------------------------------------------------------------------------------------


def _error_kind(exc: BaseException) -> str:
    """timeout, memory, the JS error's name (SyntaxError, TypeError...) or exception (a thrown value)."""
    if not isinstance(exc, quickjs.JSException):
        return type(exc).__name__
    first_line = str(exc).split("\n", 1)[0]
    if first_line.startswith("InternalError: interrupted"):
        return "timeout"
    if first_line.startswith("InternalError: out of memory"):
        return "memory"
    match = _ERROR_NAME.match(first_line)
    return match.group(1) if match else "exception"


def _js_wrapper(source: str, params: tuple[str, ...] | None, accessors: tuple[str, ...]) -> str:
    """JS text giving `function(json, asBool)`: json is the values' JSON object (or, for function
    source, params None, the arguments' JSON array); the result is `!!r` or r's JSON text."""
    if params is None:
        inner = f"(\n{source.strip()}\n)"
        call = "__f.apply(undefined, JSON.parse(__json))"
        check = "if (typeof __f !== 'function') throw new TypeError('the source is not a function');"
    else:
        body = source.strip().rstrip(";")
        inner = f"(function ({', '.join(params)}) {{ return (\n{body}\n); }})"
        args = [f"__list(__v[{json.dumps(p)}])" if p in accessors else f"__v[{json.dumps(p)}]" for p in params]
        call = f"(__v => __f({', '.join(args)}))(JSON.parse(__json))"
        check = ""
    return (f"(function () {{ const __list = a => (i => (a || [])[i]); const __f = {inner}; {check}\n"
            "return function (__json, __bool) { const __r = " + call + ";"
            " return __bool ? !!__r : JSON.stringify(__r); }; })()")


_THREAD = threading.local()  # this thread's engines, by (time limit, memory limit)


class _Engine:
    """One quickjs-ng context and the code compiled in it; used by one thread only."""

    def __init__(self, time_limit: float, memory_limit: int) -> None:
        self.context = quickjs.Context()
        self.context.set_time_limit(time_limit)
        self.context.set_memory_limit(memory_limit)
        self.compiled: dict[tuple, Any] = {}


class Expressions:
    """Compiles and evaluates the expressions of one settings load (make a new one per load)."""

    def __init__(self, time_limit: float = DEFAULT_TIME_LIMIT, memory_limit: int = DEFAULT_MEMORY_LIMIT) -> None:
        self.time_limit = time_limit
        self.memory_limit = memory_limit
        self.compilations = 0  # JS compilations in all threads
        self._lock = threading.Lock()
        self._logged: set[tuple[str, str]] = set()

    def condition(self, source: Any, params: Sequence[str] = ("doc",), where: str = "<expression>",
                  *, accessors: Sequence[str] = ()) -> Callable[..., bool]:
        """`cond(**values) -> bool`. `accessors`: params whose list JS sees as a function, `FORM(0)`."""
        if _blank(source):
            return lambda **values: True
        if isinstance(source, str):
            run = self._js(source, _names(params, accessors), _tuple(accessors), True, where)
            return lambda **values: run(values) is True
        apply = self._logic(source, where)
        return lambda **values: (lambda r: r is not _FAILED and to_bool(r))(apply(values))

    def value(self, source: Any, params: Sequence[str] = ("doc",), where: str = "<expression>",
              *, accessors: Sequence[str] = ()) -> Callable[..., Any]:
        """`get(**values) -> JSON value` of the expression; None when blank, undefined or failing."""
        if _blank(source):
            return lambda **values: None
        if isinstance(source, str):
            run = self._js(source, _names(params, accessors), _tuple(accessors), False, where)
        else:
            run = self._logic(source, where)
        return lambda **values: (lambda r: None if r is _FAILED else r)(run(values))

    def function(self, source: Any, where: str = "<function>") -> Callable[..., Any]:
        """`call(*args) -> JSON value` of JS function source (None on failure). A JsonLogic rule is
        applied to `{"args": [...], "report": args[0], "latest_report": args[1]}` (is_report_counted)."""
        if isinstance(source, str):
            run = self._js(source, None, (), False, where)
            return lambda *args: (lambda r: None if r is _FAILED else r)(run(list(args)))
        apply = self._logic(source, where)

        def call(*args: Any) -> Any:
            data = {"args": list(args), "report": args[0] if args else None,
                    "latest_report": args[1] if len(args) > 1 else None}
            result = apply(data)
            return None if result is _FAILED else result
        return call

    def syntax_problems(self, source: Any, params: Sequence[str] = ("doc",), where: str = "<expression>",
                        *, function: bool = False) -> list[str]:
        """Compile without running (function=True: function source); messages start with `where`."""
        if _blank(source):
            return [f"{where}: a function is required"] if function else []
        if not isinstance(source, str):
            return [f"{where}: unknown JsonLogic operator {op!r}" for op in _unknown_operators(source, [])]
        compiled = self._compiled(self._engine(), source, None if function else _names(params), ())
        return [f"{where}: {_compile_message(compiled, source)}"] if isinstance(compiled, Exception) else []

    # --- evaluation ---

    def _js(self, source: str, params: tuple[str, ...] | None, accessors: tuple[str, ...], as_bool: bool,
            where: str) -> Callable[[Any], Any]:
        def run(values: Any) -> Any:
            engine = self._engine()
            compiled = self._compiled(engine, source, params, accessors)
            if isinstance(compiled, Exception):
                self._warn(where, "syntax", f"does not compile: {_compile_message(compiled, source)}")
                return _FAILED
            try:
                out = compiled(json.dumps(values, separators=(",", ":")), as_bool)
                return out if as_bool or out is None else json.loads(out)
            except Exception as exc:  # noqa: BLE001 - any failure counts as false, never raises
                kind = _error_kind(exc)
                if kind in ("timeout", "memory"):
                    _THREAD.engines.pop((self.time_limit, self.memory_limit), None)  # a fresh context next
                self._warn(where, kind, {
                    "timeout": f"stopped at the {self.time_limit} s time limit",
                    "memory": f"stopped at the {self.memory_limit // (1024 * 1024)} MB memory limit",
                }.get(kind, f"failed with {kind} (its message is not logged: it may hold personal data)"))
                return _FAILED
        return run

    def _logic(self, rule: Any, where: str) -> Callable[[Any], Any]:
        unknown = _unknown_operators(rule, [])

        def apply(data: Any) -> Any:
            if unknown:
                self._warn(where, "syntax", f"unknown JsonLogic operator(s) {', '.join(map(repr, unknown))}")
                return _FAILED
            try:
                return _json_value(jsonLogic(rule, data, OPERATIONS))
            except Exception as exc:  # noqa: BLE001
                self._warn(where, type(exc).__name__, f"JsonLogic evaluation failed ({type(exc).__name__})")
                return _FAILED
        return apply

    def _engine(self) -> _Engine:
        # Engines belong to their thread for its lifetime, not to this object: a quickjs-ng context
        # must not be freed by another thread (which garbage-collecting an old Expressions would do).
        engines = _THREAD.__dict__.setdefault("engines", {})
        key = (self.time_limit, self.memory_limit)
        if key not in engines:
            engines[key] = _Engine(self.time_limit, self.memory_limit)
        return engines[key]

    def _compiled(self, engine: _Engine, source: str, params: tuple[str, ...] | None,
                  accessors: tuple[str, ...]) -> Any:
        """The compiled JS callable, or the exception compiling raised (cached too)."""
        key = (source, params, accessors)
        compiled = engine.compiled.get(key)
        if compiled is None:
            with self._lock:
                self.compilations += 1
            try:
                compiled = engine.context.eval(_js_wrapper(source, params, accessors))
            except Exception as exc:  # noqa: BLE001
                compiled = exc
                if params is not None and _error_kind(exc) == "SyntaxError" and _is_statements(engine, source):
                    # CHT runs a script (vm.runInNewContext): several statements give the last one's value
                    compiled = engine.context.eval(_js_wrapper(f"eval({json.dumps(source)})", params, accessors))
            engine.compiled[key] = compiled
        return compiled

    def _warn(self, where: str, kind: str, message: str) -> None:
        with self._lock:
            if (where, kind) in self._logged:
                return
            self._logged.add((where, kind))
        log.warning("%s: %s; counted as false (null for a value); logged once", where, message)


def _is_statements(engine: _Engine, source: str) -> bool:
    try:
        engine.context.eval(f"(function () {{\n{source}\n}})")
        return True
    except Exception:  # noqa: BLE001
        return False


def _tuple(names: Sequence[str]) -> tuple[str, ...]:
    return (names,) if isinstance(names, str) else tuple(names)


def _compile_message(exc: Exception, source: str) -> str:
    """The compile error's first line, placed in the source (the wrapper puts it from line 2)."""
    text = str(exc)
    message = text.split("\n", 1)[0] or _error_kind(exc)
    place = re.search(r"<input>:(\d+):(\d+)", text)
    if place:
        line, column = int(place.group(1)) - 1, int(place.group(2))
        lines = source.strip().count("\n") + 1
        message += f" (line {line}, column {column})" if 1 <= line <= lines else " (at the end)"
    return message


def _names(params: Sequence[str], accessors: Sequence[str] = ()) -> tuple[str, ...]:
    """The parameter names, checked: JS identifiers (not __-prefixed), accessors among them."""
    names = _tuple(params)
    bad = [name for name in names if not _IDENTIFIER.match(name) or name.startswith("__")]
    if bad or not set(_tuple(accessors)) <= set(names):
        raise ValueError(f"bad parameter names {bad} or accessors {accessors} not among {names}")
    return names
