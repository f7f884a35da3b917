#ifndef MESHFARM_CXML2_SHIM_H
#define MESHFARM_CXML2_SHIM_H

// Debian builds libxml2 with ICU, and its encoding.h then includes ICU's
// headers, whose types clash with the copy of ICU inside Foundation
// ("'UErrorCode' has different definitions in different modules") in any
// module that sees both. MeshFarm uses libxml2's encoding handlers only
// through pointers, so their ICU fields need not be visible: hide them.
#include <libxml/xmlversion.h>
#undef LIBXML_ICU_ENABLED

#include <libxml/parser.h>
#include <libxml/xmlerror.h>

/// `XML_SAX2_MAGIC` is a macro Swift does not import.
static inline unsigned int meshfarm_xml_sax2_magic(void) { return XML_SAX2_MAGIC; }

#endif
