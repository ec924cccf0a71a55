"""The cache prune reads only the small fields of a record; it must agree with the full parser."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from builder import Installation

from conda_prune.record_skim import _SKIMMED, skim_record
from conda_prune.records import read_conda_meta


def _fields(records):  # type: ignore[no-untyped-def]
    return sorted((r.dist, r.name, r.version, r.build, r.link_type, r.link_source, r.extracted_package_dir,
                   r.depends, r.constrains, r.url, r.fn, r.requested_specs) for r in records)


def test_skimmed_records_of_a_real_environment_equal_the_full_parse(inst: Installation) -> None:
    inst.package("a", size=1_000, depends=["b"])
    inst.package("b", size=1_000)
    prefix = inst.create_env("e", ["a"])
    raws = [p.read_bytes() for p in (prefix / "conda-meta").glob("*.json")]
    assert raws and all(skim_record(r) is not None for r in raws)  # the layout conda writes
    for raw in raws:
        full = json.loads(raw)
        assert skim_record(raw) == {k: v for k, v in full.items() if k.encode() in _SKIMMED}
    skimmed = read_conda_meta(prefix, with_files=False)
    whole = read_conda_meta(prefix, with_files=True)
    assert _fields(skimmed.records) == _fields(whole.records) and not skimmed.problems


RECORD = {"name": "a", "version": "1.10", "build": "0", "depends": ["b >=1"], "constrains": [],
          "files": ["lib/x", 'odd\n  "name": "evil"'], "link": {"source": "/pkgs/a-1.10-0", "type": 1},
          "url": "https://x/a-1.10-0.conda"}


@pytest.mark.parametrize("raw, why", [
    (json.dumps(RECORD).encode(), "one line"),
    (json.dumps(RECORD, indent=1).encode(), "indented by one"),
    (json.dumps(RECORD, indent=4).encode(), "indented by four"),
    (json.dumps(RECORD, indent=2).encode()[:-3], "truncated"),
    (json.dumps(RECORD, indent=2).encode().replace(b'"url"', b'"name"'), "a key twice"),
    (json.dumps(RECORD, indent=2).encode().replace(b'"1.10"', b'"1.10" x'), "a value that does not parse"),
])
def test_anything_but_the_written_layout_goes_to_the_full_parser(raw: bytes, why: str) -> None:
    assert skim_record(raw) is None, why


def test_a_newline_inside_a_string_never_looks_like_a_key() -> None:
    raw = json.dumps(RECORD, indent=2).encode()
    assert skim_record(raw) == {k: v for k, v in RECORD.items() if k.encode() in _SKIMMED}
    assert skim_record(raw)["name"] == "a"


def test_a_broken_record_is_still_a_problem_when_skimmed(inst: Installation) -> None:
    inst.package("a", size=1_000)
    prefix = inst.create_env("e", ["a"])
    record = next((prefix / "conda-meta").glob("a-*.json"))
    data = json.loads(record.read_text())
    data["depends"] = "not a list"
    record.write_text(json.dumps(data, indent=2))
    env = read_conda_meta(prefix, with_files=False)
    assert env.unreadable == [record.name[:-5]] and "depends" in str(env.problems[0])


def test_what_the_cache_prune_decides_is_the_same_either_way(inst: Installation, monkeypatch, tmp_path: Path) -> None:
    from conda_prune import records
    from conda_prune.cache_plan import plan_cache_prune

    inst.package("a", size=1_000)
    inst.package("b", size=1_000)
    inst.create_env("e", ["a"])
    inst.extract_to_cache(inst.packages["b-1.0-0"])
    skimmed = plan_cache_prune(inst.locations())
    monkeypatch.setattr(records, "skim_record", lambda raw: None)
    full = plan_cache_prune(inst.locations())
    assert [(d.entry.dist, d.action, d.reason) for d in skimmed.decisions] == \
        [(d.entry.dist, d.action, d.reason) for d in full.decisions]


@pytest.mark.parametrize("value", [
    b'"abc"', b'""', b'"a\\"b"', b'"a\\\\"', b'"\xc3\xa9"', b'"\xed\xa0\x80"', b'"\xff"', b'"a\tb"', b'"a"b"',
    b'"x" ', b'0', b'-0', b'-12', b'012', b'1.5', b'1e3', b'[]', b'[ ]', b'[\n    "b"\n  ]', b'null', b'true',
    b'{"source": "/p", "type": 1}', b'', b'"',
])
def test_a_value_read_without_the_parser_is_what_the_parser_reads(value: bytes) -> None:
    # the plain values (a string without escapes, a whole number, []) skip the JSON parser
    from conda_prune.record_skim import _json_value

    try:
        expected: object = ("value", json.loads(value))
    except ValueError as exc:
        expected = ("refused", type(exc))
    try:
        got: object = ("value", _json_value(value))
    except ValueError as exc:
        got = ("refused", type(exc))
    assert got == expected and type(got[1]) is type(expected[1])


FULL = {"build": "py_0", "depends": ["numpy [build=py38*]", "b >=1"], "name": "a",
        "files": ["lib/x", "lib/[odd]", "lib/y]", "lib/[z"],
        "paths_data": {"paths": [{"_path": "lib/x", "path_type": "hardlink", "size_in_bytes": 1},
                                 {"_path": "lib/[odd]", "path_type": "softlink", "no_link": True}],
                       "paths_version": 1},
        "link": {"source": "/pkgs/a-1-py_0", "type": 2}, "url": "file:///c/a-1-py_0.conda", "version": "1",
        "requested_specs": [], "constrains": [], "channel": "file:///c"}


def _subset(doc: dict) -> dict:
    return {k: v for k, v in doc.items() if k.encode() in _SKIMMED}


@pytest.mark.parametrize("raw", [
    json.dumps(FULL, indent=2).encode(),  # brackets in names and specs: read item by item
    json.dumps(FULL, indent=2, sort_keys=True).encode(),  # conda's order: link between files and paths_data
    json.dumps({**FULL, "files": ["lib/x"], "depends": ["b"]}, indent=2, sort_keys=True).encode(),  # no bracket
    json.dumps({**FULL, "paths_data": {"paths_version": 1, "paths": [{"_path": "p"}]}}, indent=2).encode(),
    json.dumps({**FULL, "files": [], "paths_data": {}}, indent=2).encode(),
    json.dumps({**FULL, "files": [["nested"], "x"]}, indent=2).encode(),
])
def test_the_layouts_conda_and_rattler_write_are_skimmed_as_parsed(raw: bytes) -> None:
    assert skim_record(raw) == _subset(json.loads(raw))


@pytest.mark.parametrize("raw", [
    # valid JSON out of the layout, where a line that looks like a top-level key is not one
    b'{\n  "files": [{"a": 1,\n  "name": "evil"}],\n  "name": "a"\n}',
    b'{\n  "files": [{"a": 1,\n  "name": "evil"\n}],\n  "name": "a"\n}',
    b'{\n  "files": [\n    "x"],\n  "name": "evil",\n  "y": [\n  ],\n  "name2": "a"\n}',
    b'{\n  "files": ["x",\n  "name"],\n  "name": "a"\n}',
    b'{\n  "paths_data": {"x": {\n  }},\n  "name": "a"\n}',
    b'{\n  "paths_data": {\n    "x": [{"a": 1\n  }, "q"]\n  },\n  "name": "a"\n}',
    b'{\n  "name": "a",\n  "link": {\n    "type": 1\n  }}',
    b'{\n  "name": "a"\n}\n{\n  "name": "b"\n}',
    b'{\n  "versi{on": "1.10",  "build": "0",\n  "name": "a"\n}',  # two keys on one line
])
def test_a_line_out_of_the_layout_never_yields_another_value_than_the_parser(raw: bytes) -> None:
    try:
        expected = _subset(json.loads(raw))
    except ValueError:
        expected = None
    got = skim_record(raw)
    assert got is None or got == expected


def test_mutated_records_are_skimmed_as_parsed_or_left_to_the_parser() -> None:
    """Thousands of records with brackets, quotes, newlines and keys put in or cut out at random:
    what the skim returns for one the parser reads is what the parser reads."""
    import random

    bases = [json.dumps(FULL, indent=2).encode(), json.dumps(FULL, indent=2, sort_keys=True).encode(),
             json.dumps(RECORD, indent=2).encode()]
    tokens = [b"\n", b"\n  ", b"\n    ", b'"', b",", b"[", b"]", b"{", b"}", b'\n  "name": "evil"',
              b'"name": "evil",', b" ", b"\n  ]", b"\n  }", b'\n  "link": 3,']
    rng = random.Random(9)
    for _ in range(4000):
        raw = bytearray(rng.choice(bases))
        for _ in range(rng.randint(1, 3)):
            i = rng.randrange(len(raw) or 1)
            op = rng.random()
            if op < 0.55:
                raw[i:i] = rng.choice(tokens)
            elif op < 0.9:
                del raw[i:i + rng.randint(1, 4)]
            else:
                del raw[i:]  # cut short, as a crash during a write leaves it
        got = skim_record(bytes(raw))
        try:
            doc = json.loads(raw)
        except ValueError:
            continue  # a value the skim passes over may be broken: the record's other reads say so
        assert got is None or got == _subset(doc), bytes(raw)


@pytest.mark.parametrize("raw", [
    b'{\n  "files": [\n    ', b'{\n  "name": "a"', b'{\n  "files": [\n    "a",\n    ',
    b'{\n  "name": "a",\n  "x": [\n    "q"\n  ]', b'{\n  "name": "a",\n  "x": [\n    "q"\n  ]\n',
    b'{\n  "link": {\n    "type": 1\n  }',
])
def test_a_record_cut_short_is_left_to_the_parser(raw: bytes) -> None:
    """What a crash during a write leaves: never an exception out of the skim."""
    assert skim_record(raw) is None
    for n in range(len(raw)):
        assert skim_record(raw[:n]) is None


def test_a_record_cut_short_in_an_environment_is_a_problem_not_a_crash(inst: Installation) -> None:
    inst.package("a", size=1_000)
    prefix = inst.create_env("e", ["a"])
    record = next((prefix / "conda-meta").glob("a-*.json"))
    raw = record.read_bytes()
    record.write_bytes(raw[: raw.index(b'\n  "files"') + len(b'\n  "files": [\n    ')])
    env = read_conda_meta(prefix, with_files=False)
    assert env.unreadable == [record.name[:-5]] and "not valid JSON" in str(env.problems[0])
