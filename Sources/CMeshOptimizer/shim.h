#ifndef MESHFARM_CMESHOPTIMIZER_SHIM_H
#define MESHFARM_CMESHOPTIMIZER_SHIM_H

// Debian's libmeshoptimizer-dev (0.18) ships no pkg-config file, so the
// header is found on the default include path and linked by name.
#include <meshoptimizer.h>

#endif
