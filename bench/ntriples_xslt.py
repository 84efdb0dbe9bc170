"""An RDF/XML → N-Triples converter inside libxslt: an experiment of issue 18, kept for
``bench/ntriples.py`` (measured slower than pyoxigraph; not used by the pipeline).

The idea: an XSLT step's result is still an lxml tree in memory, so a generic stylesheet, compiled
once, could walk it in C and write the N-Triples text, with no serialization, no reparse and no
Python object per triple. It covers only what it can write exactly as pyoxigraph does (same
triples, order and escapes): ``rdf:RDF`` holding node elements (``rdf:Description`` or typed) with
``rdf:about``; property elements with ``rdf:resource``, literal text (plain, ``xml:lang``,
``rdf:datatype``) or one nested node element; absolute IRIs of a plain ASCII shape (scheme,
host[:port], path, query, fragment, well-formed ``%XX``), checked with XPath 1.0 string functions.
Anything else (``rdf:parseType``, ``rdf:ID``, ``rdf:nodeID``, blank nodes, property attributes,
``xml:base``, ``xml:lang`` outside a property element, relative or non-ASCII IRIs, unusual language
tags, comments) stops the stylesheet (``xsl:message terminate``) and :func:`tree_to_ntriples`
returns ``None``: the caller would then convert through pyoxigraph.

It is exact (same bytes as pyoxigraph on every record ``bench/ntriples.py --check`` tries) but
slow: libxslt evaluates each XPath expression with its own allocations, and ``translate()`` is
quadratic in its arguments, so the IRI checks alone cost ~2 ms a record; without them the walk still
costs more than pyoxigraph's parse and write.
"""

from __future__ import annotations

import string
from typing import Any

from lxml import etree

RDF_NS = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
XSD_STRING = "http://www.w3.org/2001/XMLSchema#string"

_LETTERS = string.ascii_letters
_DIGITS = string.digits
_HEX = "0123456789abcdefABCDEF"
#: ASCII characters an IRI may hold outside ``%XX`` (unreserved, sub-delims, ``:@/?#``); ``[]``
#: (IPv6 hosts) are left to pyoxigraph
_SAFE_OTHER = "ghijklmnopqrstuvwxyzGHIJKLMNOPQRSTUVWXYZ-._~!$&'()*+,;=:@/?#"
_SAFE = _HEX + _SAFE_OTHER + "%"
_HOST = _LETTERS + _DIGITS + "-._~"
#: the characters pyoxigraph escapes in a literal that an lxml tree can hold (the other C0
#: controls cannot be in an XML 1.0 tree: lxml refuses them even from extension functions)
_SPECIAL = '"\\\t\n\r\x7f'


def _lit(text: str) -> str:
    """An XPath 1.0 string literal for ``text`` (which must not hold both quote kinds), escaped for
    an XML attribute (a raw tab or newline there would be normalized to a space)."""
    assert not ("'" in text and '"' in text)
    quoted = f'"{text}"' if "'" in text else f"'{text}'"
    for char, ref in (
        ("&", "&amp;"),
        ("<", "&lt;"),
        (">", "&gt;"),
        ('"', "&quot;"),
        ("\t", "&#9;"),
        ("\n", "&#10;"),
        ("\r", "&#13;"),
        ("\x7f", "&#127;"),
    ):
        quoted = quoted.replace(char, ref)
    return quoted


def _iri_ok(x: str) -> str:
    """XPath 1.0 test: the string expression ``x`` is an absolute IRI of the narrow, plain ASCII
    shape pyoxigraph accepts and writes unchanged (see the module docstring)."""
    scheme = f"substring-before({x}, ':')"
    rest = f"substring-after({x}, ':')"
    authority = f"substring-before(concat(translate(substring({rest}, 3), '?#', '//'), '/'), '/')"
    host = f"substring-before(concat({authority}, ':'), ':')"
    port = f"substring-after({authority}, ':')"
    # every hex digit → h, every other allowed character → x: then ``%`` must be followed by ``hh``
    classes = _lit("h" * len(_HEX) + "x" * len(_SAFE_OTHER))
    marks = f"concat(translate({x}, {_lit(_HEX + _SAFE_OTHER)}, {classes}), 'xx')"
    return (
        f"(string-length({scheme}) > 0"
        f" and contains({_lit(_LETTERS)}, substring({x}, 1, 1))"
        f" and translate({scheme}, {_lit(_LETTERS + _DIGITS + '+-.')}, '') = ''"
        f" and translate({x}, {_lit(_SAFE)}, '') = ''"
        f" and not(contains(substring-after({x}, '#'), '#'))"
        f" and (not(contains({x}, '%')) or not(contains({marks}, '%x') or contains({marks}, '%%')"
        f" or contains({marks}, '%hx') or contains({marks}, '%h%')))"
        f" and (not(starts-with({rest}, '//')) or (string-length({host}) > 0"
        f" and translate({host}, {_lit(_HOST)}, '') = '' and translate({port}, '0123456789', '') = '')))"
    )


def _lang_ok(x: str) -> str:
    """XPath 1.0 test: a language tag of the shapes ``ab``, ``abc``, ``ab-CD``, ``abc-CD`` (any
    case; pyoxigraph lower-cases them): the ones mappings copy from records."""
    letters = f"translate({x}, {_lit(_LETTERS)}, '')"
    length = f"string-length({x})"
    return (
        f"(({length} = 2 or {length} = 3) and {letters} = ''"
        f" or ({length} = 5 or {length} = 6) and substring({x}, {length} - 2, 1) = '-'"
        f" and translate({x}, {_lit(_LETTERS)}, '') = '-')"
    )


def _stylesheet(checks: bool = True) -> bytes:
    """The converter; ``checks=False`` leaves out the IRI checks (a lower bound of its cost, not exact)."""
    iri = _iri_ok if checks else (lambda _x: "true()")
    lower = f"translate(@xml:lang, {_lit(string.ascii_uppercase)}, {_lit(string.ascii_lowercase)})"
    text = f"""<xsl:stylesheet version="1.0" xmlns:xsl="http://www.w3.org/1999/XSL/Transform"
    xmlns:rdf="{RDF_NS}" xmlns:str="http://exslt.org/strings" exclude-result-prefixes="rdf str">
  <xsl:output method="text" encoding="UTF-8"/>
  <xsl:template match="/">
    <xsl:if test="not(rdf:RDF) or rdf:RDF/@* or rdf:RDF/text()[normalize-space()]
        or //comment() or //processing-instruction()">
      <xsl:message terminate="yes">outside</xsl:message>
    </xsl:if>
    <xsl:apply-templates select="rdf:RDF/*"/>
  </xsl:template>

  <!-- a node element: its type, then its properties in document order -->
  <xsl:template match="*">
    <xsl:variable name="s" select="concat('&lt;', @rdf:about, '&gt; ')"/>
    <xsl:if test="count(@*) != 1 or not(@rdf:about) or text()[normalize-space()]
        or not({iri("string(@rdf:about)")})
        or namespace-uri() = '{RDF_NS}' and local-name() != 'Description'">
      <xsl:message terminate="yes">outside</xsl:message>
    </xsl:if>
    <xsl:if test="not(self::rdf:Description)">
      <xsl:if test="not({iri("concat(namespace-uri(), local-name())")})">
        <xsl:message terminate="yes">outside</xsl:message>
      </xsl:if>
      <xsl:value-of
          select="concat($s, '&lt;{RDF_NS}type&gt; &lt;', namespace-uri(), local-name(), '&gt; .&#10;')"/>
    </xsl:if>
    <xsl:for-each select="*">
      <xsl:variable name="p" select="concat($s, '&lt;', namespace-uri(), local-name(), '&gt; ')"/>
      <xsl:if test="not({iri("concat(namespace-uri(), local-name())")})
          or namespace-uri() = '{RDF_NS}' and local-name() != 'type' and local-name() != 'value'
          or count(@*) > 1 or comment() or processing-instruction()">
        <xsl:message terminate="yes">outside</xsl:message>
      </xsl:if>
      <xsl:choose>
        <xsl:when test="@rdf:resource">
          <xsl:if test="* or text()[normalize-space()] or not({iri("string(@rdf:resource)")})">
            <xsl:message terminate="yes">outside</xsl:message>
          </xsl:if>
          <xsl:value-of select="concat($p, '&lt;', @rdf:resource, '&gt; .&#10;')"/>
        </xsl:when>
        <xsl:when test="*">
          <xsl:if test="@* or count(*) != 1 or text()[normalize-space()] or not(*/@rdf:about)">
            <xsl:message terminate="yes">outside</xsl:message>
          </xsl:if>
          <xsl:apply-templates select="*"/>
          <xsl:value-of select="concat($p, '&lt;', */@rdf:about, '&gt; .&#10;')"/>
        </xsl:when>
        <xsl:otherwise>
          <xsl:value-of select="$p"/>
          <xsl:text>"</xsl:text>
          <xsl:choose>
            <xsl:when test="translate(., {_lit(_SPECIAL)}, '') = string(.)">
              <xsl:value-of select="."/>
            </xsl:when>
            <xsl:otherwise>
              <xsl:value-of select="str:replace(str:replace(str:replace(str:replace(str:replace(
                  str:replace(string(.), '\\', '\\\\'), '&quot;', '\\&quot;'), '&#10;', '\\n'),
                  '&#13;', '\\r'), '&#9;', '\\t'), '&#127;', '\\u007F')"/>
            </xsl:otherwise>
          </xsl:choose>
          <xsl:choose>
            <xsl:when test="not(@*)"><xsl:text>" .&#10;</xsl:text></xsl:when>
            <xsl:when test="@xml:lang">
              <xsl:if test="not({_lang_ok("string(@xml:lang)")})">
                <xsl:message terminate="yes">outside</xsl:message>
              </xsl:if>
              <xsl:value-of select="concat('&quot;@', {lower}, ' .&#10;')"/>
            </xsl:when>
            <xsl:when test="@rdf:datatype = '{XSD_STRING}'"><xsl:text>" .&#10;</xsl:text></xsl:when>
            <xsl:when test="@rdf:datatype">
              <xsl:if test="not({iri("string(@rdf:datatype)")}) or starts-with(@rdf:datatype, '{RDF_NS}')">
                <xsl:message terminate="yes">outside</xsl:message>
              </xsl:if>
              <xsl:value-of select="concat('&quot;^^&lt;', @rdf:datatype, '&gt; .&#10;')"/>
            </xsl:when>
            <xsl:otherwise><xsl:message terminate="yes">outside</xsl:message></xsl:otherwise>
          </xsl:choose>
        </xsl:otherwise>
      </xsl:choose>
    </xsl:for-each>
  </xsl:template>
</xsl:stylesheet>
"""
    return text.encode("utf-8")


CONVERTER = etree.XSLT(etree.XML(_stylesheet()))
UNCHECKED = etree.XSLT(etree.XML(_stylesheet(checks=False)))


def tree_to_ntriples(tree: Any, converter: etree.XSLT = CONVERTER) -> bytes | None:
    """The N-Triples pyoxigraph would write for this RDF/XML tree, or ``None`` when the tree is
    outside the subset converted here (the caller would then go through pyoxigraph)."""
    try:
        return bytes(converter(tree))
    except etree.XSLTApplyError:
        return None
