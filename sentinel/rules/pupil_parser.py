"""Reading a rule, for the pupil port (`sentinel/rules/validation.py`: CHT's pupil validation rules, as
CHT 4.15+ shared-libs/validation/src runs them).

CHT's pupil lexer (`_tokenize`) and a parser of its tokens into a tree of `_Seq`, `_Ternary` and `_Call`
nodes (`_parse`, cached per rule; `_compiled` raises the `_Crash` CHT would).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Iterable

from sentinel.rules.pupil_values import _JS_SPACE, _Crash, _parse_float, _to_number


@dataclass(frozen=True)
class _Token:
    kind: str  # ident number string , : ? && || ! ( )
    text: str
    index: int  # position among the tokens (CHT's error `pos`)
    column: int  # position in the rule


class _RuleSyntaxError(Exception):
    def __init__(self, message: str, token: _Token | None, column: int, hint: str = ""):
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.pos = token.index if token is not None and message not in _MESSAGES_WITHOUT_POS else None
        self.column = column

    def crash(self) -> _Crash:
        return _Crash({"message": self.message} if self.pos is None else {"message": self.message, "pos": self.pos})


_SINGLE_CHAR_TOKENS = {",": ",", ":": ":", "?": "?", "!": "!", "(": "(", ")": ")"}
_UNEXPECTED = {
    "ident": "Unexpected identifier",
    "string": "Unexpected string",
    "number": "Unexpected string",  # CHT checks `accept.string` first for both
    ",": "Unexpected function argument separator",
    "&&": "Unexpected logical AND",
    "||": "Unexpected logical OR",
    "!": "Unexpected logical NOT",
    "(": "Unexpected opening bracket",
    ")": "Unexpected closing bracket",
    "?": "Unexpected ternary 'then'",
    ":": "Unexpected ternary 'else'",
}
_NOT_CLOSED = "All blocks weren't closed."
_MESSAGES_WITHOUT_POS = {_UNEXPECTED["?"], _UNEXPECTED[":"], _NOT_CLOSED}


def _tokenize(rule: str) -> tuple[list[_Token], str | None]:
    """CHT's pupil lexer, character for character; also returns the identifier it drops at the end."""
    tokens: list[tuple[str, str, int]] = []
    pending, pending_at = "", 0
    escape_next = in_string = False
    quote: str | None = None
    string_at = 0
    last = len(rule) - 1
    i = 0
    while i <= last:
        ch = rule[i]
        following = rule[i + 1] if i < last else None
        start_string = end_string = append = ignore = False
        push: list[tuple[str, str, int]] = []
        if escape_next:
            escape_next, append = False, True
        elif ch == quote:
            end_string = True
        elif in_string:
            append = True
        elif ch in "\"'":
            start_string = True
        elif ch == "\\":
            escape_next = ignore = True
        elif ch in _SINGLE_CHAR_TOKENS:
            push.append((ch, ch, i))
        elif ch in "&|" and following == ch:
            push.append((ch * 2, ch * 2, i))
            i += 1
        elif ch in _JS_SPACE:
            ignore = True
        else:
            append = True
        if append:
            if not pending:
                pending_at = string_at if in_string else i
            pending += ch
        if i >= last:
            append = False
        if not append and not ignore and pending:
            if in_string:
                kind = "string"
            elif not math.isnan(_parse_float(pending)) and math.isfinite(_to_number(pending)):
                kind = "number"
            else:
                kind = "ident"
            push.insert(0, (kind, pending, pending_at))
            pending = ""
        if start_string:
            in_string, quote, string_at = True, ch, i
        if end_string:
            in_string, quote = False, None
        tokens.extend(push)
        i += 1
    if in_string:
        raise _RuleSyntaxError("Unterminated string", None, string_at)
    if escape_next and not pending:
        raise _RuleSyntaxError("Unexpected end of rule after \\", None, last)
    return [_Token(kind, text, n, col) for n, (kind, text, col) in enumerate(tokens)], (pending or None)


@dataclass(frozen=True)
class _Call:
    name: str
    args: tuple[Any, ...]
    column: int


@dataclass(frozen=True)
class _Seq:
    """Operands combined left to right: ((operator or None, negated, node), ...)."""

    items: tuple[tuple[str | None, bool, Any], ...]


@dataclass(frozen=True)
class _Ternary:
    condition: _Seq
    then: _Seq
    otherwise: _Seq | None


class _Parser:
    """Recursive descent over CHT's tokens:
        rule    := ε | block
        block   := seq ['?' seq [':' seq]]
        seq     := unary (('&&' | '||') unary)*
        unary   := ['!'] primary
        primary := ident ['(' [arg (',' arg)* [',']] ')'] | '(' [block] ')'
    """

    def __init__(self, tokens: list[_Token], rule: str):
        self.tokens, self.rule, self.at, self.depth = tokens, rule, 0, 0
        self.last_group_close = -1

    def parse(self) -> Any:
        if not self.tokens:
            return _Seq(())
        tree = self.block()
        if self.at < len(self.tokens):
            token = self.tokens[self.at]
            raise self.error("Can't close the root block." if token.kind == ")" else _UNEXPECTED[token.kind], token)
        if isinstance(tree, _Ternary) and self.last_group_close == len(self.tokens) - 1:
            # CHT closes a root ternary only on the last token, unless that token closes a group
            raise _RuleSyntaxError(
                _NOT_CLOSED, None, len(self.rule),
                " (CHT cannot end a ternary outside parentheses with a parenthesised group: wrap the ternary in"
                " parentheses)",
            )
        return tree

    def peek(self) -> str | None:
        return self.tokens[self.at].kind if self.at < len(self.tokens) else None

    def take(self) -> _Token:
        if self.at >= len(self.tokens):
            raise self.error("Unexpected end of rule", None)
        token = self.tokens[self.at]
        self.at += 1
        return token

    def error(self, message: str, token: _Token | None) -> _RuleSyntaxError:
        return _RuleSyntaxError(message, token, token.column if token is not None else len(self.rule))

    def block(self) -> Any:
        condition = self.seq()
        if self.peek() != "?":
            return condition
        self.take()
        then = self.seq()
        otherwise = None
        if self.peek() == ":":
            self.take()
            otherwise = self.seq()
        return _Ternary(condition, then, otherwise)

    def seq(self) -> _Seq:
        items = [(None, *self.unary())]
        while self.peek() in ("&&", "||"):
            operator = self.take().kind
            items.append((operator, *self.unary()))
        return _Seq(tuple(items))

    def unary(self) -> tuple[bool, Any]:
        if self.peek() != "!":
            return False, self.primary()
        self.take()
        if self.peek() == "!":
            raise self.error(_UNEXPECTED["!"], self.tokens[self.at])
        return True, self.primary()

    def primary(self) -> Any:
        if self.at >= len(self.tokens):
            raise self.error("Unexpected end of rule", None)
        token = self.take()
        if token.kind == "ident":
            if self.peek() != "(":
                return _Call(token.text, (), token.column)
            self.take()
            return _Call(token.text, self.arguments(), token.column)
        if token.kind == "(":
            self.depth += 1
            if self.peek() == ")":
                node: Any = _Seq(())
            else:
                node = self.block()
            if self.at >= len(self.tokens):
                raise self.error(_NOT_CLOSED, None)
            close = self.take()
            if close.kind != ")":
                raise self.error(_UNEXPECTED[close.kind], close)
            self.depth -= 1
            self.last_group_close = close.index
            return node
        raise self.error(_UNEXPECTED[token.kind], token)

    def arguments(self) -> tuple[Any, ...]:
        args: list[Any] = []
        while True:
            if self.at >= len(self.tokens):
                raise self.error("Unexpected end of rule: the argument list is not closed", None)
            token = self.take()
            if token.kind == ")":
                return tuple(args)
            if token.kind not in ("string", "number"):
                raise self.error(_UNEXPECTED[token.kind], token)
            args.append(token.text if token.kind == "string" else _parse_float(token.text))
            if self.at >= len(self.tokens):
                raise self.error("Unexpected end of rule: the argument list is not closed", None)
            separator = self.take()
            if separator.kind == ")":
                return tuple(args)
            if separator.kind != ",":
                raise self.error(_UNEXPECTED[separator.kind], separator)


@lru_cache(maxsize=2048)
def _parse(rule: str) -> Any:
    """The tree of a rule, or the _RuleSyntaxError it raises (cached per rule string either way)."""
    try:
        tokens, _dropped = _tokenize(rule)
        return _Parser(tokens, rule).parse()
    except _RuleSyntaxError as error:
        return error


def _compiled(rule: Any) -> Any:
    if not isinstance(rule, str):
        raise _Crash()  # CHT: rule.split of undefined / a number
    tree = _parse(rule)
    if isinstance(tree, _RuleSyntaxError):
        raise tree.crash()
    return tree


def _calls(node: Any) -> Iterable[_Call]:
    if isinstance(node, _Call):
        yield node
    elif isinstance(node, _Seq):
        for _operator, _negated, operand in node.items:
            yield from _calls(operand)
    elif isinstance(node, _Ternary):
        for part in (node.condition, node.then, node.otherwise):
            if part is not None:
                yield from _calls(part)
