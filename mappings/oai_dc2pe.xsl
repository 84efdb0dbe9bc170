<?xml version="1.0" encoding="UTF-8"?>
<!--
  oai_dc → PARTHENOS Entities (CRMpe on CIDOC-CRM), as flat RDF/XML with typed node elements (compact: one element per resource). XSLT 1.0 (lxml): the fast
  path of the pipeline and the stylesheet of bench/transform.py.

  Shape of the graph (the same as mappings/oai_dc2pe.x3ml, and what pe2oai_dc.xsl reads back):

    <dataset> a crmpe:PE22_Persistent_Dataset ; rdfs:label "first title"
      crm:P1_is_identified_by   <…/title/n>       a crm:E41_Appellation ; rdfs:label "title"
      crm:P1_is_identified_by   <…/identifier/n>  a crm:E42_Identifier  ; rdfs:label "identifier"
      crmpe:PP50_accessible_at  <http(s) identifier> a crmpe:PE29_Access_Point
      crm:P94i_was_created_by   <…/creation>      a crm:E65_Creation
          crm:P14_carried_out_by <actor/…>        a crm:E39_Actor ; rdfs:label "creator"
          crm:P4_has_time-span   <…/date/n>       a crm:E52_Time-Span ; rdfs:label "date as given"
              crm:P82a_begin_of_the_begin / crm:P82b_end_of_the_end  xsd:date (when cc:date reads it)
      crm:P129_is_about         <concept/…>       a crm:E55_Type ; rdfs:label "subject"
      crm:P2_has_type           <type/…>          a crm:E55_Type ; rdfs:label "type (vocabulary resource_types)"
      crm:P3_has_note           "description"
      crm:P72_has_language      <language/code>   a crm:E56_Language ; rdfs:label (vocabulary languages)
      crm:P104_is_subject_to    <right/…>         a crm:E30_Right ; rdfs:label (vocabulary access_rights)

  The dataset IRI is built from the record id (nsprefix::md5), so re-runs give the same IRIs;
  shared entities (actors, concepts, types, languages, rights) get IRIs from their label.
  The record may come wrapped (OAI <record>, GetRecord response): the first oai_dc:dc is mapped.
-->
<xsl:stylesheet version="1.0"
    xmlns:xsl="http://www.w3.org/1999/XSL/Transform"
    xmlns:oai_dc="http://www.openarchives.org/OAI/2.0/oai_dc/"
    xmlns:dc="http://purl.org/dc/elements/1.1/"
    xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"
    xmlns:rdfs="http://www.w3.org/2000/01/rdf-schema#"
    xmlns:crm="http://www.cidoc-crm.org/cidoc-crm/"
    xmlns:crmpe="http://parthenos.d4science.org/CRMext/CRMpe.rdfs/"
    xmlns:str="http://exslt.org/strings"
    xmlns:cc="urn:contentcloud:functions"
    exclude-result-prefixes="oai_dc dc str cc">

  <xsl:output method="xml" encoding="UTF-8" indent="no"/>

  <xsl:param name="recordId" select="''"/>
  <xsl:param name="datasource" select="'local'"/>
  <xsl:param name="base" select="'https://contentcloud.example/pe/'"/>

  <xsl:variable name="XSD_DATE" select="'http://www.w3.org/2001/XMLSchema#date'"/>

  <xsl:template match="/">
    <xsl:variable name="dc" select="(//oai_dc:dc)[1]"/>
    <xsl:if test="not($dc)">
      <xsl:message terminate="yes">no oai_dc:dc element in the record</xsl:message>
    </xsl:if>
    <rdf:RDF>
      <xsl:apply-templates select="$dc"/>
    </rdf:RDF>
  </xsl:template>

  <xsl:template match="oai_dc:dc">
    <xsl:variable name="key">
      <xsl:choose>
        <xsl:when test="contains($recordId, '::')"><xsl:value-of select="substring-after($recordId, '::')"/></xsl:when>
        <xsl:when test="$recordId != ''"><xsl:value-of select="str:encode-uri($recordId, true())"/></xsl:when>
        <xsl:otherwise><xsl:value-of select="str:encode-uri(normalize-space(dc:identifier[1]), true())"/></xsl:otherwise>
      </xsl:choose>
    </xsl:variable>
    <xsl:variable name="dataset" select="concat($base, $datasource, '/dataset/', $key)"/>
    <xsl:variable name="titles" select="dc:title[normalize-space()]"/>
    <xsl:variable name="creators" select="dc:creator[normalize-space()]"/>
    <xsl:variable name="dates" select="dc:date[normalize-space()]"/>

    <crmpe:PE22_Persistent_Dataset rdf:about="{$dataset}">
      <xsl:if test="$titles">
        <rdfs:label><xsl:value-of select="normalize-space($titles[1])"/></rdfs:label>
      </xsl:if>
      <xsl:for-each select="$titles">
        <crm:P1_is_identified_by rdf:resource="{$dataset}/title/{position()}"/>
      </xsl:for-each>
      <xsl:for-each select="dc:identifier[normalize-space()]">
        <crm:P1_is_identified_by rdf:resource="{$dataset}/identifier/{position()}"/>
        <xsl:if test="(starts-with(normalize-space(), 'http://') or starts-with(normalize-space(), 'https://')) and not(contains(normalize-space(), ' '))">
          <crmpe:PP50_accessible_at rdf:resource="{normalize-space()}"/>
        </xsl:if>
      </xsl:for-each>
      <xsl:if test="$creators or $dates">
        <crm:P94i_was_created_by rdf:resource="{$dataset}/creation"/>
      </xsl:if>
      <xsl:for-each select="dc:subject[normalize-space()]">
        <crm:P129_is_about rdf:resource="{$base}concept/{str:encode-uri(normalize-space(), true())}"/>
      </xsl:for-each>
      <xsl:for-each select="dc:type[normalize-space()]">
        <crm:P2_has_type rdf:resource="{$base}type/{str:encode-uri(cc:vocab('resource_types', ., normalize-space()), true())}"/>
      </xsl:for-each>
      <xsl:for-each select="dc:description[normalize-space()]">
        <crm:P3_has_note><xsl:copy-of select="@xml:lang"/><xsl:value-of select="normalize-space()"/></crm:P3_has_note>
      </xsl:for-each>
      <xsl:for-each select="dc:language[normalize-space()]">
        <crm:P72_has_language rdf:resource="{$base}language/{str:encode-uri(cc:vocab('languages', ., normalize-space()), true())}"/>
      </xsl:for-each>
      <xsl:for-each select="dc:rights[normalize-space()]">
        <crm:P104_is_subject_to rdf:resource="{$base}right/{str:encode-uri(cc:vocab('access_rights', ., normalize-space()), true())}"/>
      </xsl:for-each>
    </crmpe:PE22_Persistent_Dataset>

    <xsl:for-each select="$titles">
      <crm:E41_Appellation rdf:about="{$dataset}/title/{position()}">
        <rdfs:label><xsl:copy-of select="@xml:lang"/><xsl:value-of select="normalize-space()"/></rdfs:label>
      </crm:E41_Appellation>
    </xsl:for-each>

    <xsl:for-each select="dc:identifier[normalize-space()]">
      <crm:E42_Identifier rdf:about="{$dataset}/identifier/{position()}">
        <rdfs:label><xsl:value-of select="normalize-space()"/></rdfs:label>
      </crm:E42_Identifier>
      <xsl:if test="(starts-with(normalize-space(), 'http://') or starts-with(normalize-space(), 'https://')) and not(contains(normalize-space(), ' '))">
        <crmpe:PE29_Access_Point rdf:about="{normalize-space()}"/>
      </xsl:if>
    </xsl:for-each>

    <xsl:if test="$creators or $dates">
      <crm:E65_Creation rdf:about="{$dataset}/creation">
        <xsl:for-each select="$creators">
          <crm:P14_carried_out_by rdf:resource="{$base}actor/{str:encode-uri(normalize-space(), true())}"/>
        </xsl:for-each>
        <xsl:for-each select="$dates">
          <crm:P4_has_time-span rdf:resource="{$dataset}/date/{position()}"/>
        </xsl:for-each>
      </crm:E65_Creation>
    </xsl:if>

    <xsl:for-each select="$creators">
      <crm:E39_Actor rdf:about="{$base}actor/{str:encode-uri(normalize-space(), true())}">
        <rdfs:label><xsl:value-of select="normalize-space()"/></rdfs:label>
      </crm:E39_Actor>
    </xsl:for-each>

    <xsl:for-each select="$dates">
      <crm:E52_Time-Span rdf:about="{$dataset}/date/{position()}">
        <rdfs:label><xsl:value-of select="normalize-space()"/></rdfs:label>
        <xsl:variable name="start" select="cc:date-start(.)"/>
        <xsl:if test="$start != ''">
          <crm:P82a_begin_of_the_begin rdf:datatype="{$XSD_DATE}"><xsl:value-of select="$start"/></crm:P82a_begin_of_the_begin>
          <crm:P82b_end_of_the_end rdf:datatype="{$XSD_DATE}"><xsl:value-of select="cc:date-end(.)"/></crm:P82b_end_of_the_end>
        </xsl:if>
      </crm:E52_Time-Span>
    </xsl:for-each>

    <xsl:for-each select="dc:subject[normalize-space()]">
      <crm:E55_Type rdf:about="{$base}concept/{str:encode-uri(normalize-space(), true())}">
        <rdfs:label><xsl:value-of select="normalize-space()"/></rdfs:label>
      </crm:E55_Type>
    </xsl:for-each>

    <xsl:for-each select="dc:type[normalize-space()]">
      <xsl:variable name="type" select="cc:vocab('resource_types', ., normalize-space())"/>
      <crm:E55_Type rdf:about="{$base}type/{str:encode-uri($type, true())}">
        <rdfs:label><xsl:value-of select="$type"/></rdfs:label>
      </crm:E55_Type>
    </xsl:for-each>

    <xsl:for-each select="dc:language[normalize-space()]">
      <xsl:variable name="code" select="cc:vocab('languages', ., normalize-space())"/>
      <xsl:variable name="label" select="cc:vocab-label('languages', $code)"/>
      <crm:E56_Language rdf:about="{$base}language/{str:encode-uri($code, true())}">
        <rdfs:label><xsl:value-of select="$code"/></rdfs:label>
        <xsl:if test="$label != ''"><crm:P3_has_note><xsl:value-of select="$label"/></crm:P3_has_note></xsl:if>
      </crm:E56_Language>
    </xsl:for-each>

    <xsl:for-each select="dc:rights[normalize-space()]">
      <xsl:variable name="right" select="cc:vocab('access_rights', ., normalize-space())"/>
      <crm:E30_Right rdf:about="{$base}right/{str:encode-uri($right, true())}">
        <rdfs:label><xsl:value-of select="$right"/></rdfs:label>
      </crm:E30_Right>
    </xsl:for-each>
  </xsl:template>
</xsl:stylesheet>
