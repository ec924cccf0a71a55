"""Records laid out to fit the terminal (or 80 columns when piped), never split inside a value.

A list of records is a table while every value fits on one line at the console's width. When
it does not, the layout degrades instead of wrapping cells: first the prose columns (a reason,
notes) move to indented lines under their record, then every record becomes a block of its
own. Prose wraps only between words, and a word longer than the line (a path) is kept whole.
No line ends in spaces.

Cells are :class:`rich.text.Text` (plain strings are turned into ``Text`` without markup), so
what a cell holds is printed as it is, and styling stays with the cell.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from rich.console import Console
from rich.segment import Segment, Segments
from rich.text import Text

#: spaces between two columns
GAP = 2
#: indent of prose under its record, and of the fields of a block
INDENT = 2

@dataclass(frozen=True)
class Column:
    header: str
    justify: str = "left"  # "left" or "right"
    prose: bool = False  # free text: may move under its record and wrap between words


def as_text(value: Text | str) -> Text:
    return value.copy() if isinstance(value, Text) else Text(str(value))


def _lines(cell: Text) -> list[Text]:
    return cell.split("\n") if cell.plain else [Text("")]


def _width(cell: Text) -> int:
    return max(line.cell_len for line in _lines(cell))


def wrap_words(text: Text, width: int) -> list[Text]:
    """``text`` broken between words into lines of at most ``width`` cells; a longer word stays
    whole on a line of its own. Existing line breaks are kept."""
    out: list[Text] = []
    for line in _lines(text):
        words = [(m.start(), m.end()) for m in re.finditer(r"\S+", line.plain)]
        if not words:
            out.append(Text(""))
            continue
        start, end = words[0]
        for w_start, w_end in words[1:]:
            if Text(line.plain[start:w_end]).cell_len <= width:
                end = w_end
                continue
            out.append(line[start:end])
            start, end = w_start, w_end
        out.append(line[start:end])
    return out


def wrap_units(units: Sequence[Text], width: int, *, sep: str = " ", indent: int = 0) -> list[Text]:
    """Units (a name with its version, a spec) joined by ``sep`` and broken only between units;
    continuation lines indented by ``indent``. A unit longer than the line stays whole."""
    lines: list[Text] = []
    for unit in units:
        if lines and lines[-1].cell_len + len(sep) + unit.cell_len <= width:
            lines[-1] = Text.assemble(lines[-1], sep, unit)
        else:
            lines.append(Text.assemble(" " * indent, unit) if lines else unit.copy())
    return lines or [Text("")]


def _pad(cell: Text, width: int, justify: str) -> Text:
    gap = " " * max(0, width - cell.cell_len)
    return Text.assemble(gap, cell) if justify == "right" else Text.assemble(cell, gap)


def _grid_lines(columns: Sequence[Column], rows: Sequence[Sequence[Text]], header: bool) -> list[list[Text]]:
    """Each record's lines (the header first), columns padded to their widest value."""
    widths = [max([len(c.header) if header else 0, *(_width(r[i]) for r in rows)]) for i, c in enumerate(columns)]
    shown = [i for i, w in enumerate(widths) if w]  # a column with nothing in it takes no room
    records: list[list[Text]] = []
    all_rows = ([[Text(c.header, style="bold") for c in columns]] if header else []) + [list(r) for r in rows]
    for row in all_rows:
        cells = [_lines(row[i]) for i in range(len(columns))]
        height = max(len(c) for c in cells)
        lines = []
        for n in range(height):
            parts = [
                _pad(cells[i][n] if n < len(cells[i]) else Text(""), widths[i], columns[i].justify) for i in shown
            ]
            lines.append(Text(" " * GAP).join(parts))
        records.append(lines)
    return records


def grid_width(columns: Sequence[Column], rows: Sequence[Sequence[Text]], header: bool = True) -> int:
    widths = [max([len(c.header) if header else 0, *(_width(r[i]) for r in rows)]) for i, c in enumerate(columns)]
    shown = [w for w in widths if w]
    return sum(shown) + GAP * max(0, len(shown) - 1)


_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def visible(text: str) -> str:
    """``text`` with every control character shown as ``\\xNN``: a name or a path never reaches
    the terminal as an escape sequence (a clipboard write, a cleared screen, a window title)."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


def visible_text(line: Text) -> Text:
    """The same for a rich ``Text``, keeping its styles."""
    if not _CONTROL.search(line.plain):
        return line
    out = Text(style=line.style, end=line.end)
    last = 0
    for match in _CONTROL.finditer(line.plain):
        out.append_text(line[last:match.start()])
        out.append(visible(match.group()), style="reverse")
        last = match.end()
    out.append_text(line[last:])
    return out


def print_line(console: Console, line: Text) -> None:
    """One line, with no trailing spaces, never wrapped by the console; control characters in
    it are shown, never sent (see :func:`visible`)."""
    line = visible_text(line.copy())
    line.rstrip()
    console.print(line, soft_wrap=True, no_wrap=True, overflow="ignore", crop=False, highlight=False)


def print_text(console: Console, text: Text | str, *, markup: bool = True, indent: int = 0) -> None:
    """A paragraph wrapped between words at the console's width (``str`` is read as rich markup
    unless ``markup=False``); continuation lines are indented by ``indent``."""
    if isinstance(text, str):
        text = console.render_str(text, markup=markup, highlight=False) if markup else Text(text)
    width = max(20, console.width)
    for n, line in enumerate(wrap_words(text, width - indent)):
        print_line(console, Text(" " * indent) + line if n and indent else line)


def print_records(
    console: Console,
    columns: Sequence[Column],
    rows: Iterable[Sequence[Text | str]],
    *,
    header: bool = True,
    indent: int = 0,
) -> None:
    """Print ``rows`` as a table if it fits the console, else in the degraded layouts."""
    cells = [[as_text(v) for v in row] for row in rows]
    if not cells:
        return
    width = max(20, console.width - indent)
    pad = Text(" " * indent)

    if grid_width(columns, cells, header) <= width:
        for record in _grid_lines(columns, cells, header):
            for line in record:
                print_line(console, pad + line)
        return

    fixed = [i for i, c in enumerate(columns) if not c.prose]
    prose = [i for i, c in enumerate(columns) if c.prose]
    if prose and fixed:
        fixed_columns = [columns[i] for i in fixed]
        fixed_cells = [[row[i] for i in fixed] for row in cells]
        if grid_width(fixed_columns, fixed_cells, header) <= width:
            records = _grid_lines(fixed_columns, fixed_cells, header)
            if header:
                for line in records.pop(0):
                    print_line(console, pad + line)
            for record, row in zip(records, cells):
                for line in record:
                    print_line(console, pad + line)
                for i in prose:
                    for line in wrap_words(row[i], width - INDENT):
                        if line.plain:
                            print_line(console, pad + Text(" " * INDENT) + line)
            return

    # one block per record: the first value on a line of its own, the others under it
    label_width = max(len(c.header) for c in columns[1:]) if len(columns) > 1 else 0
    for n, row in enumerate(cells):
        if n:
            console.print()
        for line in _lines(row[0]):
            print_line(console, pad + Text.assemble(line, style="bold"))
        for column, cell in zip(columns[1:], row[1:]):
            if not cell.plain:
                continue
            label = f"{column.header}:".ljust(label_width + 1)
            lead = " " * INDENT + label + " "
            body_width = width - len(lead)
            if body_width < 20:  # too narrow for a label beside it: the value goes under the label
                print_line(console, pad + Text(" " * INDENT + column.header + ":", style="dim"))
                lead = " " * (INDENT * 2)
                body_width = width - len(lead)
                first = Text(lead)
            else:
                first = Text.assemble((" " * INDENT, ""), (label, "dim"), " ")
            for k, line in enumerate(wrap_words(cell, body_width)):
                print_line(console, pad + (first if k == 0 else Text(" " * len(lead))) + line)


def print_trimmed(console: Console, renderable: object) -> None:
    """Print any renderable (a tree, a grid) without the padding rich leaves at line ends."""
    for line in console.render_lines(renderable, console.options, pad=False):  # type: ignore[arg-type]
        while line and not line[-1].text.strip() and not line[-1].control:
            line.pop()
        if line:
            last = line[-1]
            line[-1] = Segment(last.text.rstrip(), last.style, last.control)
        console.print(Segments([*line, Segment.line()]), end="")


__all__ = ["Column", "as_text", "grid_width", "print_line", "print_records", "print_text", "print_trimmed", "wrap_units", "wrap_words"]
