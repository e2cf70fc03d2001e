"""The record pipeline of `casereports.rules` compiled to one SQL query (PostgreSQL or SQLite).

The Python pipeline runs its steps (check rules, repairs, calculated fields) one after another,
each seeing the record as the earlier ones left it. Here every step is compiled once against
column names, then the steps are scheduled into as few layers as that order allows: a step goes
into the first layer after the layers holding the last writers of what it reads or writes, and
not before a layer holding an earlier reader of a column it writes (that reader must still see
the old value). Inside a layer all steps read the layer's input, which then is exactly what they
would have seen in sequence. Each layer is one SELECT over the previous one, fenced (`OFFSET 0`)
so that the planner does not inline the layers into one another (which would repeat every
expression once per later reference), and projects only the columns later layers or the output
still read.

Blank is SQL NULL inside the pipeline; the final SELECT turns it into '' like the Python side.
A failed check is kept as a flag column of its own until the end, where the flags are written
out in rule order, so the order of `_failed` does not depend on the layering.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field

from casereports.dictionary import DataDictionary, QualityRule
from casereports.logic.sql import Compiler, Sql, Typed, column_field_sql, json_field_sql, sql

FAILED = "_failed"
PIPELINE = "_pipeline"
RECORD_ID = "_record"
POSTGRES = "postgresql"


def quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def input_columns(dictionary: DataDictionary) -> list[str]:
    """Every stored value of a record: plain fields, and one column per checkbox option."""
    columns = []
    for item in dictionary.fields:
        if item.calc_ast is not None or item.field_type == "descriptive":
            continue
        if item.field_type == "checkbox":
            columns += [f"{item.name}___{code}" for code in item.choice_codes()]
        else:
            columns.append(item.name)
    return columns


def fields_read(ast: object) -> set[str]:
    """The columns a logic AST reads (a checkbox option is its own column)."""
    found: set[str] = set()
    stack = [ast]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            if node.get("t") == "field":
                code = node.get("code")
                found.add(node["name"] if code is None else f"{node['name']}___{code}")
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return found


VIEW = "#"  # a view column is named <field>#<kind>: no field name holds a "#"
_FIELD_TEXT = re.compile(r'^NULLIF\("([A-Za-z_][A-Za-z0-9_]*)", \'\'\)$')
_LET_INLINE = 600  # longest let value repeated in place: columns make most values short


@dataclass(frozen=True)
class _View:
    """A value the compiler derives from one field alone (its number, its date), computed
    once as a column in a layer before the steps that use it."""

    column: str
    source: str
    expression: Sql


class _InlineCompiler(Compiler):
    """The logic compiler over columns, repeating short let values in place rather than
    binding them in a correlated subquery (which PostgreSQL runs as a subplan per row)."""

    def __init__(self, dialect: str) -> None:
        super().__init__(column_field_sql(dialect), dialect)

    def let(self, values: Sequence[Sql], body: Callable[..., Sql]) -> Sql:
        # SQLite's parser allows little nesting, and its subqueries are cheap.
        short = all("SELECT" not in v.text and len(v.text) <= _LET_INLINE for v in values)
        if self.pg and short:
            return body(*values)
        return super().let(values, body)


class _PipelineCompiler(_InlineCompiler):
    """Besides, a field's number, date parts and moment are read from view columns: the same
    SQL, evaluated once per row in an earlier layer instead of once per use."""

    def __init__(self, dialect: str) -> None:
        super().__init__(dialect)
        self.plain = _InlineCompiler(dialect)
        self.used: dict[str, _View] = {}

    def _view(self, text: Sql, kind: str, build: Callable[[], Sql]) -> Sql | None:
        match = _FIELD_TEXT.match(text.text)
        if match is None or text.params:
            return None
        column = f"{match.group(1)}{VIEW}{kind}"
        if column not in self.used:
            self.used[column] = _View(column, match.group(1), build())
        return Sql(quote(column))

    def text_to_number(self, text: Sql) -> Sql:
        view = self._view(text, "num", lambda: self.plain.text_to_number(text))
        return view if view is not None else super().text_to_number(text)

    def date_part(self, x: Typed, start: int, length: int) -> Typed:
        if x.kind == "text" and x.literal is None:
            view = self._view(
                x.sql, f"part{start}", lambda: self.plain.date_part(x, start, length).sql
            )
            if view is not None:
                return Typed("num", view)
        return super().date_part(x, start, length)

    def moment(self, typed: Typed, date_format: Sql, known_format: str | None) -> Sql:
        if typed.kind == "text" and typed.literal is None and known_format == "ymd":
            view = self._view(
                typed.sql, "moment", lambda: self.plain.moment(typed, date_format, "ymd")
            )
            if view is not None:
                return view
        return super().moment(typed, date_format, known_format)

    def condition(self, ast: dict) -> tuple[str, list]:
        condition = self.cond(self.compile(ast))
        return condition.text, list(condition.params)

    def text_value(self, ast: dict) -> tuple[str, list]:
        """The value as text, NULL for blank (to_text's '' is NULL inside the pipeline)."""
        text = sql("NULLIF(COALESCE(", self.text(self.compile(ast)), ", ''), '')")
        return text.text, list(text.params)


@dataclass
class _Step:
    """One step of the Python pipeline: the columns it sets, each as SQL over the columns."""

    assignments: dict[str, tuple[str, list]]
    reads: set[str]
    layer: int = 0

    @property
    def writes(self) -> set[str]:
        return set(self.assignments)


@dataclass
class _Plan:
    steps: list[_Step] = field(default_factory=list)
    flags: list[tuple[str, str]] = field(default_factory=list)  # (flag column, rule id)


def _flag_column(index: int) -> str:
    return f"_check{index}"


class _Planner:
    """The steps in the Python pipeline's order, each preceded by the views it reads that are
    not computed yet for the current value of their field."""

    def __init__(self, dialect: str) -> None:
        self.dialect = dialect
        self.plan = _Plan()
        self.current: set[str] = set()  # views valid for their field's current value

    def compiler(self) -> _PipelineCompiler:
        return _PipelineCompiler(self.dialect)

    def add(self, compiler: _PipelineCompiler, step: _Step) -> None:
        for view in compiler.used.values():
            if view.column not in self.current:
                expression = (view.expression.text, list(view.expression.params))
                self.plan.steps.append(_Step({view.column: expression}, {view.source}))
                self.current.add(view.column)
            step.reads.add(view.column)
        self.plan.steps.append(step)
        for name in step.writes:
            self.current = {v for v in self.current if v.split(VIEW)[0] != name}


def _plan(
    dictionary: DataDictionary, rules: Sequence[QualityRule], dialect: str, with_failed: bool
) -> _Plan:
    planner = _Planner(dialect)
    plan = planner.plan
    checks = [rule for rule in rules if rule.kind == "check"]
    repairs = [rule for rule in rules if rule.kind == "repair"]
    for index, rule in enumerate(checks):
        compiler = planner.compiler()
        condition, params = compiler.condition(rule.logic_ast)
        assignments = {
            name: (f"CASE WHEN {condition} THEN NULL ELSE {quote(name)} END", list(params))
            for name in rule.blanks
        }
        if with_failed:
            flag = _flag_column(index)
            assignments[flag] = (condition, list(params))
            plan.flags.append((flag, rule.rule_id))
        reads = fields_read(rule.logic_ast) | set(rule.blanks)
        planner.add(compiler, _Step(assignments, reads))
    for rule in repairs:
        compiler = planner.compiler()
        condition, condition_params = compiler.condition(rule.logic_ast)
        value, value_params = compiler.text_value(rule.set_value_ast)
        target = quote(rule.set_field)
        expression = f"CASE WHEN {condition} THEN {value} ELSE {target} END"
        reads = fields_read(rule.logic_ast) | fields_read(rule.set_value_ast) | {rule.set_field}
        step = _Step({rule.set_field: (expression, condition_params + value_params)}, reads)
        planner.add(compiler, step)
    for item in dictionary.fields:
        if item.calc_ast is not None:
            compiler = planner.compiler()
            step = _Step(
                {item.name: compiler.text_value(item.calc_ast)}, fields_read(item.calc_ast)
            )
            planner.add(compiler, step)
    return plan


def _schedule(steps: list[_Step]) -> int:
    """Give each step its layer (1, 2, ...); returns the number of layers."""
    last_writer: dict[str, int] = {}  # column -> layer of its latest write so far
    last_reader: dict[str, int] = {}  # column -> latest layer reading it since that write
    layers = 0
    for step in steps:
        layer = 1
        for name in step.reads | step.writes:
            layer = max(layer, last_writer.get(name, 0) + 1)
        for name in step.writes:
            layer = max(layer, last_reader.get(name, 0))
        step.layer = layer
        for name in step.reads:
            last_reader[name] = max(last_reader.get(name, 0), layer)
        for name in step.writes:
            last_writer[name] = layer
            last_reader.pop(name, None)
        layers = max(layers, layer)
    return layers


def compile_pipeline(
    dictionary: DataDictionary,
    rules: Sequence[QualityRule],
    dialect: str,
    *,
    source: str,
    **options,
) -> tuple[str, list]:
    """A SELECT of `_record` (the source id), `_failed` (failed rule ids, space-separated;
    unless `with_failed` is false) and the fields after checks, repairs and derivations, all
    as text ('' for blank): every field, or only `outputs` (see `pipeline_ctes`)."""
    ctes, params = pipeline_ctes(dictionary, rules, dialect, source=source, **options)
    return f"WITH {ctes}\nSELECT * FROM {PIPELINE}", params


def pipeline_ctes(
    dictionary: DataDictionary,
    rules: Sequence[QualityRule],
    dialect: str,
    *,
    source: str,
    id_column: str = "id",
    data_column: str = "data",
    outputs: Sequence[str] | None = None,
    constants: Mapping[str, str] | None = None,
    with_failed: bool = True,
    source_params: Sequence = (),
) -> tuple[str, list]:
    """The pipeline as common table expressions (without `WITH`), the last one `_pipeline`:
    `_record` (the source id), `_failed` (failed rule ids, space-separated; unless
    `with_failed` is false) and the fields after checks, repairs and derivations, all as text
    ('' for blank): every field, or only `outputs`. A query goes on with more expressions
    (`, more AS (...)`) or its SELECT from `_pipeline`: SQLite's parser allows too little
    nesting to take the pipeline as a subquery.

    `constants` are input values the same for every row (the report source of a feed, which
    the stored record does not hold); they replace what the record holds under that name.
    `source` is a table name or a parenthesised subquery with `id_column` and `data_column`
    (jsonb on PostgreSQL, JSON text on SQLite), and `source_params` its parameters; the
    returned parameters include them, in their place."""
    constants = dict(constants or {})
    plan = _plan(dictionary, rules, dialect, with_failed)
    layer_count = _schedule(plan.steps)
    inputs = input_columns(dictionary)
    for name in constants:
        if name not in inputs:
            inputs.append(name)
    known = set(inputs) | {name for step in plan.steps for name in step.writes}
    wanted = list(outputs) if outputs is not None else [n for n in _ordered(inputs, plan) if n]
    unknown = [name for name in wanted if name not in known]
    if unknown:
        raise ValueError(f"not a field of the dictionary: {', '.join(unknown)}")
    flags = [flag for flag, _ in plan.flags]

    # Walk back from the output: the columns each layer must hand to the next.
    needed_after: list[set[str]] = [set() for _ in range(layer_count + 1)]
    needed = set(wanted) | set(flags)
    for layer in range(layer_count, 0, -1):
        needed_after[layer] = set(needed)
        in_layer = [step for step in plan.steps if step.layer == layer]
        written = {name for step in in_layer for name in step.writes if name in needed}
        needed -= written
        for step in in_layer:
            if step.writes & written:
                needed |= step.reads
    needed_after[0] = needed

    fence = " OFFSET 0" if dialect == POSTGRES else " LIMIT -1 OFFSET 0"
    params: list = []
    inputs_read = sorted(needed_after[0] & set(inputs))
    base_text, base_params = _base(
        dialect, inputs_read, constants, source, list(source_params), id_column, data_column
    )
    ctes = [f"layer0 AS ({base_text}{fence})"]
    params += base_params
    for layer in range(1, layer_count + 1):
        keep = needed_after[layer]
        select = [quote(RECORD_ID)]
        assigned: dict[str, tuple[str, list]] = {}
        for step in plan.steps:
            if step.layer == layer:
                assigned.update((n, e) for n, e in step.assignments.items() if n in keep)
        available = needed_after[layer - 1]
        for name in sorted(keep):
            if name in assigned:
                expression, expression_params = assigned[name]
                select.append(f"{expression} AS {quote(name)}")
                params += expression_params
            elif name in available:
                select.append(quote(name))
            else:  # a derived field no step before has set: blank, like a missing key
                select.append(f"CAST(NULL AS text) AS {quote(name)}")
        ctes.append(f"layer{layer} AS (SELECT {', '.join(select)} FROM layer{layer - 1}{fence})")
    final = [quote(RECORD_ID)]
    if with_failed:
        final.append(_failed_sql(plan.flags, dialect, params))
    final += [f"COALESCE({quote(name)}, '') AS {quote(name)}" for name in wanted]
    ctes.append(f"{PIPELINE} AS (SELECT {', '.join(final)} FROM layer{layer_count})")
    return ",\n".join(ctes), params


def _ordered(inputs: list[str], plan: _Plan) -> Iterator[str]:
    """Every field once: the inputs, then what the steps add, in order (no flag columns)."""
    seen = set()
    flags = {flag for flag, _ in plan.flags}
    for name in [*inputs, *(n for step in plan.steps for n in step.assignments)]:
        if name not in seen and name not in flags and VIEW not in name:
            seen.add(name)
            yield name


def _base(
    dialect: str,
    names: list[str],
    constants: Mapping[str, str],
    source: str,
    source_params: Sequence,
    id_column: str,
    data_column: str,
) -> tuple[str, list]:
    """The first layer: the record id and the input columns the pipeline reads (NULL for
    blank). PostgreSQL takes them apart with one `jsonb_to_record` per row (one `->>` per
    column would read the stored JSON once per column)."""
    placeholder = "%s" if dialect == POSTGRES else "?"
    select = [f"_src.{quote(id_column)} AS {quote(RECORD_ID)}"]
    params: list = []
    from_json = [name for name in names if name not in constants]
    read = json_field_sql(data_column, dialect)
    for name in names:
        if name in constants:
            select.append(f"NULLIF(CAST({placeholder} AS text), '') AS {quote(name)}")
            params.append(constants[name])
        elif dialect == POSTGRES:
            select.append(f"NULLIF(_row.{quote(name)}, '') AS {quote(name)}")
        else:
            select.append(f"NULLIF({read(name)}, '') AS {quote(name)}")
    tables = f"{source} AS _src"
    if dialect == POSTGRES and from_json:
        record_type = ", ".join(f"{quote(name)} text" for name in from_json)
        tables += f", jsonb_to_record(_src.{quote(data_column)}) AS _row({record_type})"
    return f"SELECT {', '.join(select)} FROM {tables}", [*params, *source_params]


def _failed_sql(flags: list[tuple[str, str]], dialect: str, params: list) -> str:
    if not flags:
        return f"'' AS {quote(FAILED)}"
    placeholder = "%s" if dialect == POSTGRES else "?"
    parts = []
    for flag, rule_id in flags:
        parts.append(f"CASE WHEN {quote(flag)} THEN {placeholder} ELSE '' END")
        params.append(rule_id + " ")
    return f"TRIM({' || '.join(parts)}) AS {quote(FAILED)}"


def run_pipeline_sql(
    connection,
    dictionary: DataDictionary,
    rules: list[QualityRule],
    records: list[dict],
    dialect: str,
) -> list[dict[str, str]]:
    """Run the compiled pipeline over `records` in a temporary table on `connection` (a sqlite3
    or psycopg connection); returns one dict per record, in order, with `_failed`."""
    import json

    placeholder = "%s" if dialect == POSTGRES else "?"
    json_type = "jsonb" if dialect == POSTGRES else "text"
    cursor = connection.cursor()
    if dialect == POSTGRES:  # compiling this long query with JIT costs seconds, saves nothing
        cursor.execute("SET LOCAL jit = off")
    cursor.execute(f"CREATE TEMPORARY TABLE pipeline_input (id integer, data {json_type})")
    rows = [(index, json.dumps(record)) for index, record in enumerate(records)]
    cursor.executemany(f"INSERT INTO pipeline_input VALUES ({placeholder}, {placeholder})", rows)
    sql, params = compile_pipeline(dictionary, rules, dialect, source="pipeline_input")
    cursor.execute(f"{sql} ORDER BY {quote(RECORD_ID)}", params)
    names = [column[0] for column in cursor.description]
    results = [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
    cursor.execute("DROP TABLE pipeline_input")
    return results
