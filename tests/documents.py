"""Real documents for tests and the demo: PDFs with a text layer, scans without one, DOCX files."""

from __future__ import annotations

import io
from datetime import UTC, datetime

_FIXED_DATE = datetime(2026, 1, 1, tzinfo=UTC)

ENGLISH_WARRANT = (
    "SEARCH WARRANT. The Crown Court at Southwark orders the production of all records held in respect of the "
    "account identified below, including identity documents, login addresses and the history of deposits and "
    "withdrawals between 1 January and 30 June 2026, in connection with an investigation into fraud by false "
    "representation contrary to section 2 of the Fraud Act 2006. Signed and sealed by the court."
)
FRENCH_WARRANT = (
    "RÉQUISITION JUDICIAIRE. Le juge d'instruction près le tribunal judiciaire de Paris ordonne la communication "
    "de toutes les informations détenues concernant le compte identifié ci-dessous, y compris les documents "
    "d'identité, les adresses de connexion et l'historique des dépôts et des retraits, dans le cadre d'une "
    "information judiciaire pour escroquerie en bande organisée et blanchiment. Fait à Paris, signé et scellé."
)
FRENCH_WARRANT_TRANSLATION = (
    "CERTIFIED TRANSLATION. JUDICIAL REQUISITION. The investigating judge of the Paris Judicial Court orders the "
    "disclosure of all information held concerning the account identified below, including identity documents, "
    "login addresses and the history of deposits and withdrawals, in the course of a judicial investigation for "
    "organised fraud and money laundering. Done at Paris, signed and sealed."
)
GERMAN_ORDER = (
    "BESCHLUSS. Das Amtsgericht Berlin-Tiergarten ordnet die Herausgabe sämtlicher Unterlagen zu dem unten "
    "bezeichneten Konto an, einschließlich der Ausweisdokumente, der Anmeldeadressen und des Verlaufs der "
    "Einzahlungen und Auszahlungen, im Rahmen eines Ermittlungsverfahrens wegen gewerbsmäßigen Betrugs."
)
ENGLISH_REQUEST = (
    "We are investigating a fraud in which victims were persuaded to send cryptocurrency to the wallet listed "
    "below. We request the identity of the account holder, the login IP addresses and the transaction history "
    "for the period stated, under the attached warrant."
)
FRENCH_REQUEST = (
    "Nous enquêtons sur une escroquerie dans laquelle les victimes ont été persuadées d'envoyer des "
    "cryptomonnaies vers le portefeuille ci-dessous. Nous demandons l'identité du titulaire du compte."
)


def pdf_with_text(text: str) -> bytes:
    """A PDF whose text layer holds `text` (what a word processor or a court's system produces)."""
    from fpdf import FPDF

    pdf = FPDF()
    pdf.set_creation_date(_FIXED_DATE)  # the same text always makes the same bytes
    pdf.add_page()
    pdf.set_font("Helvetica", size=11)
    pdf.multi_cell(0, 6, text.encode("latin-1", errors="replace").decode("latin-1"))
    return bytes(pdf.output())


def scanned_pdf() -> bytes:
    """A PDF made of an image only, as a scanner makes it: no text layer at all."""
    from fpdf import FPDF
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (400, 200), "white")
    ImageDraw.Draw(image).text((20, 80), "SCANNED ORDER", fill="black")
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    buffer.seek(0)
    pdf = FPDF()
    pdf.set_creation_date(_FIXED_DATE)
    pdf.add_page()
    pdf.image(buffer, x=10, y=10, w=180)
    return bytes(pdf.output())


def docx_with_text(text: str) -> bytes:
    import docx

    document = docx.Document()
    document.add_paragraph(text)
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


# A text box as Word 2010+ writes it: the box for new readers (mc:Choice) and again for old ones (mc:Fallback).
_TEXT_BOX = """<w:r xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"
 xmlns:mc="http://schemas.openxmlformats.org/markup-compatibility/2006"
 xmlns:wps="http://schemas.microsoft.com/office/word/2010/wordprocessingShape"
 xmlns:v="urn:schemas-microsoft-com:vml"><mc:AlternateContent>
<mc:Choice Requires="wps"><wps:wsp><wps:txbx><w:txbxContent><w:p><w:r><w:t>{text}</w:t></w:r></w:p></w:txbxContent>
</wps:txbx></wps:wsp></mc:Choice>
<mc:Fallback><w:pict><v:shape><v:textbox><w:txbxContent><w:p><w:r><w:t>{text}</w:t></w:r></w:p></w:txbxContent>
</v:textbox></v:shape></w:pict></mc:Fallback></mc:AlternateContent></w:r>"""


def docx_laid_out(cover: str, *, table: str = "", header: str = "", footer: str = "", text_box: str = "") -> bytes:
    """A DOCX as courts make them: a one-line cover paragraph, the order itself in a table, a text box, a
    header or a footer (python-docx's paragraphs list sees none of these)."""
    from xml.sax.saxutils import escape

    import docx
    from docx.oxml import parse_xml

    document = docx.Document()
    document.add_paragraph(cover)
    if table:
        document.add_table(rows=1, cols=1).cell(0, 0).text = table
    if text_box:
        document.add_paragraph()._p.append(parse_xml(_TEXT_BOX.format(text=escape(text_box))))
    if header:
        document.sections[0].header.paragraphs[0].text = header
    if footer:
        document.sections[0].footer.paragraphs[0].text = footer
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()
