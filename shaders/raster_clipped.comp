#version 450
// Triangles that cross the near plane or the guard band: one 8x8 workgroup
// per listed triangle clips it (Sutherland-Hodgman), fans the polygon and
// sweeps each piece's bounding box, one pixel per thread.
#include "raster_common.glsl"
#include "raster_clip.glsl"

layout(local_size_x = 8, local_size_y = 8) in;

void main() {
    uint slot = gl_WorkGroupID.x + gl_WorkGroupID.y * gl_NumWorkGroups.x;
    if (slot >= counters[4]) return;
    uint local = listed[pc.largeCapacity - 1u - slot];
    vec3 c0, c1, c2;
    loadCorners(local, c0, c1, c2);
    clipTriangle(c0, c1, c2);
    uint id = pc.triangleBase + local;
    for (int k = 1; k + 1 < polyCount; ++k) {
        Setup s;
        if (!setup(poly[0], poly[k], poly[k + 1], s)) continue;
        for (int ty = s.box.y; ty <= s.box.w; ty += 8) {
            for (int tx = s.box.x; tx <= s.box.z; tx += 8) {
                int x = tx + int(gl_LocalInvocationID.x);
                int y = ty + int(gl_LocalInvocationID.y);
                if (x <= s.box.z && y <= s.box.w) shadePixel(s, x, y, id);
            }
        }
    }
}
