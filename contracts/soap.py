"""SOAP 1.1 envelope handling for ALA 2.30 (Document/Literal), with a parser safe against hostile XML.

Profile rules 3, 9, 12: one body element; a DTD or an entity declaration is refused, never expanded.
"""

from __future__ import annotations

from dataclasses import dataclass

from lxml import etree

SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
XML_CONTENT_TYPES = ("text/xml", "application/xml")
MAX_BODY = 1024 * 1024  # profile rule 12


class EnvelopeError(ValueError):
    """The bytes are not an acceptable SOAP 1.1 envelope; the message says why."""


@dataclass(frozen=True)
class Envelope:
    root: etree._Element
    body: etree._Element
    payload: list[etree._Element]  # element children of soapenv:Body


def safe_parser() -> etree.XMLParser:
    return etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False,
                           dtd_validation=False, remove_pis=True)


def parse_xml(data: bytes, *, allow_dtd: bool = False, limit: int | None = MAX_BODY) -> etree._Element:
    """Parse untrusted XML: refuse DTDs and entity declarations; never fetch or expand anything.
    (`allow_dtd` exists only for the sandbox's `ala-accepts-dtd` defect; entities stay unexpanded.)"""
    if limit is not None and len(data) > limit:
        raise EnvelopeError(f"body of {len(data)} bytes is over the 1 MiB limit")
    try:
        tree = etree.fromstring(data, safe_parser()).getroottree()
    except etree.XMLSyntaxError as exc:
        raise EnvelopeError(f"XML is not well-formed: {exc.msg}") from None
    info = tree.docinfo
    if not allow_dtd and (info.doctype or info.internalDTD is not None or info.externalDTD is not None):
        raise EnvelopeError("a document type declaration (DTD) is not allowed")
    return tree.getroot()


def element_text(data: bytes, local: str, *, limit: int | None = MAX_BODY) -> str | None:
    """Text of the first element named `local` (any namespace) in an XML document, or None (also when
    the document cannot be parsed safely)."""
    try:
        root = parse_xml(data, limit=limit)
    except EnvelopeError:
        return None
    for el in root.iter():
        if isinstance(el.tag, str) and etree.QName(el).localname == local:
            return el.text or ""
    return None


def parse_envelope(data: bytes, *, allow_dtd: bool = False, limit: int | None = MAX_BODY) -> Envelope:
    root = parse_xml(data, allow_dtd=allow_dtd, limit=limit)
    if root.tag != f"{{{SOAP_ENV}}}Envelope":
        raise EnvelopeError(f"root element is {_name(root)}, not a SOAP 1.1 Envelope ({SOAP_ENV})")
    children = [c for c in root if isinstance(c.tag, str)]
    bodies = [c for c in children if c.tag == f"{{{SOAP_ENV}}}Body"]
    if len(bodies) != 1:
        raise EnvelopeError(f"the Envelope holds {len(bodies)} Body elements, not 1")
    allowed = {f"{{{SOAP_ENV}}}Header", f"{{{SOAP_ENV}}}Body"}
    stray = [c for c in children if c.tag not in allowed]
    if stray:
        raise EnvelopeError(f"unexpected {_name(stray[0])} in the Envelope")
    body = bodies[0]
    payload = [c for c in body if isinstance(c.tag, str)]
    if body.text and body.text.strip() or any(c.tail and c.tail.strip() for c in body):
        raise EnvelopeError("the Body holds text outside its element")
    return Envelope(root=root, body=body, payload=payload)


def single_payload(env: Envelope) -> etree._Element:
    if len(env.payload) != 1:
        raise EnvelopeError(f"the Body holds {len(env.payload)} elements, not 1")
    return env.payload[0]


def build_envelope(payload: etree._Element | None) -> bytes:
    env = etree.Element(f"{{{SOAP_ENV}}}Envelope", nsmap={"soapenv": SOAP_ENV})
    body = etree.SubElement(env, f"{{{SOAP_ENV}}}Body")
    if payload is not None:
        body.append(payload)
    return etree.tostring(env, xml_declaration=True, encoding="utf-8")


def _name(el: etree._Element) -> str:
    q = etree.QName(el)
    return f"{{{q.namespace}}}{q.localname}" if q.namespace else q.localname


def local_name(el: etree._Element) -> tuple[str | None, str]:
    q = etree.QName(el)
    return q.namespace, q.localname


def is_xml_content_type(value: str | None) -> bool:
    if not value:
        return False
    return value.split(";", 1)[0].strip().lower() in XML_CONTENT_TYPES
