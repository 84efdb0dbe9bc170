/* Prototype, for bench/ntriples.py --native only (nothing in the project builds or imports it):
 * the RDF/XML result tree of an XSLT step -> the N-Triples pyoxigraph writes for it, by walking
 * libxml2's structs through lxml's C API, with no Python object per node or triple.
 *
 * It converts the flat subset the shipped mappings write (node elements with rdf:about, property
 * elements with rdf:resource, literal text with xml:lang or rdf:datatype, one nested node element)
 * and returns None for anything else, which the caller converts through pyoxigraph: rdf:ID,
 * rdf:nodeID, rdf:parseType, blank nodes, property attributes, xml:base, comments, IRIs outside a
 * plain absolute ASCII shape, unusual language tags, control characters, text written with
 * disable-output-escaping, HTML results, DOCTYPEs, results in another encoding than UTF-8.
 * Compiled against the lxml (and libxml2) headers of the running lxml: the structs must match. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <libxml/tree.h>
#include "lxml-version.h"
#include "etree_defs.h"
#include "lxml.etree_api.h"
#include <string.h>
#include <strings.h>

static const char RDF[] = "http://www.w3.org/1999/02/22-rdf-syntax-ns#";
static const char XMLNS[] = "http://www.w3.org/XML/1998/namespace";
static const char XSD_STRING[] = "http://www.w3.org/2001/XMLSchema#string";

typedef struct { char *p; size_t n, cap; } buf;
static int put(buf *b, const char *s, size_t n) {
    if (b->n + n > b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 16384;
        while (cap < b->n + n) cap *= 2;
        char *q = realloc(b->p, cap); if (!q) return -1; b->p = q; b->cap = cap;
    }
    memcpy(b->p + b->n, s, n); b->n += n; return 0;
}
#define PUTS(b, s) put(b, s, strlen(s))

static int is_rdf(xmlNode *e) { return e->ns && e->ns->href && strcmp((const char *)e->ns->href, RDF) == 0; }
static int ws_only(const xmlChar *s) { if (!s) return 1; for (; *s; s++) if (*s != ' ' && *s != '\t' && *s != '\n' && *s != '\r') return 0; return 1; }
static int alpha(int c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
static int isdig(int c) { return c >= '0' && c <= '9'; }
static int hexd(int c) { return isdig(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }
static int pchar(int c) { return alpha(c) || isdig(c) || (c && strchr("-._~!$&'()*+,;=:@/?", c) != NULL); }

/* the plain absolute IRI shape of bench/ntriples.py's regular expression, over the concatenation a+b */
static int iri_ok(const char *a, const char *b) {
    char tmp[4096]; size_t la = strlen(a), lb = b ? strlen(b) : 0;
    if (la + lb >= sizeof tmp) return 0;
    memcpy(tmp, a, la); if (b) memcpy(tmp + la, b, lb); tmp[la + lb] = 0;
    const char *s = tmp;
    if (!alpha(*s)) return 0;
    s++;
    while (alpha(*s) || isdig(*s) || *s == '+' || *s == '.' || *s == '-') s++;
    if (*s++ != ':') return 0;
    if (s[0] == '/' && s[1] == '/') {
        s += 2; const char *h = s;
        while (alpha(*s) || isdig(*s) || *s == '.' || *s == '_' || *s == '~' || *s == '-') s++;
        if (s == h) return 0;
        if (*s == ':') { s++; while (isdig(*s)) s++; }
        if (*s && *s != '/' && *s != '?' && *s != '#') return 0;
    }
    int hash = 0;
    for (; *s; s++) {
        if (*s == '%') { if (!hexd(s[1]) || !hexd(s[2])) return 0; s += 2; }
        else if (*s == '#') { if (hash++) return 0; }
        else if (!pchar((unsigned char)*s)) return 0;
    }
    return 1;
}

/* the value of an attribute held as one text node */
static const char *attr_value(xmlAttr *a) {
    if (!a->children) return "";
    if (a->children->next || a->children->type != XML_TEXT_NODE) return NULL;
    return (const char *)a->children->content;
}

static int node(buf *b, xmlNode *e);

static int literal(buf *b, xmlNode *p) {
    PUTS(b, "\"");
    for (xmlNode *c = p->children; c; c = c->next) {
        if ((c->type != XML_TEXT_NODE && c->type != XML_CDATA_SECTION_NODE) || (c->name && !strcmp((const char *)c->name, "textnoenc"))) return -1;
        const unsigned char *s = c->content, *run = s;
        if (!s) continue;
        for (; *s; s++) {
            const char *esc = NULL;
            switch (*s) {
            case '"': esc = "\\\""; break;
            case '\\': esc = "\\\\"; break;
            case '\n': esc = "\\n"; break;
            case '\r': esc = "\\r"; break;
            case '\t': esc = "\\t"; break;
            case 0x7f: esc = "\\u007F"; break;
            default: if (*s < 0x20) return -1;
            }
            if (esc) { put(b, (const char *)run, s - run); PUTS(b, esc); run = s + 1; }
        }
        put(b, (const char *)run, s - run);
    }
    PUTS(b, "\"");
    return 0;
}

static int property(buf *b, const char *subj, xmlNode *p) {
    if (!p->ns || !p->ns->href) return -1;
    const char *ns = (const char *)p->ns->href, *name = (const char *)p->name;
    if (is_rdf(p) && strcmp(name, "type") && strcmp(name, "value")) return -1;
    if (!iri_ok(ns, name)) return -1;
    xmlAttr *a = p->properties;
    if (a && a->next) return -1;
    const char *resource = NULL, *datatype = NULL, *lang = NULL;
    if (a) {
        const char *v = attr_value(a); if (!v || !a->ns || !a->ns->href) return -1;
        if (!strcmp((const char *)a->ns->href, RDF) && !strcmp((const char *)a->name, "resource")) resource = v;
        else if (!strcmp((const char *)a->ns->href, RDF) && !strcmp((const char *)a->name, "datatype")) datatype = v;
        else if (!strcmp((const char *)a->ns->href, XMLNS) && !strcmp((const char *)a->name, "lang")) lang = v;
        else return -1;
    }
    xmlNode *child = NULL;
    int has_text = 0;
    for (xmlNode *c = p->children; c; c = c->next) {
        if (c->type == XML_ELEMENT_NODE) { if (child) return -1; child = c; }
        else if (c->type == XML_TEXT_NODE || c->type == XML_CDATA_SECTION_NODE) { if (!ws_only(c->content)) has_text = 1; }
        else return -1;
    }
    size_t mark;
    if (resource) {
        if (child || has_text || !iri_ok(resource, NULL)) return -1;
        PUTS(b, subj); PUTS(b, " <"); PUTS(b, ns); PUTS(b, name); PUTS(b, "> <"); PUTS(b, resource); PUTS(b, "> .\n");
        return 0;
    }
    if (child) {
        if (a || has_text) return -1;
        if (node(b, child)) return -1;
        xmlAttr *about = child->properties;
        PUTS(b, subj); PUTS(b, " <"); PUTS(b, ns); PUTS(b, name); PUTS(b, "> <"); PUTS(b, attr_value(about)); PUTS(b, "> .\n");
        return 0;
    }
    PUTS(b, subj); PUTS(b, " <"); PUTS(b, ns); PUTS(b, name); PUTS(b, "> ");
    mark = b->n; (void)mark;
    if (literal(b, p)) return -1;
    if (lang) {
        size_t n = strlen(lang);
        if (!((n == 2 || n == 3) && alpha(lang[0]) && alpha(lang[1]) && (n == 2 || alpha(lang[2])))
            && !((n == 5 || n == 6) && lang[n - 3] == '-' && alpha(lang[0]) && alpha(lang[1]) && (n == 5 || alpha(lang[2]))
                 && alpha(lang[n - 2]) && alpha(lang[n - 1])))
            return -1;
        char low[8]; for (size_t i = 0; i <= n; i++) low[i] = (lang[i] >= 'A' && lang[i] <= 'Z') ? lang[i] + 32 : lang[i];
        PUTS(b, "@"); PUTS(b, low);
    } else if (datatype && strcmp(datatype, XSD_STRING)) {
        if (!iri_ok(datatype, NULL) || !strncmp(datatype, RDF, strlen(RDF))) return -1;
        PUTS(b, "^^<"); PUTS(b, datatype); PUTS(b, ">");
    }
    PUTS(b, " .\n");
    return 0;
}

static int node(buf *b, xmlNode *e) {
    xmlAttr *a = e->properties;
    if (!a || a->next || !a->ns || !a->ns->href || strcmp((const char *)a->ns->href, RDF) || strcmp((const char *)a->name, "about")) return -1;
    const char *about = attr_value(a);
    if (!about || !iri_ok(about, NULL)) return -1;
    char subj[4100]; size_t n = strlen(about); if (n + 3 > sizeof subj) return -1;
    subj[0] = '<'; memcpy(subj + 1, about, n); subj[n + 1] = '>'; subj[n + 2] = 0;
    if (!e->ns || !e->ns->href) return -1;
    if (is_rdf(e)) { if (strcmp((const char *)e->name, "Description")) return -1; }
    else {
        if (!iri_ok((const char *)e->ns->href, (const char *)e->name)) return -1;
        PUTS(b, subj); PUTS(b, " <http://www.w3.org/1999/02/22-rdf-syntax-ns#type> <");
        PUTS(b, (const char *)e->ns->href); PUTS(b, (const char *)e->name); PUTS(b, "> .\n");
    }
    for (xmlNode *c = e->children; c; c = c->next) {
        if (c->type == XML_ELEMENT_NODE) { if (property(b, subj, c)) return -1; }
        else if (c->type == XML_TEXT_NODE) { if (!ws_only(c->content)) return -1; }
        else return -1;
    }
    return 0;
}

static PyObject *convert(PyObject *self, PyObject *arg) {
    struct LxmlDocument *doc = documentOrRaise(arg);
    if (!doc) return NULL;
    xmlNode *root = NULL;
    xmlDoc *d = doc->_c_doc;
    /* pyoxigraph reads UTF-8 only; an HTML result or a DOCTYPE is serialized otherwise: decline */
    if (d->type != XML_DOCUMENT_NODE || d->intSubset || (d->encoding && strcasecmp((const char *)d->encoding, "UTF-8")))
        goto fallback;
    for (xmlNode *c = d->children; c; c = c->next) {
        if (c->type == XML_ELEMENT_NODE) { if (root) goto fallback; root = c; }
        else goto fallback;
    }
    if (!root || !is_rdf(root) || strcmp((const char *)root->name, "RDF") || root->properties) goto fallback;
    buf b = {0};
    for (xmlNode *c = root->children; c; c = c->next) {
        if (c->type == XML_ELEMENT_NODE) { if (node(&b, c)) { free(b.p); goto fallback; } }
        else if (c->type == XML_TEXT_NODE) { if (!ws_only(c->content)) { free(b.p); goto fallback; } }
        else { free(b.p); goto fallback; }
    }
    PyObject *out = PyBytes_FromStringAndSize(b.p ? b.p : "", b.n);
    free(b.p);
    Py_DECREF((PyObject *)doc);
    return out;
fallback:
    Py_DECREF((PyObject *)doc);
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {{"convert", convert, METH_O, "tree -> N-Triples bytes or None"}, {NULL}};
static struct PyModuleDef mod = {PyModuleDef_HEAD_INIT, "_ntwalk", NULL, -1, methods};
PyMODINIT_FUNC PyInit__ntwalk(void) {
    if (import_lxml__etree() < 0) return NULL;
    return PyModule_Create(&mod);
}
