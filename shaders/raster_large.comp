#version 450
// Large triangles (in front of the near plane, inside the guard band): one
// 8x8 workgroup per listed triangle sweeps its bounding box tile by tile,
// one pixel per thread, with exact 64-bit edge functions.
#include "raster_common.glsl"

layout(local_size_x = 8, local_size_y = 8) in;

void main() {
    uint slot = gl_WorkGroupID.x + gl_WorkGroupID.y * gl_NumWorkGroups.x;
    if (slot >= counters[0]) return;
    uint local = listed[slot];
    vec3 c0, c1, c2;
    loadCorners(local, c0, c1, c2);
    Setup s;
    if (!setup(c0, c1, c2, s)) return;
    uint id = pc.triangleBase + local;
    for (int ty = s.box.y; ty <= s.box.w; ty += 8) {
        for (int tx = s.box.x; tx <= s.box.z; tx += 8) {
            int x = tx + int(gl_LocalInvocationID.x);
            int y = ty + int(gl_LocalInvocationID.y);
            if (x <= s.box.z && y <= s.box.w) shadePixel(s, x, y, id);
        }
    }
}
