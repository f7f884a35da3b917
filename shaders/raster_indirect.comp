#version 450
// Between pass 1 and the deferred passes: turns the lengths of the large and
// clip lists into indirect dispatch arguments (one workgroup per triangle,
// folded into two dimensions to respect maxComputeWorkGroupCount).
#include "raster_common.glsl"

layout(local_size_x = 1) in;

void main() {
    for (uint list = 0u; list < 2u; ++list) {
        uint n = counters[4u * list];
        uint x = min(n, 65535u);
        counters[4u * list + 1u] = x;
        counters[4u * list + 2u] = x == 0u ? 0u : (n + x - 1u) / x;
        counters[4u * list + 3u] = 1u;
    }
}
