"""sentinel/expressions.py: config conditions and expressions, in JavaScript (CHT) or JsonLogic.

Pure unit tests, no server: CHT's bool_expr semantics, JsonLogic equivalents and its JS-parity fixes,
errors counted as false and logged once with the rule's place, the sandbox (no host access, CPU and
memory limits, the context still usable afterwards), compile-once caching and per-thread contexts.
"""
from __future__ import annotations

import logging
import threading
import time
from typing import Any

import pytest

from sentinel.core.expressions import Expressions, js_truthy

DOC = {
    "_id": "r1",
    "type": "data_record",
    "form": "P",
    "reported_date": 1700000000000,
    "fields": {"lmp": 12, "x": 5, "temp": "38.5", "patient_name": "Alice Smith", "none": None},
    "contact": {"phone": "+254700000001", "parent": {"_id": "hc1"}},
}


@pytest.fixture
def expressions() -> Expressions:
    return Expressions()


def warnings_of(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "sentinel.core.expressions" and r.levelno == logging.WARNING]


# --- JavaScript conditions (CHT bool_expr) ---------------------------------------------------------


@pytest.mark.parametrize(
    "source, expected",
    [
        pytest.param("typeof doc.fields.lmp !== 'undefined'", True, id="typeof-defined-field"),
        pytest.param("typeof doc.fields.missing !== 'undefined'", False, id="typeof-undefined-field"),
        pytest.param("doc.fields.missing === undefined", True, id="missing-field-is-undefined"),
        pytest.param("doc.fields.none == undefined", True, id="null-loosely-equals-undefined"),
        pytest.param("doc.fields.x > 0", True, id="numeric-comparison"),
        pytest.param("doc.fields.missing > 0", False, id="undefined-compares-false"),
        pytest.param("1000 < doc.fields.x < 10000", True, id="chained-comparison-is-always-true-in-js"),
        pytest.param("doc.fields.temp > 37", True, id="string-number-coerced-like-js"),
        pytest.param("doc.fields.temp + 1 === '38.51'", True, id="plus-concatenates-strings"),
        pytest.param("doc.form === 'P'", True, id="form-strict-equality"),
        pytest.param("doc.form === 'p'", False, id="strict-equality-is-case-sensitive"),
        pytest.param("doc.fields.patient_name.toLowerCase().indexOf('alice') === 0", True, id="string-methods"),
        pytest.param("doc.fields.patient_name.split(' ').length == 2", True, id="split-and-length"),
        pytest.param("doc.fields.x", True, id="non-boolean-truthy-result"),
        pytest.param("doc.fields.none", False, id="null-is-falsy"),
        pytest.param("''", False, id="empty-string-literal-is-falsy"),
        pytest.param("[]", True, id="empty-array-is-truthy-in-js"),
        pytest.param("doc.form === 'P';", True, id="trailing-semicolon-is-accepted"),
        pytest.param("doc.form === 'P' // a comment", True, id="trailing-line-comment-is-accepted"),
        pytest.param("var limit = 3; doc.fields.x > limit", True, id="several-statements-give-the-last-value"),
        pytest.param("doc.fields.x >= 5 && doc.contact.parent._id === 'hc1'", True, id="nested-lineage"),
        pytest.param("doc.fields?.nested?.deep ?? true", True, id="es2020-syntax"),
    ],
)
def test_js_conditions_follow_javascript_semantics(expressions, source, expected):
    assert expressions.condition(source, where="registrations[0].events[0].bool_expr")(doc=DOC) is expected


@pytest.mark.parametrize(
    "source",
    [pytest.param(None, id="none"), pytest.param("", id="empty"), pytest.param("  \n ", id="whitespace")],
)
def test_an_empty_condition_is_always_true(expressions, source):
    assert expressions.condition(source)(doc=DOC) is True
    assert expressions.condition(source)() is True
    assert expressions.compilations == 0


def test_a_condition_sees_every_named_parameter_and_missing_ones_are_undefined(expressions):
    cond = expressions.condition("a.n + b.n === 3 && typeof c === 'undefined'", ("a", "b", "c"))
    assert cond(a={"n": 1}, b={"n": 2}) is True
    assert cond(a={"n": 1}, b={"n": 1}) is False


def test_accessors_give_chts_form_i_helper(expressions):
    source = "FORM(0).temp > 37 && (!FORM(1) || FORM(0).reported_date - FORM(1).reported_date > 10000)"
    cond = expressions.condition(source, ("FORM",), "alerts[0].condition", accessors=("FORM",))
    assert cond(FORM=[{"temp": 38, "reported_date": 50000}, {"temp": 36, "reported_date": 1}]) is True
    assert cond(FORM=[{"temp": 38, "reported_date": 50000}, {"temp": 36, "reported_date": 45000}]) is False
    assert cond(FORM=[{"temp": 38, "reported_date": 50000}]) is True


def test_parameter_names_must_be_identifiers(expressions):
    with pytest.raises(ValueError):
        expressions.condition("x", ("not a name",))


# --- JsonLogic ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "rule, expected",
    [
        pytest.param({"!==": [{"var": "doc.fields.lmp"}, None]}, True, id="defined-field"),
        pytest.param({"==": [{"var": "doc.fields.missing"}, None]}, True, id="missing-field-is-null"),
        pytest.param({">": [{"var": "doc.fields.x"}, 0]}, True, id="numeric-comparison"),
        pytest.param({"<": [1000, {"var": "doc.fields.x"}, 10000]}, False, id="between-is-a-real-range"),
        pytest.param({">": [{"var": "doc.fields.temp"}, 37]}, True, id="string-number-coerced"),
        pytest.param({"===": [{"var": "doc.form"}, "P"]}, True, id="form-strict-equality"),
        pytest.param({"in": ["Alice", {"var": "doc.fields.patient_name"}]}, True, id="substring"),
        pytest.param({"and": [{"var": "doc.fields.x"}, {"missing": ["doc.fields.lmp"]}]}, False, id="missing"),
        pytest.param({"var": "doc.fields.x"}, True, id="non-boolean-truthy-result"),
        pytest.param({"var": "doc.nope"}, False, id="absent-is-falsy"),
        pytest.param([], False, id="empty-array-is-falsy-in-jsonlogic"),
        pytest.param(True, True, id="literal-true"),
    ],
)
def test_jsonlogic_conditions_are_applied_to_the_named_values(expressions, rule, expected):
    assert expressions.condition(rule, where="registrations[0].events[0].bool_expr")(doc=DOC) is expected


@pytest.mark.parametrize(
    "rule, expected",
    [
        pytest.param({"cat": ["a", None, "b"]}, "ab", id="cat-of-null-is-empty"),
        pytest.param({"cat": [True, "/", False]}, "true/false", id="cat-of-booleans-is-lowercase"),
        pytest.param({"cat": [1.0, "-", 2.5, "-", [1, None, 2]]}, "1-2.5-1,,2", id="cat-numbers-and-arrays-like-js"),
        pytest.param({"===": [1, True]}, False, id="strict-equality-tells-booleans-from-numbers"),
        pytest.param({"===": [1, 1.0]}, True, id="strict-equality-of-int-and-float"),
        pytest.param({"!==": [0, False]}, True, id="strict-inequality-with-boolean"),
        pytest.param({"in": [1, [True, "1"]]}, False, id="in-array-compares-strictly"),
        pytest.param({"in": [True, "is true"]}, True, id="in-string-writes-booleans-like-js"),
        pytest.param({"%": [-1, 2]}, -1, id="modulo-keeps-the-dividends-sign"),
        pytest.param({"/": [1, 0]}, None, id="division-by-zero-is-infinity-which-json-makes-null"),
        pytest.param({"-": [5, None]}, 5, id="minus-null-subtracts-zero"),
        pytest.param({"-": [5]}, -5, id="unary-minus"),
        pytest.param({"log": "x"}, "x", id="log-returns-its-argument"),
    ],
)
def test_jsonlogic_has_the_js_parity_fixes(expressions, rule, expected):
    assert expressions.value(rule, (), "v")() == expected


def test_jsonlogic_log_prints_nothing(expressions, capsys):
    expressions.value({"log": {"var": "doc.fields.patient_name"}})(doc=DOC)
    assert capsys.readouterr().out == ""


# --- value() and function() --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "source, expected",
    [
        pytest.param("doc.contact.phone", "+254700000001", id="string"),
        pytest.param("({id: doc._id, n: doc.fields.x * 2})", {"id": "r1", "n": 10}, id="object"),
        pytest.param("[doc.form, doc.fields.lmp, null]", ["P", 12, None], id="array"),
        pytest.param("doc.fields.x / 2", 2.5, id="number"),
        pytest.param("doc.fields.missing", None, id="undefined-is-none"),
        pytest.param("[undefined, NaN, () => 1]", [None, None, None], id="non-json-values-as-json-stringify"),
        pytest.param({"var": "doc.contact"}, DOC["contact"], id="jsonlogic-object"),
        pytest.param({"map": [[1, 2], {"*": [{"var": ""}, 2]}]}, [2, 4], id="jsonlogic-array"),
        pytest.param("", None, id="blank-is-none"),
    ],
)
def test_value_returns_the_json_value_of_the_expression(expressions, source, expected):
    assert expressions.value(source, ("doc",), "multi_report_alerts[0].recipients[1]")(doc=DOC) == expected


REPORT = {"_id": "a", "reported_date": 2000, "fields": {"age": 20}}
LATEST = {"_id": "b", "reported_date": 3000, "fields": {"age": 30}}


@pytest.mark.parametrize(
    "source, args, expected",
    [
        pytest.param("function(report, latestReport) { return true; }", (REPORT, LATEST), True, id="chts-default"),
        pytest.param(
            "function(report, latest_report) {\n  return report.fields.age >= 18 &&"
            " report.reported_date < latest_report.reported_date;\n}",
            (REPORT, LATEST), True, id="uses-both-arguments",
        ),
        pytest.param("function(r, l) { return r._id === l._id; }", (REPORT, LATEST), False, id="false"),
        pytest.param("(r, l) => r.fields.age + l.fields.age", (REPORT, LATEST), 50, id="arrow-function-value"),
        pytest.param("function(r, l) { return typeof l; }", (REPORT,), "undefined", id="missing-argument"),
        pytest.param(
            {"<": [{"var": "report.reported_date"}, {"var": "latest_report.reported_date"}]},
            (REPORT, LATEST), True, id="jsonlogic-report-and-latest-report",
        ),
        pytest.param({"var": "args.1._id"}, (REPORT, LATEST), "b", id="jsonlogic-args"),
    ],
)
def test_function_calls_is_report_counted_style_source(expressions, source, args, expected):
    assert expressions.function(source, "multi_report_alerts[0].is_report_counted")(*args) == expected


@pytest.mark.parametrize(
    "value, expected",
    [(0, False), ("", False), (None, False), (float("nan"), False), ([], True), ({}, True), ("0", True), (2, True)],
)
def test_js_truthy_is_javascript_truthiness(value, expected):
    assert js_truthy(value) is expected


# --- errors: false, logged once with `where`, never the values -----------------------------------------


@pytest.mark.parametrize(
    "source, kind",
    [
        pytest.param("doc.fields.x >", "does not compile", id="syntax-error"),
        pytest.param("doc.fields.missing.deeper", "TypeError", id="type-error"),
        pytest.param("undefinedVariable > 1", "ReferenceError", id="reference-error"),
        pytest.param("JSON.parse(doc.fields.patient_name)", "SyntaxError", id="runtime-syntax-error-hides-data"),
        pytest.param("(() => { throw doc.fields.patient_name; })()", "exception", id="thrown-value"),
        pytest.param({"unknown_op": [1]}, "unknown JsonLogic operator", id="jsonlogic-unknown-operator"),
    ],
)
def test_a_failing_condition_is_false_and_logged_once_with_where_but_no_values(expressions, caplog, source, kind):
    where = "registrations[0].events[2].bool_expr"
    cond = expressions.condition(source, ("doc",), where)
    with caplog.at_level(logging.WARNING, logger="sentinel.core.expressions"):
        assert cond(doc=DOC) is False
        assert cond(doc=DOC) is False
    [message] = warnings_of(caplog)
    assert message.startswith(where) and kind in message
    assert "Alice" not in message


def test_a_failing_value_is_none(expressions):
    assert expressions.value("doc.fields.missing.deeper", ("doc",), "v")(doc=DOC) is None
    assert expressions.function("function(r) { return r.a.b; }", "f")({}) is None


@pytest.mark.parametrize(
    "source, params, function, problem",
    [
        pytest.param("doc.fields.x >", ("doc",), False, "SyntaxError", id="expression-syntax-error"),
        pytest.param("doc.x = = 2", ("doc",), False, "(line 1, column 9)", id="position-in-the-source"),
        pytest.param("function(r, l) { return r +* 2 }", None, True, "SyntaxError", id="function-syntax-error"),
        pytest.param("1 + 1", None, True, "not a function", id="function-source-that-is-no-function"),
        pytest.param({"and": [{"nope": 1}, {"var": "x"}]}, ("doc",), False, "'nope'", id="jsonlogic-unknown-operator"),
    ],
)
def test_syntax_problems_reports_compile_errors_with_where(expressions, source, params, function, problem):
    where = "multi_report_alerts[0].is_report_counted" if function else "alerts[0].condition"
    [message] = expressions.syntax_problems(source, params or (), where, function=function)
    assert message.startswith(f"{where}: ") and problem in message


@pytest.mark.parametrize(
    "source, function",
    [
        pytest.param("typeof doc.fields.lmp !== 'undefined'", False, id="expression"),
        pytest.param("while (true) {}", False, id="loop-is-compiled-not-run"),
        pytest.param("function(r, l) { return true; }", True, id="function"),
        pytest.param({"if": [{"var": "x"}, {"cat": ["a", "b"]}, {"reduce": [[1], {"+": [1, 2]}, 0]}]}, False,
                     id="jsonlogic"),
        pytest.param("", False, id="blank"),
    ],
)
def test_syntax_problems_is_empty_for_valid_source(expressions, source, function):
    start = time.perf_counter()
    assert expressions.syntax_problems(source, ("doc",), "w", function=function) == []
    assert time.perf_counter() - start < 0.04


# --- sandbox ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "source",
    [
        pytest.param("typeof require === 'undefined'", id="no-require"),
        pytest.param("typeof process === 'undefined'", id="no-process"),
        pytest.param("typeof fetch === 'undefined'", id="no-fetch"),
        pytest.param("typeof XMLHttpRequest === 'undefined'", id="no-xmlhttprequest"),
        pytest.param("typeof std === 'undefined' && typeof os === 'undefined'", id="no-std-or-os"),
        pytest.param("typeof setTimeout === 'undefined' && typeof setInterval === 'undefined'", id="no-timers"),
        pytest.param("typeof console === 'undefined' && typeof print === 'undefined'", id="no-console"),
        pytest.param("typeof globalThis.python === 'undefined'", id="no-python-bridge"),
    ],
)
def test_the_sandbox_exposes_no_host_access(expressions, source):
    assert expressions.condition(source)(doc=DOC) is True


@pytest.mark.parametrize(
    "source",
    [
        pytest.param("std.open('/etc/passwd', 'r')", id="std-open"),
        pytest.param("os.exec(['ls'])", id="os-exec"),
        pytest.param("require('fs').readFileSync('/etc/passwd')", id="require-fs"),
        pytest.param("process.env.COUCH_URL", id="process-env"),
    ],
)
def test_host_access_attempts_fail(expressions, source):
    assert expressions.value(source, ("doc",), "w")(doc=DOC) is None


def test_dynamic_import_of_os_is_rejected(expressions):
    get = expressions.value("import('os').then(() => 'loaded', e => 'rejected: ' + e.message)", (), "w")
    assert get() == {}  # a pending promise: no job queue runs, so nothing loads
    engine = expressions._engine()
    engine.context.eval("var __out = 'pending'; import('os').then(() => __out = 'loaded', e => __out = 'rejected')")
    while engine.context.execute_pending_job():
        pass
    assert engine.context.eval("__out") == "rejected"


def test_an_infinite_loop_is_stopped_at_the_time_limit_and_reported(expressions, caplog):
    cond = expressions.condition("(() => { while (true) {} })()", ("doc",), "registrations[1].events[0].bool_expr")
    with caplog.at_level(logging.WARNING, logger="sentinel.core.expressions"):
        start = time.perf_counter()
        assert cond(doc=DOC) is False
        assert time.perf_counter() - start < 0.2
    [message] = warnings_of(caplog)
    assert message.startswith("registrations[1].events[0].bool_expr") and "time limit" in message


def test_the_time_limit_is_configurable():
    cond = Expressions(time_limit=0.01).condition("(() => { while (true) {} })()")
    start = time.perf_counter()
    assert cond(doc=DOC) is False
    assert time.perf_counter() - start < 0.05


@pytest.mark.parametrize(
    "source",
    [
        pytest.param("(() => { const a = []; while (true) a.push(new Array(1e5).fill(1)); })()", id="growing-array"),
        pytest.param("'x'.repeat(1e9).length > 0", id="huge-string"),
        pytest.param("new Array(1e8).fill(0).length > 0", id="huge-array"),
    ],
)
def test_a_memory_bomb_hits_the_memory_limit(expressions, caplog, source):
    with caplog.at_level(logging.WARNING, logger="sentinel.core.expressions"):
        start = time.perf_counter()
        assert expressions.condition(source, ("doc",), "alerts[3].condition")(doc=DOC) is False
        assert time.perf_counter() - start < 0.2
    [message] = warnings_of(caplog)
    assert message.startswith("alerts[3].condition") and "memory limit" in message


@pytest.mark.parametrize(
    "bomb",
    [
        pytest.param("(() => { while (true) {} })()", id="after-timeout"),
        pytest.param("(() => { const a = []; while (true) a.push(new Array(1e5).fill(1)); })()", id="after-oom"),
        pytest.param("(function f() { return f() + 1; })()", id="after-stack-overflow"),
    ],
)
def test_the_context_still_works_after_a_limit_is_hit(expressions, bomb):
    ok = expressions.condition("doc.form === 'P' && doc.fields.x > 0")
    assert ok(doc=DOC) is True
    assert expressions.condition(bomb)(doc=DOC) is False
    for _ in range(3):
        assert ok(doc=DOC) is True
    assert expressions.value("new Array(1e5).fill(1).length", (), "w")() == 100000  # memory was freed


# --- compile once, threads ---------------------------------------------------------------------------


def test_each_source_is_compiled_once_per_settings_load(expressions):
    cond = expressions.condition("doc.fields.x > 0", ("doc",), "a")
    same = expressions.condition("doc.fields.x > 0", ("doc",), "b")
    value = expressions.value("doc.fields.x > 0", ("doc",), "c")
    assert expressions.syntax_problems("doc.fields.x > 0", ("doc",), "d") == []
    for _ in range(100):
        assert cond(doc=DOC) and same(doc=DOC) and value(doc=DOC) is True
    assert expressions.compilations == 1
    expressions.condition("doc.fields.x > 0", ("doc", "other"))(doc=DOC)
    assert expressions.compilations == 2  # other parameters: other code


def test_ten_thousand_evaluations_take_well_under_a_second(expressions):
    cond = expressions.condition("doc.form === 'P' && doc.fields.lmp !== undefined && doc.fields.x > 1")
    start = time.perf_counter()
    for _ in range(10_000):
        cond(doc=DOC)
    assert time.perf_counter() - start < 0.5


def test_two_threads_evaluate_concurrently_with_correct_results(expressions):
    cond = expressions.condition("doc.fields.n % 3 === 0")
    value = expressions.value("doc.fields.n * 2")
    errors: list[Any] = []
    barrier = threading.Barrier(2)

    def work(offset: int) -> None:
        barrier.wait()
        for n in range(offset, offset + 2000):
            doc = {"fields": {"n": n}}
            if cond(doc=doc) is not (n % 3 == 0) or value(doc=doc) != n * 2:
                errors.append(n)

    threads = [threading.Thread(target=work, args=(offset,)) for offset in (0, 100_000)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert expressions.compilations == 4  # each thread has its own context
