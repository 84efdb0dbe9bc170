<?xml version="1.0" encoding="UTF-8"?>
<!--
  PARTHENOS Entities (RDF/XML) → oai_dc, for the OAI-PMH publisher. XSLT 1.0.

  Reads the graph shape written by oai_dc2pe.xsl, oai_dc2pe.x3ml and cmdi2pe.x3ml (see
  oai_dc2pe.xsl), in any RDF/XML layout serializers produce: flat rdf:Description elements
  with rdf:type properties (pyoxigraph, rdflib "xml"), typed node elements, nested node
  elements (rdflib "pretty-xml"), rdf:resource and rdf:nodeID references, several descriptions
  of one resource. The main resource is the first one typed PE22_Persistent_Dataset (else
  PE24_Volatile_Dataset, PE18_Dataset or D1_Digital_Object); when a PE22 is a metadata record that
  PP39_is_metadata_for a PE24/PE18 dataset (PARTHENOS' own CMDI mappings), that dataset.

    dc:title        P1_is_identified_by → E41_Appellation / E35_Title label (else the rdfs:label)
    dc:identifier   P1_is_identified_by → E42_Identifier label
    dc:creator      P94i_was_created_by → E65_Creation → P14_carried_out_by → label
    dc:date         P94i_was_created_by → E65_Creation → P4_has_time-span → label
    dc:subject      P129_is_about → label          dc:type      P2_has_type → label
    dc:description  P3_has_note                    dc:language  P72_has_language → label
    dc:rights       P104_is_subject_to → label
-->
<xsl:stylesheet version="1.0"
    xmlns:xsl="http://www.w3.org/1999/XSL/Transform"
    xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"
    xmlns:rdfs="http://www.w3.org/2000/01/rdf-schema#"
    xmlns:crm="http://www.cidoc-crm.org/cidoc-crm/"
    xmlns:crmpe="http://parthenos.d4science.org/CRMext/CRMpe.rdfs/"
    xmlns:oai_dc="http://www.openarchives.org/OAI/2.0/oai_dc/"
    xmlns:dc="http://purl.org/dc/elements/1.1/"
    xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
    exclude-result-prefixes="rdf rdfs crm crmpe">

  <xsl:output method="xml" encoding="UTF-8" indent="yes"/>

  <xsl:variable name="CRM" select="'http://www.cidoc-crm.org/cidoc-crm/'"/>
  <xsl:variable name="PE" select="'http://parthenos.d4science.org/CRMext/CRMpe.rdfs/'"/>
  <xsl:variable name="DIG" select="'http://www.ics.forth.gr/isl/CRMext/CRMdig.rdfs/'"/>

  <!-- node elements: children of rdf:RDF and of property elements, i.e. an odd number of levels
       below rdf:RDF, however deep the nesting (property elements sit at even levels) -->
  <xsl:key name="about" match="*[@rdf:about][ancestor::rdf:RDF]
      [(count(ancestor::*) - count(ancestor::rdf:RDF/ancestor::*)) mod 2 = 1]" use="@rdf:about"/>
  <xsl:key name="bnode" match="*[@rdf:nodeID][ancestor::rdf:RDF]
      [(count(ancestor::*) - count(ancestor::rdf:RDF/ancestor::*)) mod 2 = 1]" use="@rdf:nodeID"/>

  <xsl:template match="/">
    <xsl:variable name="nodes" select="//*[ancestor::rdf:RDF]
        [(count(ancestor::*) - count(ancestor::rdf:RDF/ancestor::*)) mod 2 = 1]"/>
    <xsl:variable name="pe22" select="$nodes[rdf:type/@rdf:resource = concat($PE, 'PE22_Persistent_Dataset')
                                             or self::crmpe:PE22_Persistent_Dataset]"/>
    <xsl:variable name="pe24" select="$nodes[rdf:type/@rdf:resource = concat($PE, 'PE24_Volatile_Dataset')
                                             or self::crmpe:PE24_Volatile_Dataset]"/>
    <xsl:variable name="pe18" select="$nodes[rdf:type/@rdf:resource = concat($PE, 'PE18_Dataset')
                                             or self::crmpe:PE18_Dataset]"/>
    <xsl:variable name="d1" select="$nodes[rdf:type/@rdf:resource = concat($DIG, 'D1_Digital_Object')]"/>
    <!-- PARTHENOS' own mappings make PE22 the metadata record and point from it to the dataset it
         describes (PP39_is_metadata_for): that dataset is then the main resource -->
    <xsl:variable name="described" select="(key('about', $pe22/crmpe:PP39_is_metadata_for/@rdf:resource)
        | $pe22/crmpe:PP39_is_metadata_for/*)[rdf:type/@rdf:resource = concat($PE, 'PE24_Volatile_Dataset')
        or self::crmpe:PE24_Volatile_Dataset or rdf:type/@rdf:resource = concat($PE, 'PE18_Dataset')
        or self::crmpe:PE18_Dataset]"/>
    <!-- XPath 1.0 has no sequences: the first non-empty category, in document order -->
    <xsl:variable name="main" select="($described | $pe22[not($described)] | $pe24[not($described | $pe22)]
        | $pe18[not($described | $pe22 | $pe24)] | $d1[not($described | $pe22 | $pe24 | $pe18)])[1]"/>
    <xsl:if test="not($main)">
      <xsl:message terminate="yes">no PE22/PE24/PE18 dataset or D1 digital object in the graph</xsl:message>
    </xsl:if>
    <xsl:variable name="subject" select="key('about', $main/@rdf:about) | key('bnode', $main/@rdf:nodeID) | $main"/>
    <xsl:variable name="names" select="$subject/crm:P1_is_identified_by"/>
    <xsl:variable name="creations" select="$subject/crm:P94i_was_created_by"/>

    <oai_dc:dc xsi:schemaLocation="http://www.openarchives.org/OAI/2.0/oai_dc/ http://www.openarchives.org/OAI/2.0/oai_dc.xsd">
      <xsl:variable name="appellations">
        <xsl:call-template name="labels">
          <xsl:with-param name="properties" select="$names"/>
          <xsl:with-param name="types" select="' E41_Appellation E35_Title '"/>
          <xsl:with-param name="element" select="'dc:title'"/>
        </xsl:call-template>
      </xsl:variable>
      <xsl:copy-of select="$appellations"/>
      <xsl:if test="string($appellations) = ''">
        <xsl:for-each select="$subject/rdfs:label[1]">
          <dc:title><xsl:copy-of select="@xml:lang"/><xsl:value-of select="."/></dc:title>
        </xsl:for-each>
      </xsl:if>
      <xsl:call-template name="labels">
        <xsl:with-param name="properties" select="$names"/>
        <xsl:with-param name="types" select="' E42_Identifier '"/>
        <xsl:with-param name="element" select="'dc:identifier'"/>
      </xsl:call-template>
      <xsl:call-template name="labels">
        <xsl:with-param name="properties" select="$creations/crm:P14_carried_out_by
            | (key('about', $creations/@rdf:resource) | key('bnode', $creations/@rdf:nodeID) | $creations/*)/crm:P14_carried_out_by"/>
        <xsl:with-param name="element" select="'dc:creator'"/>
      </xsl:call-template>
      <xsl:call-template name="labels">
        <xsl:with-param name="properties" select="$subject/crm:P129_is_about"/>
        <xsl:with-param name="element" select="'dc:subject'"/>
      </xsl:call-template>
      <xsl:for-each select="$subject/crm:P3_has_note[normalize-space()]">
        <dc:description><xsl:copy-of select="@xml:lang"/><xsl:value-of select="."/></dc:description>
      </xsl:for-each>
      <xsl:call-template name="labels">
        <xsl:with-param name="properties"
            select="(key('about', $creations/@rdf:resource) | key('bnode', $creations/@rdf:nodeID) | $creations/*)/crm:P4_has_time-span"/>
        <xsl:with-param name="element" select="'dc:date'"/>
      </xsl:call-template>
      <xsl:call-template name="labels">
        <xsl:with-param name="properties" select="$subject/crm:P2_has_type"/>
        <xsl:with-param name="element" select="'dc:type'"/>
      </xsl:call-template>
      <xsl:call-template name="labels">
        <xsl:with-param name="properties" select="$subject/crm:P72_has_language"/>
        <xsl:with-param name="element" select="'dc:language'"/>
      </xsl:call-template>
      <xsl:call-template name="labels">
        <xsl:with-param name="properties" select="$subject/crm:P104_is_subject_to"/>
        <xsl:with-param name="element" select="'dc:rights'"/>
      </xsl:call-template>
    </oai_dc:dc>
  </xsl:template>

  <!-- one $element per distinct label of the objects of $properties (optionally only those
       whose CRM type's local name is in the space-separated list $types) -->
  <xsl:template name="labels">
    <xsl:param name="properties"/>
    <xsl:param name="types" select="''"/>
    <xsl:param name="element"/>
    <xsl:variable name="objects" select="key('about', $properties/@rdf:resource) | key('bnode', $properties/@rdf:nodeID)
                                         | $properties/*"/>
    <xsl:variable name="typed" select="$objects[$types = ''
        or (key('about', @rdf:about) | key('bnode', @rdf:nodeID) | .)/rdf:type[starts-with(@rdf:resource, $CRM)
               and contains($types, concat(' ', substring-after(@rdf:resource, $CRM), ' '))]
        or (key('about', @rdf:about) | key('bnode', @rdf:nodeID) | .)[namespace-uri() = $CRM
               and contains($types, concat(' ', local-name(), ' '))]]"/>
    <xsl:variable name="labels" select="(key('about', $typed/@rdf:about) | key('bnode', $typed/@rdf:nodeID)
                                         | $typed)/rdfs:label[normalize-space()]"/>
    <xsl:for-each select="$labels">
      <xsl:variable name="value" select="normalize-space()"/>
      <xsl:if test="generate-id() = generate-id($labels[normalize-space() = $value][1])">
        <xsl:element name="{$element}">
          <xsl:copy-of select="@xml:lang"/>
          <xsl:value-of select="$value"/>
        </xsl:element>
      </xsl:if>
    </xsl:for-each>
  </xsl:template>
</xsl:stylesheet>
