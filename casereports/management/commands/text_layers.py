"""Check the shipped text layers against the dictionary, or write a layer's template.

manage.py text_layers --check          coverage and stale counts per layer; exit 1 when a
                                       layer is refused, incomplete or stale
manage.py text_layers --template es    the rows a translator fills in (es.patients: the
                                       patients' layer), with the layer's current texts
"""

from __future__ import annotations

import sys
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from casereports.dictionary.shipped import CORE_DICTIONARY, core_dictionary
from casereports.textlayers import (
    LayerName,
    TextLayerError,
    coverage,
    layer_files,
    read_layer,
    template_rows,
    write_layer_rows,
)


class Command(BaseCommand):
    help = "Check the text layers shipped beside the dictionary, or print a layer's template."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--check", action="store_true")
        parser.add_argument("--template", metavar="LANGUAGE[.AUDIENCE]")
        parser.add_argument("--dir", type=Path, default=None, help="layers folder")

    def handle(self, *args, check: bool, template: str | None, dir: Path | None, **options):
        directory = dir or Path(settings.GDSI_TEXT_LAYERS_DIR)
        dictionary = core_dictionary().dictionary
        stem = CORE_DICTIONARY.stem
        if template:
            name = LayerName.parse(template)
            path = directory / f"{stem}.{name}.csv"
            layer = None
            if path.exists() and path.stat().st_size:
                try:
                    layer = read_layer(path, dictionary, name)
                except TextLayerError as refused:
                    self.stderr.write(f"{path.name} not used: {refused.problems[0]}")
            write_layer_rows(template_rows(dictionary, name.audience, layer), sys.stdout)
            return
        if not check:
            raise CommandError("Give --check or --template LANGUAGE[.AUDIENCE].")
        failed = 0
        found = list(layer_files(directory, stem))
        if not found:
            raise CommandError(f"No text layers for {stem} in {directory}")
        self.stdout.write(
            f"{'layer':<16} {'strings':>8} {'translated':>11} {'missing':>8} {'stale':>6}"
        )
        for name, path in found:
            try:
                layer = read_layer(path, dictionary, name)
            except TextLayerError as refused:
                failed += 1
                self.stdout.write(f"{str(name):<16} refused:")
                for problem in refused.problems:
                    self.stdout.write(f"  {problem}")
                continue
            report = coverage(layer, dictionary)
            failed += not report.complete
            self.stdout.write(
                f"{str(name):<16} {report.expected:>8} {report.translated:>11} "
                f"{len(report.missing):>8} {len(report.stale):>6}  {report.percent:.0f}%"
            )
            for key in (report.missing + report.stale)[:5]:
                self.stdout.write(
                    f"  {'missing' if key in report.missing else 'stale'}: {' '.join(key).strip()}"
                )
        if failed:
            raise CommandError(f"{failed} layer(s) refused, incomplete or stale")
        self.stdout.write("every layer complete")
