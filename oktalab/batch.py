"""Where a batch's parameter sets come from: files, folders, batch files, template + table.

``oktalab run`` accepts, in any mix:

- a parameter file (one set);
- a folder: every ``*.yaml`` / ``*.yml`` file in it (not below it), in name order, each a
  parameter file or a batch file; templates (``*.template.yaml``) are left to the batch
  files that name them;
- a batch file: one YAML mapping with ``sets`` (parameter files, relative to the batch
  file, or whole sets written inline) and/or ``template`` + ``table`` (a CSV or YAML file)
  or ``template`` + ``rows`` (the table inline);
- ``--template FILE --table FILE`` on the command line.

A table has one row per set. Its columns are field paths of the template (``name``,
``app.label``, ``extauth.policy_name``, ``claims.0.value``: a number picks a list item);
each row's values replace the template's, and every row must give its own ``name``. A CSV
cell is text where the template has text; where the template has a number, a boolean, a
list or no value, the cell is read as YAML (``8080``, ``true``, ``[a, b]``); an empty cell
keeps the template's value. A YAML table is a list of mappings (paths or nested).

Every set is validated before any call (:func:`expand`): a bad row stops the whole run,
and the error names the row, the field and the rule (``tenants.csv row 3 (line 4):
app.label: ...``). Parsing is the strict YAML loader's (:func:`oktalab.params.load_yaml`)
and Python's ``csv`` module.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from .errors import ParameterError
from .params import (
    MAX_YAML_BYTES,
    ParameterSet,
    load_parameters,
    load_yaml,
    parse_parameters,
    with_adopt_env as _with_adopt_env,
)

__all__ = ["BATCH_KEYS", "SetInput", "expand", "generated_yaml", "table_rows"]

BATCH_KEYS = ("sets", "template", "table", "rows")
YAML_SUFFIXES = (".yaml", ".yml")


@dataclass(frozen=True)
class SetInput:
    """One parameter set of a batch: where it came from, and the validated set.

    ``path`` is its parameter file, or None for a set generated from a template + table
    row or written inline in a batch file; ``data`` is then the mapping to write to a file
    for the notebooks (validated, no secrets: secrets are never parameters).
    """

    source: str
    params: ParameterSet
    path: Path | None = None
    data: dict[str, Any] | None = None


def _read_text(path: Path, source: str) -> str:
    if not path.is_file():
        raise ParameterError(f"file not found: {path}", source=source)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ParameterError(f"cannot read the file: {exc.strerror}", source=source) from None
    if len(raw) > MAX_YAML_BYTES:
        raise ParameterError(
            f"file is {len(raw)} bytes; parameter files are limited to {MAX_YAML_BYTES} bytes",
            source=source,
        )
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ParameterError("not UTF-8 text", source=source) from None


def _is_batch(data: Any) -> bool:
    return isinstance(data, dict) and "name" not in data and any(k in data for k in BATCH_KEYS)


def _split(path: str) -> list[str]:
    return [p for p in path.split(".")]


def _lookup(data: Any, parts: list[str]) -> Any:
    for part in parts:
        if isinstance(data, dict):
            data = data.get(part)
        elif isinstance(data, list) and part.isdigit() and int(part) < len(data):
            data = data[int(part)]
        else:
            return None
    return data


def _assign(data: dict[str, Any], parts: list[str], value: Any, column: str) -> dict[str, Any]:
    """A copy of ``data`` with ``value`` at the path; raise ValueError naming the rule."""

    def put(node: Any, i: int) -> Any:
        if i == len(parts):
            return value
        part = parts[i]
        if not part:
            raise ValueError(f"column {column!r}: an empty path segment (check the dots)")
        if isinstance(node, list):
            if not part.isdigit() or int(part) >= len(node):
                raise ValueError(
                    f"column {column!r}: {'.'.join(parts[:i]) or 'the value'} is a list of "
                    f"{len(node)} item(s) in the template; expected an index 0..{len(node) - 1}"
                    f", got {part!r}"
                )
            out_list = list(node)
            out_list[int(part)] = put(node[int(part)], i + 1)
            return out_list
        if node is None:
            node = {}
        if not isinstance(node, dict):
            raise ValueError(
                f"column {column!r}: {'.'.join(parts[:i])} is a single value in the template, "
                "not a section"
            )
        out = dict(node)
        out[part] = put(node.get(part), i + 1)
        return out

    result = put(data, 0)
    assert isinstance(result, dict)
    return result


def _cell(template: dict[str, Any], column: str, text: str, source: str) -> Any:
    """A CSV cell: text where the template has text, else YAML (numbers, booleans, lists)."""
    if isinstance(_lookup(template, _split(column)), str):
        return text
    return load_yaml(text, source=f"{source}: {column}")


def _flatten(row: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """A YAML row (paths or nested mappings) as ``{path: value}``; lists stay values."""
    out: dict[str, Any] = {}
    for k, v in row.items():
        path = f"{prefix}.{k}" if prefix else str(k)
        if isinstance(v, dict):
            out.update(_flatten(v, path))
        else:
            out[path] = v
    return out


def table_rows(table: Path, label: str | None = None) -> list[tuple[str, dict[str, Any]]]:
    """The rows of a CSV (``.csv``) or YAML (a list of mappings) table: ``[(row label,
    {column path: value or cell text})]``; CSV cells are returned as text (typed later
    against the template). Raises ParameterError naming the file, the row and the rule."""
    label = label or str(table)
    text = _read_text(table, label)
    rows: list[tuple[str, dict[str, Any]]] = []
    if table.suffix.lower() == ".csv":
        reader = csv.reader(io.StringIO(text, newline=""))
        try:
            header = next(reader, None)
            if not header:
                raise ParameterError("the CSV table is empty (expected a header row)", source=label)
            header = [h.strip() for h in header]
            dupes = sorted({h for h in header if header.count(h) > 1})
            if dupes:
                raise ParameterError(
                    [("header", f"each column once; repeated: {dupes}")], source=label
                )
            if "" in header:
                raise ParameterError([("header", "a column without a name")], source=label)
            n = 0
            for cells in reader:
                if not any(c.strip() for c in cells):
                    continue  # a blank line
                n += 1
                where = f"{label} row {n} (line {reader.line_num})"
                if len(cells) != len(header):
                    raise ParameterError(
                        f"{len(cells)} cells for {len(header)} columns", source=where
                    )
                rows.append((where, {h: c for h, c in zip(header, cells, strict=True) if c != ""}))
        except csv.Error as exc:
            raise ParameterError(f"not a valid CSV table: {exc}", source=label) from None
        return rows
    data = load_yaml(text, source=label)
    if not isinstance(data, list) or not all(isinstance(r, dict) for r in data):
        raise ParameterError(
            "expected a list of mappings (one per set) or a .csv file", source=label
        )
    return [(f"{label} row {i}", _flatten(r)) for i, r in enumerate(data, 1)]


def _from_table(
    template: Path, rows: list[tuple[str, dict[str, Any]]], *, typed: bool, source: str
) -> list[SetInput]:
    problems: list[str] = []
    base = load_yaml(_read_text(template, str(template)), source=str(template)) or {}
    if not isinstance(base, dict):
        raise ParameterError("expected a mapping of parameters at the top level", source=source)
    if not rows:
        raise ParameterError("the table has no rows", source=source)
    out: list[SetInput] = []
    for where, values in rows:
        if "name" not in values:
            problems.append(
                f"invalid parameters in {where}: name: required column (each set needs its own name)"
            )
            continue
        data = dict(base)
        try:
            for column, value in values.items():
                v = value if typed else _cell(base, column, value, where)
                data = _assign(data, _split(column), v, column)
            ps = parse_parameters(_with_adopt_env(data), source=where)
        except ValueError as exc:  # ParameterError is a ValueError
            text = str(exc)
            problems.append(text if isinstance(exc, ParameterError) else f"{where}: {text}")
            continue
        out.append(SetInput(source=where, params=ps, data=data))
    if problems:
        raise ParameterError([("", p) for p in problems])
    return out


def _from_batch_file(path: Path, data: dict[str, Any]) -> list[SetInput]:
    source = str(path)
    unknown = sorted(set(data) - set(BATCH_KEYS))
    if unknown:
        raise ParameterError(
            [(k, f"unknown batch key; expected some of {list(BATCH_KEYS)}") for k in unknown],
            source=source,
        )
    here = path.parent
    out: list[SetInput] = []
    problems: list[str] = []
    sets = data.get("sets") or []
    if not isinstance(sets, list):
        raise ParameterError([("sets", "expected a list of files or sets")], source=source)
    for i, entry in enumerate(sets):
        where = f"{source} sets[{i}]"
        try:
            if isinstance(entry, str):
                f = (here / entry).resolve()
                out.append(SetInput(source=str(f), params=load_parameters(f), path=f))
            elif isinstance(entry, dict):
                ps = parse_parameters(_with_adopt_env(entry), source=where)
                out.append(SetInput(source=where, params=ps, data=entry))
            else:
                raise ParameterError("expected a parameter file name or a set", source=where)
        except ParameterError as exc:
            problems.append(str(exc))
    has_table = "table" in data or "rows" in data
    if ("template" in data) != has_table or ("table" in data and "rows" in data):
        problems.append(
            f"invalid parameters in {source}: template: give a template with either a "
            "table file or inline rows"
        )
    elif "template" in data:
        try:
            if not isinstance(data["template"], str):
                raise ParameterError([("template", "expected a file name")], source=source)
            template = (here / data["template"]).resolve()
            if "table" in data:
                if not isinstance(data["table"], str):
                    raise ParameterError([("table", "expected a file name")], source=source)
                table = (here / data["table"]).resolve()
                rows = table_rows(table)
                out += _from_table(
                    template, rows, typed=table.suffix.lower() != ".csv", source=str(table)
                )
            else:
                inline = data["rows"]
                if not isinstance(inline, list) or not all(isinstance(r, dict) for r in inline):
                    raise ParameterError([("rows", "expected a list of mappings")], source=source)
                rows = [(f"{source} rows[{i}]", _flatten(r)) for i, r in enumerate(inline)]
                out += _from_table(template, rows, typed=True, source=source)
        except ParameterError as exc:
            problems.append(str(exc))
    if problems:
        raise ParameterError([("", p) for p in problems])
    return out


def _from_file(path: Path) -> list[SetInput]:
    data = load_yaml(_read_text(path, str(path)), source=str(path))
    if _is_batch(data):
        assert isinstance(data, dict)
        return _from_batch_file(path, data)
    return [SetInput(source=str(path), params=load_parameters(path), path=path)]


def generated_yaml(si: SetInput) -> str:
    """The YAML file of a set without one (a table row, an inline set), saying where it
    came from."""
    assert si.data is not None
    head = f"# parameter set {si.params.name!r}, generated by oktalab from {si.source}\n"
    return head + yaml.safe_dump(si.data, sort_keys=False, allow_unicode=True)


def expand(
    paths: list[str | Path], *, template: str | Path | None = None, table: str | Path | None = None
) -> list[SetInput]:
    """Every parameter set the inputs name, validated, in order (no call is made).

    Raises:
        ParameterError: every problem of every input at once (each names its file or row,
            the field and the rule); nothing runs when any set is invalid.
    """
    out: list[SetInput] = []
    problems: list[ParameterError] = []

    def take(fn: Any, *args: Any) -> None:
        try:
            out.extend(fn(*args))
        except ParameterError as exc:
            problems.append(exc)

    for raw in paths:
        p = Path(raw).resolve()
        if p.is_dir():
            files = sorted(
                f
                for f in p.iterdir()
                if f.suffix.lower() in YAML_SUFFIXES
                and f.is_file()
                and not f.stem.lower().endswith(".template")  # read through a batch file
            )
            if not files:
                problems.append(
                    ParameterError("the folder holds no .yaml or .yml files", source=str(raw))
                )
            for f in files:
                take(_from_file, f)
        else:
            take(_from_file, p)
    if (template is None) != (table is None):
        problems.append(
            ParameterError(
                [("--template/--table", "give both: a template parameter file and a table")]
            )
        )
    elif template is not None and table is not None:
        tpath, tab = Path(template).resolve(), Path(table).resolve()

        def from_cli() -> list[SetInput]:
            rows = table_rows(tab, str(table))
            return _from_table(tpath, rows, typed=tab.suffix.lower() != ".csv", source=str(table))

        take(from_cli)
    if len(problems) == 1:
        raise problems[0]
    if problems:
        raise ParameterError([("", str(p)) for p in problems])
    return out
