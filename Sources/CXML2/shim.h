#ifndef MESHFARM_CXML2_SHIM_H
#define MESHFARM_CXML2_SHIM_H

#include <libxml/parser.h>
#include <libxml/xmlerror.h>

/// `XML_SAX2_MAGIC` is a macro Swift does not import.
static inline unsigned int meshfarm_xml_sax2_magic(void) { return XML_SAX2_MAGIC; }

#endif
