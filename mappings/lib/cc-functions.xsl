<?xml version="1.0" encoding="UTF-8"?>
<!--
  contentcloud helper functions for XSLT 2.0/3.0 mappings run by Saxon (saxonche).

  Import it from a mapping in this directory tree:
      <xsl:import href="lib/cc-functions.xsl"/>          (from mappings/)
  and call, in the namespace urn:contentcloud:functions (prefix cc):

      cc:vocab($name, $value)            canonical term of $value in vocabulary $name, or ''
      cc:vocab($name, $value, $default)  … or $default when $value is not in the vocabulary
      cc:vocab-label($name, $term)       display label of a canonical term, or ''
      cc:date($value)                    ISO 8601 date or interval (1850/1860), or ''
      cc:date-start($value)              first xsd:date the value may mean, or ''
      cc:date-end($value)                last xsd:date the value may mean, or ''
      cc:year($value)                    first year (YYYY), or ''

  XSLT 1.0 mappings (run by lxml) get the same functions as Python extension functions without
  importing anything. SaxonC-HE cannot call Python, so this file re-implements them in XPath:
  the date grammar mirrors transforms/dates.py pattern by pattern (a test compares both), and the
  vocabularies arrive as one document in the parameter cc:vocabularies, built by the xslt step
  from mappings/vocabularies/ once per run.
-->
<xsl:stylesheet version="3.0"
    xmlns:xsl="http://www.w3.org/1999/XSL/Transform"
    xmlns:xs="http://www.w3.org/2001/XMLSchema"
    xmlns:fn="http://www.w3.org/2005/xpath-functions"
    xmlns:cc="urn:contentcloud:functions"
    exclude-result-prefixes="xs fn cc">

  <!-- <cc:vocabularies><cc:vocabulary name="…"><cc:entry key="…" term="…"/>…
       <cc:term term="…" label="…"/>…</cc:vocabulary>…</cc:vocabularies>; keys are normalised -->
  <xsl:param name="cc:vocabularies" as="document-node()?" select="()"/>

  <xsl:key name="cc:vocab-entry" match="cc:entry" use="concat(../@name, '|', @key)"/>
  <xsl:key name="cc:vocab-term" match="cc:term" use="concat(../@name, '|', @term)"/>

  <!-- ============================== vocabularies ============================== -->

  <xsl:function name="cc:key" as="xs:string">
    <xsl:param name="value" as="xs:string?"/>
    <xsl:sequence select="lower-case(normalize-space($value))"/>
  </xsl:function>

  <xsl:function name="cc:vocabulary" as="element(cc:vocabulary)">
    <xsl:param name="name" as="xs:string"/>
    <xsl:variable name="found" select="$cc:vocabularies/cc:vocabularies/cc:vocabulary[@name = $name]"/>
    <xsl:if test="empty($found)">
      <xsl:sequence select="error(QName('urn:contentcloud:functions', 'cc:unknown-vocabulary'),
          concat('unknown vocabulary ''', $name, '''; known: ',
                 string-join($cc:vocabularies/cc:vocabularies/cc:vocabulary/@name, ', ')))"/>
    </xsl:if>
    <xsl:sequence select="$found"/>
  </xsl:function>

  <xsl:function name="cc:vocab" as="xs:string">
    <xsl:param name="name" as="xs:string"/>
    <xsl:param name="value" as="xs:string?"/>
    <xsl:sequence select="cc:vocab($name, $value, '')"/>
  </xsl:function>

  <xsl:function name="cc:vocab" as="xs:string">
    <xsl:param name="name" as="xs:string"/>
    <xsl:param name="value" as="xs:string?"/>
    <xsl:param name="default" as="xs:string?"/>
    <xsl:variable name="vocabulary" select="cc:vocabulary($name)"/>
    <xsl:variable name="entry" select="key('cc:vocab-entry', concat($name, '|', cc:key($value)), root($vocabulary))"/>
    <xsl:sequence select="if (exists($entry)) then string($entry[1]/@term) else string($default)"/>
  </xsl:function>

  <xsl:function name="cc:vocab-label" as="xs:string">
    <xsl:param name="name" as="xs:string"/>
    <xsl:param name="term" as="xs:string?"/>
    <xsl:variable name="vocabulary" select="cc:vocabulary($name)"/>
    <xsl:sequence select="string(key('cc:vocab-term', concat($name, '|', $term), root($vocabulary))[1]/@label)"/>
  </xsl:function>

  <!-- ================================= dates ================================== -->

  <xsl:variable name="cc:MONTH" as="xs:string"
      select="'(jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|sept?(?:ember)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)\.?'"/>
  <xsl:variable name="cc:TIME" as="xs:string"
      select="'(?:[t ][0-9]{2}:[0-9]{2}(?::[0-9]{2}(?:\.[0-9]+)?)?(?:z|[+-][0-9]{2}:?[0-9]{2})?)?'"/>

  <!-- the single-date shapes of transforms/dates.py (_SINGLE), in the same order -->
  <xsl:variable name="cc:SINGLE" as="xs:string+" select="(
      concat('^([0-9]{4})-([0-9]{2})-([0-9]{2})', $cc:TIME, '$'),
      '^([0-9]{4})-([0-9]{2})$',
      '^([0-9]{4})$',
      '^([0-9]{4})([0-9]{2})([0-9]{2})$',
      '^([0-9]{4})[/.]([0-9]{1,2})[/.]([0-9]{1,2})$',
      '^([0-9]{1,2})[/.-]([0-9]{1,2})[/.-]([0-9]{4})$',
      concat('^([0-9]{1,2})(?:st|nd|rd|th)?\.? ', $cc:MONTH, ',? ([0-9]{4})$'),
      concat('^', $cc:MONTH, ' ([0-9]{1,2})(?:st|nd|rd|th)?,? ([0-9]{4})$'),
      concat('^', $cc:MONTH, ',? ([0-9]{4})$'))"/>

  <xsl:function name="cc:date" as="xs:string">
    <xsl:param name="value" as="xs:string?"/>
    <xsl:variable name="range" select="cc:date-range($value)"/>
    <xsl:sequence select="if (empty($range)) then ''
                          else if ($range[1] eq $range[2]) then $range[1]
                          else concat($range[1], '/', $range[2])"/>
  </xsl:function>

  <xsl:function name="cc:date-start" as="xs:string">
    <xsl:param name="value" as="xs:string?"/>
    <xsl:variable name="range" select="cc:date-range($value)"/>
    <xsl:sequence select="if (empty($range)) then '' else string(cc:first-day($range[1]))"/>
  </xsl:function>

  <xsl:function name="cc:date-end" as="xs:string">
    <xsl:param name="value" as="xs:string?"/>
    <xsl:variable name="range" select="cc:date-range($value)"/>
    <xsl:sequence select="if (empty($range)) then '' else string(cc:last-day($range[2]))"/>
  </xsl:function>

  <xsl:function name="cc:year" as="xs:string">
    <xsl:param name="value" as="xs:string?"/>
    <xsl:variable name="range" select="cc:date-range($value)"/>
    <xsl:sequence select="if (empty($range)) then '' else substring($range[1], 1, 4)"/>
  </xsl:function>

  <!-- (start, end) as ISO strings, or () when the value is not a date (dates.parse_date) -->
  <xsl:function name="cc:date-range" as="xs:string*">
    <xsl:param name="text" as="xs:string?"/>
    <xsl:variable name="value" select="cc:strip-qualifiers(lower-case(normalize-space($text)))"/>
    <xsl:if test="$value ne ''">
      <xsl:variable name="single" select="cc:single-date($value)"/>
      <xsl:sequence select="if (exists($single)) then ($single, $single) else cc:range($value)"/>
    </xsl:if>
  </xsl:function>

  <xsl:function name="cc:strip-qualifiers" as="xs:string">
    <xsl:param name="text" as="xs:string"/>
    <xsl:variable name="unbracketed" select="
        if (matches($text, '^\[(.*)\]$')) then cc:trim(replace($text, '^\[(.*)\]$', '$1'))
        else if (matches($text, '^\((.*)\)$')) then cc:trim(replace($text, '^\((.*)\)$', '$1'))
        else $text"/>
    <xsl:variable name="unqualified" select="replace($unbracketed, '^(?:ca\.?|c\.|circa|approx\.?|about)[ ]*', '')"/>
    <xsl:sequence select="if (ends-with($unqualified, '?'))
                          then cc:trim(substring($unqualified, 1, string-length($unqualified) - 1))
                          else $unqualified"/>
  </xsl:function>

  <!-- Python's str.strip(" "): only spaces, which is all normalize-space leaves -->
  <xsl:function name="cc:trim" as="xs:string">
    <xsl:param name="text" as="xs:string"/>
    <xsl:sequence select="replace(replace($text, '^ +', ''), ' +$', '')"/>
  </xsl:function>

  <xsl:function name="cc:range" as="xs:string*">
    <xsl:param name="value" as="xs:string"/>
    <xsl:choose>
      <xsl:when test="matches($value, '^([0-9]{3})0s$')">
        <xsl:variable name="decade" select="replace($value, '^([0-9]{3})0s$', '$1')"/>
        <xsl:sequence select="if ($decade eq '000') then () else (concat($decade, '0'), concat($decade, '9'))"/>
      </xsl:when>
      <xsl:otherwise>
        <xsl:variable name="groups" select="cc:first-match($value, (
            '^([0-9]{4})-([0-9]{4})$',
            '^between (.+) and (.+)$',
            '^(.+?) ?(?:–|—| - | to ) ?(.+)$',
            '^([^/]+)/([^/]+)$'))"/>
        <xsl:if test="exists($groups)">
          <xsl:variable name="start" select="cc:single-date(cc:trim($groups[1]))"/>
          <xsl:variable name="end" select="cc:single-date(cc:trim($groups[2]))"/>
          <xsl:if test="exists($start) and exists($end) and cc:first-day($start) le cc:last-day($end)">
            <xsl:sequence select="($start, $end)"/>
          </xsl:if>
        </xsl:if>
      </xsl:otherwise>
    </xsl:choose>
  </xsl:function>

  <!-- groups 1 and 2 of the first pattern that matches the whole value, or () -->
  <xsl:function name="cc:first-match" as="xs:string*">
    <xsl:param name="value" as="xs:string"/>
    <xsl:param name="patterns" as="xs:string*"/>
    <xsl:if test="exists($patterns)">
      <xsl:variable name="match" select="analyze-string($value, $patterns[1])/fn:match"/>
      <xsl:sequence select="if (exists($match))
                            then (string(($match//fn:group[@nr = 1])[1]), string(($match//fn:group[@nr = 2])[1]))
                            else cc:first-match($value, subsequence($patterns, 2))"/>
    </xsl:if>
  </xsl:function>

  <xsl:function name="cc:single-date" as="xs:string?">
    <xsl:param name="value" as="xs:string"/>
    <xsl:sequence select="cc:try-single($value, 1)"/>
  </xsl:function>

  <xsl:function name="cc:try-single" as="xs:string?">
    <xsl:param name="value" as="xs:string"/>
    <xsl:param name="index" as="xs:integer"/>
    <xsl:if test="$index le count($cc:SINGLE)">
      <xsl:variable name="match" select="analyze-string($value, $cc:SINGLE[$index])/fn:match"/>
      <xsl:choose>
        <xsl:when test="exists($match)">
          <xsl:sequence select="cc:build-single($index,
              for $n in 1 to 3 return string(($match//fn:group[@nr = $n])[1]))"/>
        </xsl:when>
        <xsl:otherwise>
          <xsl:sequence select="cc:try-single($value, $index + 1)"/>
        </xsl:otherwise>
      </xsl:choose>
    </xsl:if>
  </xsl:function>

  <xsl:function name="cc:build-single" as="xs:string?">
    <xsl:param name="index" as="xs:integer"/>
    <xsl:param name="g" as="xs:string*"/>
    <xsl:sequence select="
        if ($index = (1, 4, 5)) then cc:ymd($g[1], $g[2], $g[3])
        else if ($index eq 2) then cc:ym($g[1], $g[2])
        else if ($index eq 3) then (if (xs:integer($g[1]) ge 1) then $g[1] else ())
        else if ($index eq 6) then cc:ymd($g[3], $g[2], $g[1])
        else if ($index eq 7) then cc:ymd($g[3], cc:month-number($g[2]), $g[1])
        else if ($index eq 8) then cc:ymd($g[3], cc:month-number($g[1]), $g[2])
        else cc:ym($g[2], cc:month-number($g[1]))"/>
  </xsl:function>

  <xsl:function name="cc:month-number" as="xs:string">
    <xsl:param name="name" as="xs:string"/>
    <xsl:sequence select="string(index-of(('jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct',
                                           'nov', 'dec'), substring($name, 1, 3)))"/>
  </xsl:function>

  <xsl:function name="cc:ymd" as="xs:string?">
    <xsl:param name="year" as="xs:string"/>
    <xsl:param name="month" as="xs:string"/>
    <xsl:param name="day" as="xs:string"/>
    <xsl:variable name="iso" select="concat($year, '-', format-integer(xs:integer($month), '00'), '-',
                                            format-integer(xs:integer($day), '00'))"/>
    <xsl:sequence select="if (xs:integer($year) ge 1 and $iso castable as xs:date) then $iso else ()"/>
  </xsl:function>

  <xsl:function name="cc:ym" as="xs:string?">
    <xsl:param name="year" as="xs:string"/>
    <xsl:param name="month" as="xs:string"/>
    <xsl:sequence select="if (xs:integer($year) ge 1 and xs:integer($month) ge 1 and xs:integer($month) le 12)
                          then concat($year, '-', format-integer(xs:integer($month), '00')) else ()"/>
  </xsl:function>

  <xsl:function name="cc:first-day" as="xs:date">
    <xsl:param name="iso" as="xs:string"/>
    <xsl:variable name="parts" select="tokenize($iso, '-')"/>
    <xsl:sequence select="xs:date(concat($parts[1], '-', ($parts[2], '01')[1], '-', ($parts[3], '01')[1]))"/>
  </xsl:function>

  <xsl:function name="cc:last-day" as="xs:date">
    <xsl:param name="iso" as="xs:string"/>
    <xsl:variable name="parts" select="tokenize($iso, '-')"/>
    <xsl:sequence select="
        if (count($parts) eq 3) then xs:date($iso)
        else if (count($parts) eq 2)
        then xs:date(concat($iso, '-01')) + xs:yearMonthDuration('P1M') - xs:dayTimeDuration('P1D')
        else xs:date(concat($iso, '-12-31'))"/>
  </xsl:function>
</xsl:stylesheet>
