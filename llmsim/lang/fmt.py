"""`llmsimc fmt`: one canonical layout for `.llms` files, comments kept, idempotent.

The layout: two spaces of indentation per block level; one statement per line; `=` aligned over a run
of consecutive attributes (and the operators of consecutive comparisons); a block written on one line
that holds only attributes and fits in `MAX_WIDTH` columns stays on one line, with two spaces between
its attributes; at most one blank line where the source had blank lines; expressions with single
spaces around binary operators and only the parentheses the grouping needs. Comments stay where they
were: on their own line before the statement that follows them, or at the end of the line they ended.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from llmsim.diagnostics import SourceFile
from llmsim.lang import ast
from llmsim.lang.emit import _string
from llmsim.lang.parser import parse

MAX_WIDTH = 100
INDENT = "  "
_PREC = {"+": 1, "-": 1, "*": 2, "/": 2}

Pos = tuple[int, int]


def format_source(source: SourceFile) -> str:
    """The canonical text of a spec; raises CompileError if it does not parse."""
    module = parse(source)
    return _Formatter(source, module).run()


def format_text(text: str, path: str = "<text>") -> str:
    return format_source(SourceFile(path, text))


# Expressions ------------------------------------------------------------------------------------


def expr(e: ast.Expr) -> str:
    """An expression in canonical syntax."""
    if isinstance(e, ast.Number):
        return e.text + e.unit
    if isinstance(e, ast.String):
        return _string(e.value)
    if isinstance(e, ast.Bool):
        return "true" if e.value else "false"
    if isinstance(e, ast.Ref):
        return e.name
    if isinstance(e, ast.Call):
        args = [f"{a.name.name} = {expr(a.value)}" if a.name else expr(a.value) for a in e.args]
        return f"{e.func.name}(" + ", ".join(args) + ")"
    if isinstance(e, ast.ListExpr):
        return "[" + ", ".join(expr(i) for i in e.items) + "]"
    if isinstance(e, ast.Unary):
        inner = expr(e.operand)
        return f"-({inner})" if isinstance(e.operand, ast.Binary) else f"-{inner}"
    if isinstance(e, ast.Binary):
        p = _PREC[e.op]
        left, right = expr(e.left), expr(e.right)
        if isinstance(e.left, ast.Binary) and _PREC[e.left.op] < p:
            left = f"({left})"
        if isinstance(e.right, ast.Binary) and _PREC[e.right.op] <= p:
            right = f"({right})"
        return f"{left} {e.op} {right}"
    raise AssertionError(f"unknown expression {e!r}")  # pragma: no cover


# Comments ---------------------------------------------------------------------------------------


@dataclass
class _Comment:
    line: int
    col: int
    text: str


def scan_comments(text: str) -> list[_Comment]:
    """Every `#` comment outside strings (strings never span lines)."""
    out = []
    for number, line in enumerate(text.split("\n"), start=1):
        in_string = False
        i = 0
        while i < len(line):
            c = line[i]
            if in_string:
                if c == "\\":
                    i += 1
                elif c == '"':
                    in_string = False
            elif c == '"':
                in_string = True
            elif c == "#":
                out.append(_Comment(number, i + 1, line[i:].rstrip()))
                break
            i += 1
    return out


@dataclass
class _Event:
    """A place comments attach to: a statement's end, a block's `{` or its `}`."""

    pos: Pos
    leading: list[_Comment] = field(default_factory=list)
    trailing: list[_Comment] = field(default_factory=list)


# The formatter ------------------------------------------------------------------------------------


class _Formatter:
    def __init__(self, source: SourceFile, module: ast.Module):
        self.source = source
        self.module = module
        self.lines: list[str] = []
        self.events: dict[int, _Event] = {}  # id(node) -> its end event; -id(block) -> its `{`
        self.last_line = 0  # source line of the last thing written
        self.opened = False  # the last line written opened a block
        self._collect()
        self.eof_comments = self._attach(scan_comments(source.text))

    # attaching comments

    def _collect(self) -> None:
        for item in self.module.items:
            self._collect_node(item)

    def _collect_node(self, node: object) -> None:
        if isinstance(node, ast.Block):
            self.events[-id(node)] = _Event(self._open_brace(node))
            for stmt in node.body:
                self._collect_node(stmt)
        span = node.span  # type: ignore[attr-defined]
        self.events[id(node)] = _Event((span.end_line, span.end_col))

    def _open_brace(self, block: ast.Block) -> Pos:
        after = block.index or block.name or block.kind
        span = after.span
        lines = self.source.text.split("\n")
        line, col = span.end_line, span.end_col
        while line <= len(lines):
            text = lines[line - 1]
            while col <= len(text):
                c = text[col - 1]
                if c == "{":
                    return (line, col)
                if c == "#":
                    break
                col += 1
            line, col = line + 1, 1
        return (block.span.line, block.span.col)  # pragma: no cover - a block always has its `{`

    def _attach(self, comments: list[_Comment]) -> list[_Comment]:
        ordered = sorted(self.events.values(), key=lambda e: e.pos)
        eof: list[_Comment] = []
        j = 0
        for c in comments:
            while j < len(ordered) and ordered[j].pos <= (c.line, c.col):
                j += 1
            prev = ordered[j - 1] if j else None
            if prev is not None and prev.pos[0] == c.line:
                prev.trailing.append(c)
            elif j < len(ordered):
                ordered[j].leading.append(c)
            else:
                eof.append(c)
        return eof

    # writing

    def run(self) -> str:
        items = self.module.items
        pads = self._runs(items)
        for item, pad in zip(items, pads):
            if isinstance(item, ast.Block):
                self._block(item, 0)
            else:
                self._leaf(item, self._item_text(item, pad), 0)
        self._comments(self.eof_comments, 0)
        text = "\n".join(self.lines).rstrip("\n")
        return text + "\n" if text else ""

    def _write(self, line: str, source_line: int, opens: bool = False) -> None:
        self.lines.append(line)
        self.last_line = source_line
        self.opened = opens

    def _gap(self, first_line: int) -> None:
        """A blank line where the source had one, never at the top of the file or of a block."""
        if self.lines and not self.opened and first_line - self.last_line > 1:
            self.lines.append("")

    def _comments(self, comments: list[_Comment], depth: int) -> None:
        for c in comments:
            self._gap(c.line)
            self._write(INDENT * depth + c.text, c.line)

    def _emit(self, event: _Event, text: str, line: int, depth: int, opens: bool = False) -> None:
        self._comments(event.leading, depth)
        self._gap(line)
        trailing = "".join("  " + c.text for c in event.trailing)
        self._write(INDENT * depth + text + trailing, max([event.pos[0], *(c.line for c in event.trailing)]), opens)

    def _leaf(self, node: object, text: str, depth: int) -> None:
        event = self.events[id(node)]
        self._emit(event, text, node.span.line, depth)  # type: ignore[attr-defined]

    def _item_text(self, item: ast.Item, pad: int) -> str:
        if isinstance(item, ast.UseHardware):
            alias = f" as {item.alias.name}" if item.alias else ""
            return f"use hardware {_string(item.target.value)}{alias}"
        if isinstance(item, ast.Import):
            return f"import {_string(item.target.value)}"
        if isinstance(item, ast.Param):
            return f"param {item.name.name.ljust(pad)} = {expr(item.value)}"
        raise AssertionError(item)  # pragma: no cover

    def _head(self, block: ast.Block) -> str:
        head = block.kind.name
        if block.name is not None:
            head += " " + block.name.name
        if block.index is not None:
            head += f"[{expr(block.index)}]"
        return head

    def _block(self, block: ast.Block, depth: int) -> None:
        one = self._one_line(block, depth)
        end = self.events[id(block)]
        opener = self.events[-id(block)]
        if one is not None:
            self._comments(opener.leading, depth)
            self._emit(end, one, block.span.line, depth)
            return
        self._emit(opener, self._head(block) + " {", block.span.line, depth, opens=True)
        self._body(block.body, depth + 1)
        self._comments(end.leading, depth + 1)
        self.opened = False
        trailing = "".join("  " + c.text for c in end.trailing)
        self._write(INDENT * depth + "}" + trailing, max([end.pos[0], *(c.line for c in end.trailing)]))

    def _body(self, body: tuple[ast.Attr | ast.Block | ast.Constraint, ...], depth: int) -> None:
        widths = self._runs(body)
        for stmt, width in zip(body, widths):
            if isinstance(stmt, ast.Block):
                self._block(stmt, depth)
            elif isinstance(stmt, ast.Attr):
                self._leaf(stmt, f"{stmt.key.name.ljust(width)} = {expr(stmt.value)}", depth)
            else:
                self._leaf(stmt, f"{stmt.target.name.ljust(width)} {stmt.op} {expr(stmt.value)}", depth)

    def _runs(self, stmts: tuple[object, ...]) -> list[int]:
        """The width each statement's key is padded to: the widest key of its run (consecutive
        statements of one kind, no blank line between them; blocks end runs)."""
        widths = [0] * len(stmts)
        run: list[int] = []

        def flush() -> None:
            w = max((len(_key(stmts[k])) for k in run), default=0)
            for k in run:
                widths[k] = w
            run.clear()

        for i, stmt in enumerate(stmts):
            if isinstance(stmt, ast.Block):
                flush()
                continue
            if run:
                prev = stmts[run[-1]]
                first = min([stmt.span.line, *(c.line for c in self.events[id(stmt)].leading)])  # type: ignore[attr-defined]
                if type(prev) is not type(stmt) or first - self._end_line(prev) > 1:
                    flush()
            run.append(i)
        flush()
        return widths

    def _end_line(self, stmt: object) -> int:
        event = self.events[id(stmt)]
        return max([event.pos[0], *(c.line for c in event.trailing)])

    def _one_line(self, block: ast.Block, depth: int) -> str | None:
        if block.span.line != block.span.end_line or any(isinstance(s, ast.Block) for s in block.body):
            return None
        opener = self.events[-id(block)]
        if opener.trailing or self.events[id(block)].leading:
            return None
        for stmt in block.body:
            event = self.events[id(stmt)]
            if event.leading or event.trailing:
                return None
        parts = []
        for stmt in block.body:
            if isinstance(stmt, ast.Attr):
                parts.append(f"{stmt.key.name} = {expr(stmt.value)}")
            else:
                assert isinstance(stmt, ast.Constraint)
                parts.append(f"{stmt.target.name} {stmt.op} {expr(stmt.value)}")
        text = self._head(block) + (" { " + "  ".join(parts) + " }" if parts else " {}")
        trailing = "".join("  " + c.text for c in self.events[id(block)].trailing)
        if len(INDENT * depth + text + trailing) > MAX_WIDTH:
            return None
        return text


def _key(stmt: object) -> str:
    if isinstance(stmt, ast.Attr):
        return stmt.key.name
    if isinstance(stmt, ast.Constraint):
        return stmt.target.name
    if isinstance(stmt, ast.Param):
        return stmt.name.name
    return ""
