"""The record pipeline of `casereports.rules` compiled to one SQL query (PostgreSQL or SQLite).

Each step (a check rule, a repair, a calculated field) is one SELECT over the previous step, so
later steps see the record as earlier ones left it, exactly as the Python pipeline does. Each
step is fenced (`OFFSET 0`) so that the planner does not inline the steps into one another,
which would repeat every expression once per later reference.

Blank is SQL NULL inside the pipeline; the final SELECT turns it into '' like the Python side.
"""

from casereports.dictionary import DataDictionary, Field, QualityRule
from casereports.logic.sql import (
    column_field_sql,
    compile_condition,
    compile_text,
    json_field_sql,
)

FAILED = "_failed"
RECORD_ID = "_record"


def quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def input_columns(dictionary: DataDictionary) -> list[str]:
    """Every stored value of a record: plain fields, and one column per checkbox option."""
    columns = []
    for field in dictionary.fields:
        if field.calc_ast is not None or field.field_type == "descriptive":
            continue
        if field.field_type == "checkbox":
            columns += [f"{field.name}___{code}" for code in field.choice_codes()]
        else:
            columns.append(field.name)
    return columns


class _Steps:
    """Builds the chain of steps as CTEs, keeping placeholders and params in text order."""

    def __init__(self, dialect: str, columns: list[str], base: str, params: list) -> None:
        self.dialect = dialect
        self.columns = columns
        self.fence = " OFFSET 0" if dialect == "postgresql" else " LIMIT -1 OFFSET 0"
        self.ctes = [f"step0 AS ({base}{self.fence})"]
        self.params = list(params)
        self.column_sql = column_field_sql(dialect)

    @property
    def last(self) -> str:
        return f"step{len(self.ctes) - 1}"

    def step(self, replaced: dict[str, tuple[str, list]]) -> None:
        select: list[str] = []
        params: list = []
        for name in [RECORD_ID, FAILED, *self.columns]:
            if name in replaced:
                expression, expression_params = replaced[name]
                select.append(f"{expression} AS {quote(name)}")
                params += expression_params
            else:
                select.append(quote(name))
        for name, (expression, expression_params) in replaced.items():
            if name not in self.columns and name not in (RECORD_ID, FAILED):
                select.append(f"{expression} AS {quote(name)}")
                params += expression_params
                self.columns.append(name)
        body = f"SELECT {', '.join(select)} FROM {self.last}{self.fence}"
        self.ctes.append(f"step{len(self.ctes)} AS ({body})")
        self.params += params

    def condition(self, ast: dict) -> tuple[str, list]:
        return compile_condition(ast, self.column_sql, self.dialect)

    def text(self, ast: dict) -> tuple[str, list]:
        sql, params = compile_text(ast, self.column_sql, self.dialect)
        return f"NULLIF({sql}, '')", params


def compile_pipeline(
    dictionary: DataDictionary,
    rules: list[QualityRule],
    dialect: str,
    *,
    source: str,
    id_column: str = "id",
    data_column: str = "data",
) -> tuple[str, list]:
    """A SELECT of `_record` (the source id), `_failed` (failed rule ids, space-separated) and
    every field after checks, repairs and derivations, all as text ('' for blank)."""
    columns = input_columns(dictionary)
    read = json_field_sql(data_column, dialect)
    base = ", ".join(
        [f"{quote(id_column)} AS {quote(RECORD_ID)}", f"'' AS {quote(FAILED)}"]
        + [f"NULLIF({read(name)}, '') AS {quote(name)}" for name in columns]
    )
    steps = _Steps(dialect, columns, f"SELECT {base} FROM {source}", [])
    for rule in rules:
        if rule.kind == "check":
            _add_check(steps, rule)
    for rule in rules:
        if rule.kind == "repair":
            _add_repair(steps, rule)
    for field in dictionary.fields:
        if field.calc_ast is not None:
            _add_calculation(steps, field)
    final = [quote(RECORD_ID), f"TRIM({quote(FAILED)}) AS {quote(FAILED)}"] + [
        f"COALESCE({quote(name)}, '') AS {quote(name)}" for name in steps.columns
    ]
    ctes = ",\n".join(steps.ctes)
    return f"WITH {ctes}\nSELECT {', '.join(final)} FROM {steps.last}", steps.params


def _add_check(steps: _Steps, rule: QualityRule) -> None:
    condition, params = steps.condition(rule.logic_ast)
    replaced = {
        name: (f"CASE WHEN {condition} THEN NULL ELSE {quote(name)} END", list(params))
        for name in rule.blanks
    }
    placeholder = "%s" if steps.dialect == "postgresql" else "?"
    replaced[FAILED] = (
        f"({quote(FAILED)} || CASE WHEN {condition} THEN {placeholder} ELSE '' END)",
        [*params, rule.rule_id + " "],
    )
    steps.step(replaced)


def _add_repair(steps: _Steps, rule: QualityRule) -> None:
    condition, condition_params = steps.condition(rule.logic_ast)
    value, value_params = steps.text(rule.set_value_ast)
    expression = f"CASE WHEN {condition} THEN {value} ELSE {quote(rule.set_field)} END"
    steps.step({rule.set_field: (expression, condition_params + value_params)})


def _add_calculation(steps: _Steps, field: Field) -> None:
    steps.step({field.name: steps.text(field.calc_ast)})


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

    placeholder = "%s" if dialect == "postgresql" else "?"
    json_type = "jsonb" if dialect == "postgresql" else "text"
    cursor = connection.cursor()
    if dialect == "postgresql":  # compiling this long query with JIT costs seconds, saves nothing
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
