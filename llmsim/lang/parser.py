"""Text -> AST: lark LALR over the generic grammar, syntax errors as diagnostics in user words.

On a syntax error the parser reports it, blanks out the top-level item that holds it (keeping line
and column numbers) and parses the rest, so one run shows the syntax errors of every broken block.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path
from typing import Any

from lark import Lark, Token, Tree
from lark.exceptions import UnexpectedCharacters, UnexpectedInput, UnexpectedToken

from llmsim.diagnostics import Diagnostic, DiagnosticBag, SourceFile, Span
from llmsim.lang import ast

_GRAMMAR = Path(__file__).with_name("grammar.lark")
_MAX_RECOVERIES = 50


_OPTIONS: dict[str, Any] = {
    "parser": "lalr",
    "lexer": "contextual",
    "propagate_positions": True,
    "maybe_placeholders": True,
    "start": ["start", "expr"],
}


@functools.cache
def _lark() -> Lark:
    """The parser. Building its LALR tables takes ~30 ms; they are kept in llmsim's cache folder
    (`llmsim.cache.store_data`, plain data loaded without running code), keyed by the grammar, the
    options, lark's version and Python's."""
    import contextlib
    import hashlib
    import io
    import sys

    import lark

    from llmsim import cache, safepickle

    grammar = _GRAMMAR.read_text(encoding="utf-8")
    material = f"{grammar}\0{sorted(_OPTIONS.items())}\0{lark.__version__}\0{sys.version}"
    key = hashlib.sha256(material.encode()).hexdigest()
    data = cache.load_data("grammar", key)
    if isinstance(data, dict):
        try:
            return Lark.load(data)
        except Exception:  # tables from an incompatible lark: build them again
            pass
    parser = Lark(grammar, **_OPTIONS)
    buf = io.BytesIO()
    parser.save(buf)
    # lark's tables are plain data; were they ever not, they would simply not be kept
    with contextlib.suppress(safepickle.UnsafePickle):
        cache.store_data("grammar", key, safepickle.loads(buf.getvalue(), packages=()))
    return parser


def parse(source: SourceFile) -> ast.Module:
    """Parse a whole file; raises CompileError with every syntax diagnostic found."""
    bag = DiagnosticBag()
    module = parse_into(source, bag)
    bag.check()
    assert module is not None
    return module


def parse_into(source: SourceFile, bag: DiagnosticBag) -> ast.Module | None:
    """Parse, adding syntax diagnostics to `bag`; None when the file has syntax errors."""
    text = source.text
    errors: list[Diagnostic] = []
    tree: Tree | None = None
    for _ in range(_MAX_RECOVERIES):
        try:
            tree = _parse_tree(text, source, "start")
            break
        except _SyntaxFailure as failure:
            if not any(_same_place(failure.diagnostic, d) for d in errors):
                errors.append(failure.diagnostic)
            recovered = _blank_item(text, failure.offset)
            if recovered is None:
                break
            text = recovered
    if errors:
        bag.extend(errors)
        return None
    if tree is None:  # pragma: no cover - only after _MAX_RECOVERIES failures, which report errors
        return None
    builder = _Builder(source, bag)
    module = builder.module(tree)
    return None if builder.failed else module


def parse_expr(text: str, path: str = "<expr>", display: str | None = None) -> ast.Expr:
    """Parse one expression (schema defaults, `-D name=value`); raises CompileError.

    `display` is the text diagnostics quote, when `text` is that text with all but the expression
    blanked out (so columns match)."""
    source = SourceFile(path, display if display is not None else text)
    bag = DiagnosticBag()
    try:
        tree = _parse_tree(text, source, "expr")
    except _SyntaxFailure as failure:
        bag.extend([failure.diagnostic])
        bag.check()
        raise AssertionError("unreachable") from None
    builder = _Builder(source, bag)
    expr = builder.expr(tree)
    bag.check()
    return expr


# Syntax errors ------------------------------------------------------------------------------------


class _SyntaxFailure(Exception):
    def __init__(self, diagnostic: Diagnostic, offset: int):
        super().__init__(diagnostic.summary)
        self.diagnostic = diagnostic
        self.offset = offset


def _parse_tree(text: str, source: SourceFile, start: str) -> Tree:
    """Drive lark token by token so an error knows the token before it."""
    interactive = _lark().parse_interactive(text, start=start)
    seen: list[Token] = []
    try:
        for token in interactive.lexer_thread.lex(interactive.parser_state):
            if token.type in _KEYWORDS and token.type not in interactive.accepts():
                # `param`, `import`, `use` are keywords only where an item starts; elsewhere names
                token = Token.new_borrow_pos("IDENT", token.value, token)
            seen.append(token)
            interactive.feed_token(token)
        return interactive.feed_eof(seen[-1] if seen else None)
    except UnexpectedToken as exc:
        offending = exc.token
        # The contextual lexer rejects a token before it is yielded; the parser after.
        if seen and offending is seen[-1]:
            seen.pop()
        expected = _accepts(interactive, exc)
        raise _token_failure(offending, expected, seen, source, text) from None
    except UnexpectedCharacters as exc:
        raise _char_failure(exc, seen, source, text) from None
    except UnexpectedInput as exc:  # pragma: no cover - lark's other error kinds do not occur in LALR
        span = Span(source, exc.line, exc.column, exc.line, exc.column + 1)
        raise _SyntaxFailure(Diagnostic("syntax error", span), exc.pos_in_stream or 0) from None


def _accepts(interactive, exc: UnexpectedToken) -> set[str]:
    try:
        return set(interactive.accepts())
    except Exception:  # pragma: no cover - accepts() replays the parser; fall back to lark's own set
        return set(exc.expected)


_WORDS = {
    "EQUAL": "`=`",
    "IDENT": "a name",
    "STRING": "a string",
    "NUMBER": "a number",
    "COMMA": "`,`",
    "DOT": "`.`",
    "LBRACE": "`{`",
    "RBRACE": "`}`",
    "LPAR": "`(`",
    "RPAR": "`)`",
    "LSQB": "`[`",
    "RSQB": "`]`",
    "HARDWARE": "`hardware`",
    "AS": "`as`",
    "CMP": "a comparison (`<`, `<=`, `>`, `>=`)",
    "$END": "the end of the file",
}
_ORDER = list(_WORDS)
_KEYWORDS = {"USE", "IMPORT", "PARAM", "HARDWARE", "AS"}
_VALUE_START = {"NUMBER", "STRING", "IDENT", "LPAR", "LSQB", "MINUS"}
_OPERATORS = {"PLUS", "MINUS", "STAR", "SLASH"}
_OPEN = {"LBRACE": "RBRACE", "LPAR": "RPAR", "LSQB": "RSQB"}
_CLOSE = {v: k for k, v in _OPEN.items()}
_TEXT = {"LBRACE": "{", "RBRACE": "}", "LPAR": "(", "RPAR": ")", "LSQB": "[", "RSQB": "]"}


def _expected_phrases(expected: set[str]) -> list[str]:
    """What the parser could take next, in the words a user thinks in."""
    e = set(expected)
    phrases: list[str] = []
    tail: list[str] = []
    if e >= _VALUE_START:
        phrases.append("a value")
        e -= _VALUE_START
    if "USE" in e:  # top level: another item may start here
        e -= {"USE", "IMPORT", "PARAM", "IDENT", "$END"}
        tail = ["a block", "`use hardware`", "`import`", "`param`"]
    if "EQUAL" in e:  # after a name in a body: `key = value` or `kind { ... }` (or a comparison)
        e -= {"IDENT", "LSQB", "DOT", "CMP"}
    if "LBRACE" in e:
        e.discard("LSQB")
    if e - _OPERATORS:
        e -= _OPERATORS
    elif e:
        phrases.append("an operator")
        e = set()
    if {"IDENT", "RBRACE"} <= e:
        e -= {"IDENT", "RBRACE"}
        tail = ["a key", "`}`", *tail]
    if "$END" in e and len(e) > 1:
        e.discard("$END")
    phrases += [_WORDS[name] for name in _ORDER if name in e]
    return phrases + tail


def _join(phrases: list[str]) -> str:
    if len(phrases) <= 1:
        return "".join(phrases)
    return ", ".join(phrases[:-1]) + " or " + phrases[-1]


def _token_span(source: SourceFile, token: Token) -> Span:
    end_line = token.end_line or token.line
    end_col = token.end_column or token.column + max(1, len(token.value))
    return Span(source, token.line, token.column, end_line, end_col)


def _shown(token: Token, article: bool = True) -> str:
    """A token as a diagnostic quotes it: as written when short, else by its kind."""
    value = str(token.value)
    if len(value) <= 24 and "\n" not in value:
        return f"`{value}`"
    kind = {"STRING": "string", "NUMBER": "number", "IDENT": "name"}.get(token.type, "token")
    return f"a {kind}" if article else kind


def _after(seen: list[Token]) -> str:
    return f" after {_shown(seen[-1])}" if seen else ""


def _token_failure(
    token: Token, expected: set[str], seen: list[Token], source: SourceFile, text: str
) -> _SyntaxFailure:
    if token.type == "$END":
        return _eof_failure(expected, seen, source, text)
    span = _token_span(source, token)
    offset = token.start_pos or 0
    if token.type in _CLOSE and _open_count(seen, _CLOSE[token.type]) == 0:
        opener = _TEXT[_CLOSE[token.type]]
        diag = Diagnostic(
            f"unexpected `{token.value}`",
            span,
            label=f"no `{opener}` to close",
            help="remove it, or add the missing `" + opener + "` before it",
        )
        return _SyntaxFailure(diag, offset)
    phrases = _expected_phrases(expected)
    summary = f"expected {_join(phrases)}{_after(seen)}" if phrases else "unexpected " + _shown(token)
    help = ""
    if token.type == "COMMA" and "RBRACE" in expected:
        help = "separate attributes with spaces or new lines, not commas"
    elif token.type == "EQUAL" and "EQUAL" not in expected and "LBRACE" in expected:
        help = "keys go inside a block: `KIND NAME { key = value }`"
    elif token.type == "DOT" and text[offset + 1 : offset + 2].isdigit():
        number = re.match(r"\.[0-9_]+", text[offset:])
        help = f"write `0{number.group(0) if number else '.5'}`"
    elif token.type == "IDENT" and seen and seen[-1].type == "IMPORT":
        help = f'write the path in quotes: `import "{token.value}.llms"`'
    elif token.type == "EQUAL" and "CMP" in expected and text[offset + 1 : offset + 2] in ("<", ">"):
        help = f"write `{text[offset + 1]}=`"
    elif token.type == "STRING" and expected == {"HARDWARE"}:
        help = 'write `use hardware "vendor/device@engine-version"`'
    elif token.type == "STRING" and [str(t.value) for t in seen[-2:]] == ["use", "hardware"]:
        help = "`use hardware` lines go at the top level of the file, outside every block"
    diag = Diagnostic(summary, span, label=f"unexpected {_shown(token, article=False)}", help=help)
    return _SyntaxFailure(diag, offset)


def _open_count(seen: list[Token], opener: str) -> int:
    depth = 0
    for tok in seen:
        if tok.type == opener:
            depth += 1
        elif tok.type == _OPEN[opener] and depth:
            depth -= 1
    return depth


def _eof_failure(expected: set[str], seen: list[Token], source: SourceFile, text: str) -> _SyntaxFailure:
    unclosed = _unclosed(seen)
    if unclosed is not None:
        index, opener = unclosed
        closer = _TEXT[_OPEN[opener.type]]
        what = _block_kind(seen, index) if opener.type == "LBRACE" else None
        help = f"add `{closer}` at the end of the `{what}` block" if what else f"add the missing `{closer}`"
        diag = Diagnostic(
            f"unclosed `{opener.value}`",
            _token_span(source, opener),
            label=f"this `{opener.value}` is never closed",
            help=help,
        )
        return _SyntaxFailure(diag, len(text))
    phrases = _expected_phrases(expected)
    if seen:
        last = seen[-1]
        line, col = last.end_line or last.line, last.end_column or last.column
        span = Span(source, line, col, line, col + 1)
    else:
        span = _file_start(source)
    summary = f"expected {_join(phrases)}{_after(seen)}" if phrases else "unexpected end of file"
    return _SyntaxFailure(Diagnostic(summary, span, label="the file ends here"), len(text))


def _unclosed(seen: list[Token]) -> tuple[int, Token] | None:
    """The bracket that most likely lacks its closer: one whose closer sits at another indentation
    (the closer belongs to an outer block), else the innermost one left open."""
    stack: list[tuple[int, Token]] = []
    suspects: list[tuple[int, Token]] = []
    for i, tok in enumerate(seen):
        if tok.type in _OPEN:
            stack.append((i, tok))
        elif tok.type in _CLOSE and stack and stack[-1][1].type == _CLOSE[tok.type]:
            j, opener = stack.pop()
            first_on_line = i == 0 or seen[i - 1].line != tok.line
            multi_line = opener.line != tok.line
            if opener.type == "LBRACE" and first_on_line and multi_line and _indent_of(seen, j) != tok.column:
                suspects.append((j, opener))
    if not stack:
        return None
    return suspects[0] if suspects else stack[-1]


def _indent_of(seen: list[Token], index: int) -> int:
    """Column of the first token on the line of `seen[index]`."""
    line = seen[index].line
    while index > 0 and seen[index - 1].line == line:
        index -= 1
    return seen[index].column


def _block_kind(seen: list[Token], index: int) -> str | None:
    """The kind of the block whose `{` is `seen[index]`: `pool` in `pool main {`."""
    opener = seen[index]
    names = []
    i = index - 1
    while i >= 0 and seen[i].type == "IDENT" and seen[i].line == opener.line and len(names) < 2:
        names.append(seen[i])
        i -= 1
    if i >= 0 and seen[i].type == "EQUAL" and seen[i].line == opener.line:
        return None
    return str(names[-1].value) if names else None


def _char_failure(
    exc: UnexpectedCharacters, seen: list[Token], source: SourceFile, text: str
) -> _SyntaxFailure:
    line, col, offset = exc.line, exc.column, exc.pos_in_stream
    char = text[offset] if 0 <= offset < len(text) else ""
    if char == '"':
        end = len(source.line(line)) + 1
        diag = Diagnostic(
            "unterminated string",
            Span(source, line, col, line, max(end, col + 1)),
            label="this string is never closed",
            help='add the closing `"` on the same line',
        )
        return _SyntaxFailure(diag, offset)
    help = ""
    if char == ";":
        help = "separate attributes with spaces or new lines, not `;`"
    elif char == "'":
        help = 'strings use double quotes: `"..."`'
    shown = char if char.isprintable() else repr(char)[1:-1]
    diag = Diagnostic(
        f"unexpected character `{shown}`",
        Span(source, line, col, line, col + 1),
        label="not allowed here",
        help=help,
    )
    return _SyntaxFailure(diag, offset)


def _file_start(source: SourceFile) -> Span:
    return Span(source, 1, 1, 1, 2)


def _same_place(a: Diagnostic, b: Diagnostic) -> bool:
    return (
        a.span is not None and b.span is not None and (a.span.line, a.span.col) == (b.span.line, b.span.col)
    )


def _blank_item(text: str, offset: int) -> str | None:
    """`text` with the top-level item holding `offset` replaced by spaces, or None if nothing follows.

    Top-level items start at column 1 with a letter; the item runs to the next such line.
    """
    starts = [0] + [m.end() for m in re.finditer("\n", text)]
    items = [s for s in starts if s < len(text) and (text[s].isalpha() or text[s] == "_")]
    begin = max((s for s in items if s <= offset), default=0)
    following = [s for s in items if s > offset]
    if not following:
        return None
    end = following[0]
    return text[:begin] + re.sub(r"[^\n]", " ", text[begin:end]) + text[end:]


# Tree -> AST --------------------------------------------------------------------------------------

_NUMBER = re.compile(r"([0-9][0-9_]*(?:\.[0-9][0-9_]*)?(?:[eE][+-]?[0-9]+)?)(.*)", re.S)


MAX_DEPTH = 100  # nesting of expressions and of blocks; deeper trees would overflow later passes


class _Builder:
    """Turns lark's tree into frozen AST nodes; reports bad string escapes and too deep nesting."""

    def __init__(self, source: SourceFile, bag: DiagnosticBag):
        self.source = source
        self.bag = bag
        self.failed = False
        self.depth = 0

    def too_deep(self, tree: Tree, what: str) -> bool:
        if self.depth < MAX_DEPTH:
            return False
        self.failed = True
        self.bag.error(
            f"{what} nested too deeply",
            self.span(tree),
            label=f"more than {MAX_DEPTH} levels deep",
            help="split it into smaller parts",
        )
        return True

    def span(self, node: Tree | Token) -> Span:
        if isinstance(node, Token):
            return _token_span(self.source, node)
        meta = node.meta
        if getattr(meta, "empty", True):
            return _file_start(self.source)
        return Span(self.source, meta.line, meta.column, meta.end_line, meta.end_column)

    def ident(self, token: Token) -> ast.Ident:
        return ast.Ident(str(token.value), self.span(token))

    def module(self, tree: Tree) -> ast.Module:
        items: list[ast.Item] = []
        for child in tree.children:
            if child.data == "use_stmt":
                items.append(self.use(child))
            elif child.data == "import_stmt":
                items.append(ast.Import(self.string(child.children[0]), self.span(child)))
            elif child.data == "param_stmt":
                name, value = child.children
                items.append(ast.Param(self.ident(name), self.expr(value), self.span(child)))
            else:
                items.append(self.block(child))
        text = self.source.text
        lines = text.split("\n")
        span = Span(self.source, 1, 1, max(1, len(lines)), len(lines[-1]) + 1)
        return ast.Module(tuple(items), span)

    def use(self, tree: Tree) -> ast.UseHardware:
        target = self.string(tree.children[0])
        alias = self.ident(tree.children[1]) if len(tree.children) > 1 else None
        return ast.UseHardware(target, alias, self.span(tree))

    def block(self, tree: Tree) -> ast.Block:
        self.depth += 1
        try:
            return self._block(tree)
        finally:
            self.depth -= 1

    def _block(self, tree: Tree) -> ast.Block:
        children = list(tree.children)
        kind = self.ident(children.pop(0))
        name = None
        if children and isinstance(children[0], Token):
            name = self.ident(children.pop(0))
        index = None
        if children and isinstance(children[0], Tree) and children[0].data == "index":
            index = self.expr(children.pop(0).children[0])
        body: list[ast.Attr | ast.Block | ast.Constraint] = []
        for child in children:
            if child.data == "attr":
                key, value = child.children
                body.append(ast.Attr(self.ident(key), self.expr(value), self.span(child)))
            elif child.data == "constraint":
                target, op, value = child.children
                ref = self.expr(target)
                assert isinstance(ref, ast.Ref)
                body.append(ast.Constraint(ref, str(op.value), self.expr(value), self.span(child), self.span(op)))
            elif not self.too_deep(child, "blocks"):
                body.append(self.block(child))
        return ast.Block(kind, name, index, tuple(body), self.span(tree))

    def expr(self, tree: Tree) -> ast.Expr:
        if self.too_deep(tree, "expression"):
            return ast.Bool(False, self.span(tree))  # a placeholder; the module is dropped
        self.depth += 1
        try:
            return self._expr(tree)
        finally:
            self.depth -= 1

    def _expr(self, tree: Tree) -> ast.Expr:
        kind = tree.data
        if kind == "number":
            token = tree.children[0]
            match = _NUMBER.fullmatch(str(token.value))
            assert match is not None
            return ast.Number(match.group(1), match.group(2), self.span(token))
        if kind == "string":
            return self.string(tree.children[0])
        if kind == "ref":
            parts = tuple(self.ident(t) for t in tree.children)
            if len(parts) == 1 and parts[0].name in ("true", "false"):
                return ast.Bool(parts[0].name == "true", parts[0].span)
            return ast.Ref(parts, self.span(tree))
        if kind == "call":
            func = self.ident(tree.children[0])
            args = tuple(self.arg(a) for a in tree.children[1:] if a is not None)
            return ast.Call(func, args, self.span(tree))
        if kind == "list":
            items = tuple(self.expr(c) for c in tree.children if c is not None)
            return ast.ListExpr(items, self.span(tree))
        if kind == "neg":
            op, operand = tree.children
            return ast.Unary("-", self.expr(operand), self.span(tree), self.span(op))
        if kind == "binary":
            left, op, right = tree.children
            return ast.Binary(
                str(op.value), self.expr(left), self.expr(right), self.span(tree), self.span(op)
            )
        raise AssertionError(f"unknown tree {kind}")  # pragma: no cover

    def arg(self, tree: Tree) -> ast.Arg:
        children = [c for c in tree.children if c is not None]
        if isinstance(children[0], Token):
            return ast.Arg(self.ident(children[0]), self.expr(children[1]), self.span(tree))
        return ast.Arg(None, self.expr(children[0]), self.span(tree))

    def string(self, token: Token) -> ast.String:
        raw = str(token.value)[1:-1]
        out: list[str] = []
        i = 0
        while i < len(raw):
            c = raw[i]
            if c == "\\":
                nxt = raw[i + 1] if i + 1 < len(raw) else ""
                if nxt in ('"', "\\"):
                    out.append(nxt)
                else:
                    col = token.column + 1 + i
                    self.failed = True
                    self.bag.error(
                        f"unknown escape `\\{nxt}` in string",
                        Span(self.source, token.line, col, token.line, col + 2),
                        label="not an escape",
                        help='only `\\"` and `\\\\` are escapes; write `\\\\` for a backslash',
                    )
                i += 2
                continue
            out.append(c)
            i += 1
        return ast.String("".join(out), self.span(token))
