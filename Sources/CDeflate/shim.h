#ifndef MESHFARM_CDEFLATE_SHIM_H
#define MESHFARM_CDEFLATE_SHIM_H

/// libdeflate: whole-buffer DEFLATE/zlib compression and CRC-32, about three
/// times faster than zlib at the same level (PNG output, `PNGCodec`).
#include <libdeflate.h>

#endif
