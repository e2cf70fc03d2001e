"""`python manage.py load_dictionary PATH [--check]`: load a REDCap data dictionary."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser

from casereports.dictionary import DictionaryError
from casereports.services.dictionaries import (
    LoadedDictionary,
    default_rules_path,
    read_dictionary_files,
    store_dictionary,
)


class Command(BaseCommand):
    help = (
        "Load a REDCap data dictionary (and the quality rules beside it) as an immutable "
        "version. With --check, validate and summarise without storing."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("path", type=Path, help="the data dictionary CSV")
        parser.add_argument(
            "--rules",
            type=Path,
            help="quality rules CSV (default: <name>_quality_rules.csv beside the dictionary)",
        )
        parser.add_argument("--name", default="core", help="dictionary name (default: core)")
        parser.add_argument("--check", action="store_true", help="validate only; store nothing")

    def handle(self, *args, path: Path, rules: Path | None, name: str, check: bool, **options):
        if not path.is_file():
            raise CommandError(f"{path}: no such file")
        rules_path = rules if rules is not None else default_rules_path(path)
        if rules_path is not None and not rules_path.is_file():
            raise CommandError(f"{rules_path}: no such file")
        try:
            loaded = read_dictionary_files(path, rules_path)
        except DictionaryError as error:
            for problem in error.problems:
                self.stderr.write(f"{path.name}: {problem}")
            raise CommandError(
                f"{path.name} refused: {len(error.problems)} problem(s); nothing was stored"
            ) from None
        self.stdout.write(summary_text(loaded))
        if check:
            self.stdout.write(self.style.SUCCESS(f"{path.name} is valid (nothing stored)"))
            return
        version, created = store_dictionary(loaded, name=name, source_filename=path.name)
        if created:
            self.stdout.write(self.style.SUCCESS(f"loaded {name} version {version.content_hash}"))
        else:
            self.stdout.write(f"unchanged: {name} version {version.content_hash} already loaded")


def summary_text(loaded: LoadedDictionary) -> str:
    summary = loaded.dictionary.summary()
    lines = [f"forms: {len(summary['forms'])}"]
    lines += [f"  {form}: {count} fields" for form, count in summary["forms"].items()]
    lines.append(f"fields: {summary['field_count']}")
    lines += [f"  {kind}: {count}" for kind, count in summary["fields_by_type"].items()]
    lines.append(f"fields with branching logic: {summary['with_branching']}")
    lines.append(f"calculated fields: {summary['calculated']}")
    lines.append(f"required fields: {summary['required']}")
    lines.append(f"identifier fields: {summary['identifiers']}")
    lines.append(f"quality rules: {loaded.rule_count}")
    return "\n".join(lines)
