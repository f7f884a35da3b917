#version 450
// Pass 1: one thread per triangle. Small triangles are rasterized right
// here; triangles whose bounding box exceeds pc.largeThreshold pixels (or
// 64 pixels a side), and the rare ones that cross the near plane or the
// guard band, are appended to lists for raster_large.comp and
// raster_clipped.comp, so no thread
// loops over a million pixels while its neighbours idle. The lists have room
// for every triangle of the chunk, so they never overflow.
//
// Keeping the clipper out of this shader matters on lavapipe: its private
// arrays cost every invocation, used or not (measured: 2x slower).
//
// The small path is the hot loop of dense meshes and is kept cheap:
// corners relative to the box origin fit 32-bit edge functions exactly
// (|coordinate| <= 64 px * 256), so there is no 64-bit arithmetic, which
// SIMD CPUs (lavapipe) and many GPUs emulate. Triangles that cross the near
// plane or the guard band are clipped in raster_clipped.comp, with 64-bit math.
#include "raster_common.glsl"

layout(local_size_x = 64) in;

const int SMALL_SIDE = 64;  // pixels; keeps 32-bit edge functions exact

// Queues a triangle for the large pass (front of the list buffer) or the
// clipping pass (back of it).
void defer(uint local, bool clipped) {
    if (clipped) {
        listed[pc.largeCapacity - 1u - atomicAdd(counters[4], 1u)] = local;
    } else {
        listed[atomicAdd(counters[0], 1u)] = local;
    }
}

int edge32(ivec2 a, ivec2 b, ivec2 p) { return (b.x - a.x) * (p.y - a.y) - (b.y - a.y) * (p.x - a.x); }

int bias32(ivec2 a, ivec2 b) {
    int dx = b.x - a.x, dy = b.y - a.y;
    return (dy < 0 || (dy == 0 && dx > 0)) ? 0 : -1;
}

// Rasterizes an unclipped triangle with a small box; returns false when it
// is too large for this path.
bool rasterizeSmall(vec3 c0, vec3 c1, vec3 c2, uint id) {
    ivec2 p0 = snap(c0), p1 = snap(c1), p2 = snap(c2);
    ivec2 lo = min(p0, min(p1, p2));
    ivec2 hi = max(p0, max(p1, p2));
    // Pixels whose centers (i * 256 + 128) lie in [lo, hi]; >> is an
    // arithmetic shift, i.e. floor division, for negative values too.
    ivec2 first = (lo + (SUBPIXEL / 2 - 1)) >> 8;
    ivec2 last = (hi - SUBPIXEL / 2) >> 8;
    if (last.x - first.x >= SMALL_SIDE || last.y - first.y >= SMALL_SIDE) return false;
    ivec2 boxLo = max(first, ivec2(0));
    ivec2 boxHi = min(last, ivec2(int(pc.width) - 1, int(pc.bandHeight) - 1));
    if (boxLo.x > boxHi.x || boxLo.y > boxHi.y) return true;  // no pixel center inside: nothing to draw
    if (uint(boxHi.x - boxLo.x + 1) * uint(boxHi.y - boxLo.y + 1) > pc.largeThreshold) return false;

    // Corners relative to the first pixel center of the unclamped box.
    ivec2 origin = first * SUBPIXEL + SUBPIXEL / 2;
    ivec2 q0 = p0 - origin, q1 = p1 - origin, q2 = p2 - origin;
    int area = edge32(q0, q1, q2);
    if (area == 0) return true;
    float w0 = 1.0 / c0.z, w1 = 1.0 / c1.z, w2 = 1.0 / c2.z;
    if (area < 0) {  // both faces are drawn: flip to the canonical orientation
        ivec2 t = q1; q1 = q2; q2 = t;
        float tw = w1; w1 = w2; w2 = tw;
        area = -area;
    }
    int b0 = bias32(q1, q2), b1 = bias32(q2, q0), b2 = bias32(q0, q1);
    float invArea = 1.0 / float(area);
    // Edge values at the clamped box's first pixel, and per-pixel steps.
    ivec2 start = (boxLo - first) * SUBPIXEL;
    int r0 = edge32(q1, q2, start) + b0, r1 = edge32(q2, q0, start) + b1, r2 = edge32(q0, q1, start) + b2;
    int dx0 = -(q2.y - q1.y) * SUBPIXEL, dy0 = (q2.x - q1.x) * SUBPIXEL;
    int dx1 = -(q0.y - q2.y) * SUBPIXEL, dy1 = (q0.x - q2.x) * SUBPIXEL;
    int dx2 = -(q1.y - q0.y) * SUBPIXEL, dy2 = (q1.x - q0.x) * SUBPIXEL;
    bool drawn = false;
    for (int y = boxLo.y; y <= boxHi.y; ++y) {
        int e0 = r0, e1 = r1, e2 = r2;
        for (int x = boxLo.x; x <= boxHi.x; ++x) {
            if ((e0 | e1 | e2) >= 0) {
                float invW = (w0 * float(e0 - b0) + w1 * float(e1 - b1) + w2 * float(e2 - b2)) * invArea;
                float depth = 1.0 / invW;
                if (depth > 0.0 && depth <= pc.far) {
                    uint64_t key = (uint64_t(floatBitsToUint(depth)) << 32) | uint64_t(id);
                    atomicMin(visibility[uint(y) * pc.width + uint(x)], key);
                    drawn = true;
                }
            }
            e0 += dx0; e1 += dx1; e2 += dx2;
        }
        r0 += dy0; r1 += dy1; r2 += dy2;
    }
    if (drawn) {  // shade.comp visits only listed tiles: list the box's
        for (int ty = boxLo.y / TILE_SIDE; ty <= boxHi.y / TILE_SIDE; ++ty) {
            for (int tx = boxLo.x / TILE_SIDE; tx <= boxHi.x / TILE_SIDE; ++tx) touchTile(uint(ty) * pc.tilesX + uint(tx));
        }
    }
    return true;
}

void main() {
    uint local = gl_GlobalInvocationID.x + gl_GlobalInvocationID.y * gl_NumWorkGroups.x * 64u;
    if (local >= pc.triangleCount) return;
    vec3 c0, c1, c2;
    loadCorners(local, c0, c1, c2);
    bool unclipped = insideAll(c0) && insideAll(c1) && insideAll(c2);
    if (!unclipped) {
        defer(local, true);
    } else if (!rasterizeSmall(c0, c1, c2, pc.triangleBase + local)) {
        defer(local, false);
    }
}
