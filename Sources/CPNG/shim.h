#ifndef MESHFARM_CPNG_SHIM_H
#define MESHFARM_CPNG_SHIM_H

#include <png.h>

/// PNG_FORMAT_RGBA is a compound macro Swift does not import.
static const png_uint_32 MESHFARM_PNG_FORMAT_RGBA = PNG_FORMAT_RGBA;

#endif
