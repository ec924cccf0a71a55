"""The small top-level fields of a ``conda-meta`` record, read without parsing the whole file.

The cache prune needs a dozen fields of every record of every environment; ``files`` and
``paths_data`` are four fifths of each file's bytes. :func:`skim_record` reads the layout
conda and rattler write (a JSON object indented by two spaces) line by line and leaves every
other layout to the JSON parser, so the verdict on a file is always the parser's. Hand-written:
a streaming parser (ijson) still reads ``files`` and ``paths_data`` token by token, which is
what this avoids, and it is not a dependency of conda.
"""

from __future__ import annotations

import json
import re

#: the fields of a record the cache prune reads (besides the big ``files`` and ``paths_data``)
_SKIMMED = frozenset({
    b"name", b"version", b"build", b"depends", b"constrains", b"link", b"extracted_package_dir", b"channel",
    b"subdir", b"fn", b"url", b"requested_specs", b"requested_spec",
})
# the values most fields hold, which the JSON parser would read exactly so: a string without an
# escape or a control character, a whole number, an empty list (each call of the parser costs
# more than reading them here; anything else goes to it)
_PLAIN_STRING = re.compile(rb'"[^"\\\x00-\x1f]*"')
_WHOLE_NUMBER = re.compile(rb"-?(?:0|[1-9][0-9]*)")


def _json_value(value: bytes) -> object:
    """``json.loads(value)``, without the parser for the plain values of a record."""
    if _PLAIN_STRING.fullmatch(value):
        try:
            return value[1:-1].decode("utf-8")
        except UnicodeDecodeError:  # the parser accepts more (surrogates): its verdict
            pass
    elif value == b"[]":
        return []
    elif _WHOLE_NUMBER.fullmatch(value):
        return int(value)
    return json.loads(value)


def skim_record(raw: bytes) -> dict | None:
    """The small top-level fields of a record, without parsing its ``files`` and ``paths_data``
    (four fifths of the bytes, and of the time a full parse takes). None unless the file has the
    layout conda (and rattler) write: a JSON object indented by two spaces, one key per line.

    The file is read line by line as that layout writes it, where a line's indentation says
    how deep it is: an object's keys one level in, each on a line of its own, its closing
    brace on a line at its own level; a list's items alike; any other value on one line (a
    newline inside a string is written as ``\\n``). A list that holds no other list is passed
    over in one search for its closing bracket: the first ``]`` after it opens, at the start of
    a line of its level, with no ``[`` in between, can only close it. Each wanted top-level
    value is parsed by the JSON parser. A key seen twice, a value that does not parse, a line
    out of that layout, or a file that does not end the object: None, and the caller parses
    the whole file, so the verdict is the full parser's."""
    if not raw.startswith(b'{\n  "') or not raw.rstrip().endswith(b"\n}"):  # cut short: the parser says so
        return None
    out: dict = {}
    try:
        end = _object_end(raw, 0, 0, out)
    except IndexError:  # a line cut where its value should go on
        return None
    if end < 0 or raw[end:].strip():
        return None
    return out


#: (indentation) -> the start of a line of that depth
_LINE = [b"\n" + b" " * n for n in range(0, 64, 2)]


def _value_end(raw: bytes, at: int, indent: int) -> int:
    """Where the value starting at ``at`` ends (just past it), on a line indented by ``indent``;
    -1 when it is not in the layout."""
    two = raw[at:at + 2]
    if two == b"{\n":
        return _object_end(raw, at, indent, None)
    if two == b"[\n":
        close = raw.find(b"]", at)
        line = _LINE[indent // 2]
        if close > 0 and raw[close - len(line):close] == line and raw.find(b"[", at + 1, close) < 0:
            return close + 1
        return _list_end(raw, at, indent)
    nl = raw.find(b"\n", at)  # any other value: the rest of its line, less the comma after it
    if nl <= at or raw.find(b'": ', at, nl) >= 0:  # a second key on the line: not this layout
        return -1
    return nl - 1 if raw[nl - 1] == 0x2C else nl  # 0x2C: ","


def _list_end(raw: bytes, at: int, indent: int) -> int:
    """A list written one item a line (``at``: its ``[``), item by item."""
    if indent + 2 >= 2 * len(_LINE):
        return -1
    item, close = _LINE[indent // 2 + 1], _LINE[indent // 2] + b"]"
    pos = at + 1
    while True:
        if not raw.startswith(item, pos) or raw[pos + len(item):pos + len(item) + 1] in (b" ", b""):  # deeper, or cut
            return -1
        pos = _value_end(raw, pos + len(item), indent + 2)
        if pos < 0:
            return -1
        pos, ended = _after_value(raw, pos, close)
        if ended or pos < 0:
            return pos


_KEY_LINES: dict[int, re.Pattern[bytes]] = {}


def _key_line(indent: int) -> re.Pattern[bytes]:
    """The start of a key's line at ``indent``, up to its value: the key (no escape in it)."""
    found = _KEY_LINES.get(indent)
    if found is None:
        found = _KEY_LINES[indent] = re.compile(b"\n" + b" " * indent + rb'"([^"\\\n]*)": ')
    return found


def _object_end(raw: bytes, at: int, indent: int, out: dict | None) -> int:
    """An object written one key a line (``at``: its ``{``), key by key. ``out``: the top-level
    object, whose wanted values are parsed into it (and whose keys may not repeat)."""
    if indent + 2 >= 2 * len(_LINE):
        return -1
    key_line, close = _key_line(indent + 2), _LINE[indent // 2] + b"}"
    seen: set[bytes] = set()
    pos = at + 1
    while True:
        m = key_line.match(raw, pos)
        if m is None:
            return -1
        start = m.end()
        pos = _value_end(raw, start, indent + 2)
        if pos < 0:
            return -1
        if out is not None:
            key = m.group(1)
            if key in seen:
                return -1
            seen.add(key)
            if key in _SKIMMED:
                try:
                    out[key.decode("utf-8")] = _json_value(raw[start:pos])
                except (ValueError, RecursionError):
                    return -1
        pos, ended = _after_value(raw, pos, close)
        if ended or pos < 0:
            return pos


def _after_value(raw: bytes, pos: int, close: bytes) -> tuple[int, bool]:
    """After a value of a list or an object: where the next one's line starts (it is followed by
    a comma), or, ``True`` beside it, just past the container's closing line; -1: neither."""
    if raw[pos] == 0x2C:  # ","
        return pos + 1, False
    if raw.startswith(close, pos):
        return pos + len(close), True
    return -1, True
