#ifndef MESHFARM_CZLIB_SHIM_H
#define MESHFARM_CZLIB_SHIM_H

#include <zlib.h>

/// `inflateInit2` and `deflateInit2` are macros (they pass the library
/// version and the stream's size): Swift cannot call them. Raw deflate
/// (window bits -15) is what zip entries hold: no zlib header or trailer.
static inline int meshfarm_inflate_init_raw(z_streamp stream) {
    return inflateInit2(stream, -15);
}

static inline int meshfarm_deflate_init_raw(z_streamp stream, int level) {
    return deflateInit2(stream, level, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY);
}

#endif
