"""A CEL expression read into a small tree, within fixed size and depth limits, so a rule
can be checked (names, fields, cost) before the CEL library ever sees it.

The library (common-expression-language) parses and evaluates; this reader exists because
the library offers no syntax tree, no type check and no cost limit, and a deep enough
expression crashes its parser (a segmentation fault, not an exception). Every rule passes
here first: what is refused here never reaches the library.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

#: A rule longer than this is refused (a huge string literal, a generated rule).
MAX_RULE_CHARS: Final = 4096
#: Parentheses, brackets, operators: how deeply a rule may nest.
MAX_DEPTH: Final = 64
#: Tokens in one rule (the library's parser recurses per binary operator).
MAX_TOKENS: Final = 1024

MACROS: Final = frozenset({"all", "exists", "exists_one", "map", "filter"})


class RuleSyntaxError(ValueError):
    """A rule that cannot be read; `offset` is the 0-based character where it went wrong."""

    def __init__(self, message: str, offset: int) -> None:
        super().__init__(message)
        self.offset = offset


@dataclass(frozen=True, slots=True)
class Node:
    """One piece of an expression.

    kind: lit (value: the literal's text), ident, select (args[0].value), index, call
    (value: function; args[0] is the receiver when `member`), list, map (args: key, value,
    key, value…), op (value: operator; 1-3 args), has, macro (value: name; args: range,
    variable(s) as idents, body).
    """

    kind: str
    value: str
    args: tuple[Node, ...]
    offset: int
    member: bool = False


_TOKEN: Final = re.compile(
    r"""
    (?P<space>\s+)
  | (?P<string>[rRbB]{0,2}(?:\"\"\"(?:\\.|[^\\])*?\"\"\"|'''(?:\\.|[^\\])*?'''
               |"(?:\\.|[^"\\\n])*"|'(?:\\.|[^'\\\n])*'))
  | (?P<number>0[xX][0-9a-fA-F]+[uU]?|(?:\d+\.\d*|\.\d+|\d+)(?:[eE][+-]?\d+)?[uU]?)
  | (?P<ident>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<op>\|\||&&|==|!=|<=|>=|[-+*/%!<>?:.,()\[\]{}])
    """,
    re.VERBOSE | re.DOTALL,
)
_KEYWORD_LITERALS: Final = frozenset({"true", "false", "null"})
_RESERVED: Final = frozenset(
    {"as", "break", "const", "continue", "else", "for", "function", "if", "import", "let"}
    | {"loop", "package", "namespace", "return", "var", "void", "while"}
)
_BINARY: Final = (
    ("||",),
    ("&&",),
    ("==", "!=", "<", "<=", ">", ">=", "in"),
    ("+", "-"),
    ("*", "/", "%"),
)


def tokenize(source: str) -> list[tuple[str, str, int]]:
    """(kind, text, offset) of every token; kinds: string, number, ident, op, end."""
    if len(source) > MAX_RULE_CHARS:
        raise RuleSyntaxError(
            f"the rule is {len(source):,} characters long; a rule may have at most "
            f"{MAX_RULE_CHARS:,} (put long lists in a connector label or split the rule)",
            MAX_RULE_CHARS,
        )
    tokens: list[tuple[str, str, int]] = []
    at = 0
    while at < len(source):
        match = _TOKEN.match(source, at)
        if match is None:
            raise RuleSyntaxError(f"unexpected character {source[at]!r}", at)
        kind = match.lastgroup or "op"
        if kind != "space":
            tokens.append((kind, match.group(), at))
            if len(tokens) > MAX_TOKENS:
                raise RuleSyntaxError(
                    f"the rule has more than {MAX_TOKENS} tokens; split it into several rules",
                    at,
                )
        at = match.end()
    tokens.append(("end", "", len(source)))
    return tokens


def parse(source: str) -> Node:
    """The expression tree of `source`; RuleSyntaxError when it is not CEL or too large."""
    if not source.strip():
        raise RuleSyntaxError("the rule is empty", 0)
    return _Parser(tokenize(source)).parse()


class _Parser:
    def __init__(self, tokens: list[tuple[str, str, int]]) -> None:
        self.tokens = tokens
        self.at = 0
        self.depth = 0

    def parse(self) -> Node:
        node = self.expr()
        kind, text, offset = self.tokens[self.at]
        if kind != "end":
            raise RuleSyntaxError(f"unexpected {text!r} after the end of the expression", offset)
        return node

    # --- tokens ---
    def peek(self) -> tuple[str, str, int]:
        return self.tokens[self.at]

    def take(self, text: str | None = None) -> tuple[str, str, int]:
        token = self.tokens[self.at]
        if text is not None and (token[0] != "op" or token[1] != text):
            found = "the end of the rule" if token[0] == "end" else repr(token[1])
            raise RuleSyntaxError(f"expected {text!r}, found {found}", token[2])
        self.at += 1
        return token

    def at_op(self, *texts: str) -> bool:
        kind, text, _ = self.tokens[self.at]
        return (kind == "op" or (kind == "ident" and text == "in")) and text in texts

    def deeper(self, offset: int) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise RuleSyntaxError(
                f"the rule nests more than {MAX_DEPTH} levels deep; split it into several rules",
                offset,
            )

    # --- grammar (the CEL specification's, top down) ---
    def expr(self) -> Node:
        offset = self.peek()[2]
        self.deeper(offset)
        node = self.binary(0)
        if self.at_op("?"):
            self.take("?")
            then = self.binary(0)
            self.take(":")
            node = Node("op", "?:", (node, then, self.expr()), offset)
        self.depth -= 1
        return node

    def binary(self, level: int) -> Node:
        if level == len(_BINARY):
            return self.unary()
        node = self.binary(level + 1)
        chained = 0
        while self.at_op(*_BINARY[level]):
            # A chain `a + b + c` is a left-deep tree: each operator is one level more.
            _, op, offset = self.take()
            self.deeper(offset)
            chained += 1
            node = Node("op", op, (node, self.binary(level + 1)), offset)
        self.depth -= chained
        return node

    def unary(self) -> Node:
        if self.at_op("!", "-"):
            _, op, offset = self.take()
            self.deeper(offset)
            node = Node("op", op, (self.unary(),), offset)
            self.depth -= 1
            return node
        return self.member()

    def member(self) -> Node:
        node = self.primary()
        chain = 0
        while True:
            if self.at_op("."):
                self.take(".")
                kind, name, offset = self.take()
                if kind != "ident":
                    raise RuleSyntaxError("expected a field name after '.'", offset)
                if self.at_op("("):
                    node = self.call(name, offset, node)
                else:
                    node = Node("select", name, (node,), offset)
            elif self.at_op("["):
                _, _, offset = self.take("[")
                node = Node("index", "[]", (node, self.expr()), offset)
                self.take("]")
            else:
                self.depth -= chain
                return node
            # A chain `a.b().c()…` is as deep as it is long.
            self.deeper(node.offset)
            chain += 1

    def call(self, name: str, offset: int, receiver: Node | None) -> Node:
        self.take("(")
        self.deeper(offset)
        args = self.items(")")
        if receiver is not None and name in MACROS:
            return self.macro(name, offset, receiver, args)
        if receiver is None and name == "has":
            if len(args) != 1 or args[0].kind != "select":
                raise RuleSyntaxError("has() takes one field selection, e.g. has(x.field)", offset)
            return Node("has", name, tuple(args), offset)
        if receiver is None:
            return Node("call", name, tuple(args), offset)
        return Node("call", name, (receiver, *args), offset, member=True)

    def macro(self, name: str, offset: int, receiver: Node, args: list[Node]) -> Node:
        wanted = (2, 3) if name == "map" else (2,)
        if len(args) not in wanted or args[0].kind != "ident":
            raise RuleSyntaxError(
                f"{name}() takes a variable name and an expression, e.g. list.{name}(x, x != '')",
                offset,
            )
        return Node("macro", name, (receiver, *args), offset)

    def items(self, close: str) -> list[Node]:
        args: list[Node] = []
        while not self.at_op(close):
            args.append(self.expr())
            if not self.at_op(close):
                self.take(",")
        self.take(close)
        self.depth -= 1
        return args

    def primary(self) -> Node:
        kind, text, offset = self.take()
        if kind in ("string", "number"):
            return Node("lit", text, (), offset)
        if kind == "ident":
            if text in _KEYWORD_LITERALS:
                return Node("lit", text, (), offset)
            if text in _RESERVED or text == "in":
                raise RuleSyntaxError(f"'{text}' is a reserved word in CEL", offset)
            if self.at_op("("):
                return self.call(text, offset, None)
            return Node("ident", text, (), offset)
        if kind == "op" and text == "(":
            self.deeper(offset)
            node = self.expr()
            self.depth -= 1
            self.take(")")
            return node
        if kind == "op" and text == "[":
            self.deeper(offset)
            return Node("list", "[]", tuple(self.items("]")), offset)
        if kind == "op" and text == "{":
            self.deeper(offset)
            return Node("map", "{}", self.entries(), offset)
        found = "the end of the rule" if kind == "end" else repr(text)
        raise RuleSyntaxError(f"unexpected {found}", offset)

    def entries(self) -> tuple[Node, ...]:
        out: list[Node] = []
        while not self.at_op("}"):
            out.append(self.expr())
            self.take(":")
            out.append(self.expr())
            if not self.at_op("}"):
                self.take(",")
        self.take("}")
        self.depth -= 1
        return tuple(out)
