#ifndef MESHFARM_COPENSSL_SHIM_H
#define MESHFARM_COPENSSL_SHIM_H

// Only libcrypto's digest API: SHA-256 for content-addressed artifacts,
// with the CPU's SHA extensions where present. libssl-dev comes with
// librabbitmq-dev anyway.
#include <openssl/evp.h>

#endif
