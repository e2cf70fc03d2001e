"""The PDF a patient keeps: what they agreed to and what they reported, as sent (fpdf2, with
HarfBuzz shaping so Arabic is joined and right to left).

The font must cover every shipped language: DejaVu Sans (Debian's fonts-dejavu-core) unless
GDSI_PDF_FONT names another TrueType file. Without one the PDF falls back to a core font and
writes characters outside Latin-1 as "?", and says so in the log.
"""

from __future__ import annotations

import logging
from pathlib import Path

from django.conf import settings
from django.utils import translation
from django.utils.translation import gettext as _
from fpdf import FPDF

from casereports.i18n.texts import texts_for
from casereports.models import Case
from casereports.selfreport.answers import answered_pages, local_moment
from casereports.selfreport.models import ConsentRecord, PatientReport
from casereports.services.dictionaries import dictionary_of_case
from casereports.textlayers import PATIENTS

logger = logging.getLogger(__name__)
FONT_CANDIDATES = (
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
)


def font_path() -> Path | None:
    configured = getattr(settings, "GDSI_PDF_FONT", "")
    for candidate in ([configured] if configured else []) + list(FONT_CANDIDATES):
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    return None


class _Document(FPDF):
    def __init__(self, rtl: bool) -> None:
        super().__init__(format="A4")
        self.rtl = rtl
        self.set_margins(18, 18, 18)
        self.set_auto_page_break(True, margin=18)
        font = font_path()
        self.unicode = font is not None
        if font is not None:
            self.add_font("Report", "", str(font))
            bold = font.with_name(font.stem + "-Bold" + font.suffix)
            self.add_font("Report", "B", str(bold if bold.is_file() else font))
            self.family = "Report"
            if rtl:  # joined Arabic letters, right to left; Latin text needs no shaping
                self.set_text_shaping(True)
        else:
            logger.warning("no Unicode font for patient PDFs; set GDSI_PDF_FONT")
            self.family = "Helvetica"

    def text(self, text: str, *, size: float = 10, bold: bool = False, gap: float = 1.5) -> None:
        if not self.unicode:
            text = text.encode("latin-1", "replace").decode("latin-1")
        self.set_font(self.family, "B" if bold else "", size)
        self.multi_cell(
            0, size * 0.5, text, new_x="LMARGIN", new_y="NEXT", align="R" if self.rtl else "L"
        )
        self.ln(gap)


def report_pdf(case: Case, report: PatientReport) -> bytes:
    """The snapshot of a report at submission, in the language the patient used."""
    with translation.override(report.language):
        document = _Document(translation.get_language_bidi())
        document.set_title(_("My COVID-19 report"))
        document.add_page()
        document.text(_("My COVID-19 report"), size=16, bold=True, gap=3)
        document.text(_("Report code: %(code)s") % {"code": case.secret_name}, bold=True)
        document.text(_("Sent to: %(site)s") % {"site": case.site.name})
        if case.submitted_at:
            moment = local_moment(case.submitted_at, report.language)
            document.text(_("Sent on: %(moment)s") % {"moment": moment}, gap=4)
        consent = ConsentRecord.objects.filter(case=case).select_related("document").first()
        if consent is not None:
            _consent(document, consent, report.language)
        _answers(document, case, report)
        document.text(
            _(
                "This copy was made when you sent your report. Keep your receipt code to see "
                "your report again or to withdraw it."
            ),
            size=8,
        )
        return bytes(document.output())


def _consent(document: _Document, consent: ConsentRecord, language: str) -> None:
    document.text(_("What you agreed to"), size=13, bold=True)
    document.text(
        _("Consent version %(version)s, agreed on %(moment)s")
        % {
            "version": consent.document.version_label,
            "moment": local_moment(consent.agreed_at, language),
        },
        size=9,
    )
    for paragraph in consent.shown_text.split("\n"):
        if paragraph.strip():
            document.text(paragraph, size=9, gap=1)
    document.text(
        _("Fingerprint of this text (SHA-256): %(hash)s") % {"hash": consent.text_sha256},
        size=7,
        gap=4,
    )


def _answers(document: _Document, case: Case, report: PatientReport) -> None:
    language = report.language
    document.text(_("What you reported"), size=13, bold=True)
    texts = texts_for(case.dictionary_version, PATIENTS, language)
    answers = report.submitted_data or case.data
    for page in answered_pages(dictionary_of_case(case), answers, texts, language):
        if not page.answers:
            continue
        document.text(page.title, size=11, bold=True, gap=1)
        for answer in page.answers:
            document.text(answer.label, size=9, bold=True, gap=0.5)
            document.text(answer.value, size=9, gap=1.5)
