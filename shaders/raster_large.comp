#version 450
// Large triangles (in front of the near plane, inside the guard band): one
// workgroup of 8 threads per listed triangle; each thread takes 8x8 tiles
// of the triangle's box in turn. A tile wholly outside an edge is skipped
// and one wholly inside needs no test against that edge; for the rest the
// thread computes the exact coverage mask of the tile's 64 pixels by
// stepping edge functions (32-bit where the triangle is small enough to
// make that exact, 64-bit otherwise). Each covered pixel then gets the
// triangle's depth from its plane of 1/w and an atomicMin, as in the small
// path, and the tile is listed for shading.
#include "raster_common.glsl"

layout(local_size_x = 8) in;

// Exact coverage of the pixels lo..hi (one tile's part of the box) as a
// mask of the tile whose first pixel is origin, by stepping 64-bit edge
// functions: the general case.
uvec2 coverage64(Setup s, ivec2 origin, ivec2 lo, ivec2 hi) {
    ivec2 p = lo * SUBPIXEL + SUBPIXEL / 2;
    int64_t r0 = edge(s.p1, s.p2, p) + s.bias0;
    int64_t r1 = edge(s.p2, s.p0, p) + s.bias1;
    int64_t r2 = edge(s.p0, s.p1, p) + s.bias2;
    int64_t dx0 = -int64_t(s.p2.y - s.p1.y) * SUBPIXEL, dy0 = int64_t(s.p2.x - s.p1.x) * SUBPIXEL;
    int64_t dx1 = -int64_t(s.p0.y - s.p2.y) * SUBPIXEL, dy1 = int64_t(s.p0.x - s.p2.x) * SUBPIXEL;
    int64_t dx2 = -int64_t(s.p1.y - s.p0.y) * SUBPIXEL, dy2 = int64_t(s.p1.x - s.p0.x) * SUBPIXEL;
    uvec2 mask = uvec2(0u);
    for (int y = lo.y; y <= hi.y; ++y) {
        int64_t e0 = r0, e1 = r1, e2 = r2;
        uint row = 0u;
        for (int x = lo.x; x <= hi.x; ++x) {
            if (e0 >= 0 && e1 >= 0 && e2 >= 0) row |= 1u << uint(x - origin.x);
            e0 += dx0; e1 += dx1; e2 += dx2;
        }
        int ty = y - origin.y;
        if (ty < 4) mask.x |= row << uint(8 * ty); else mask.y |= row << uint(8 * (ty - 4));
        r0 += dy0; r1 += dy1; r2 += dy2;
    }
    return mask;
}

// The coverage mask of a whole tile for a narrow triangle (NARROW in
// raster_common.glsl): 32-bit edge functions are exact there. Edges inside
// the whole tile are left out.

uvec2 coverage32(TileEdge e0, TileEdge e1, TileEdge e2, ivec3 crosses) {
    int r0 = int(e0.start) * crosses.x, r1 = int(e1.start) * crosses.y, r2 = int(e2.start) * crosses.z;
    int dx0 = int(e0.stepX) * crosses.x, dy0 = int(e0.stepY) * crosses.x;
    int dx1 = int(e1.stepX) * crosses.y, dy1 = int(e1.stepY) * crosses.y;
    int dx2 = int(e2.stepX) * crosses.z, dy2 = int(e2.stepY) * crosses.z;
    uvec2 mask = uvec2(0u);
    for (int y = 0; y < TILE_SIDE; ++y) {
        int f0 = r0, f1 = r1, f2 = r2;
        uint row = 0u;
        for (int x = 0; x < TILE_SIDE; ++x) {
            if ((f0 | f1 | f2) >= 0) row |= 1u << uint(x);
            f0 += dx0; f1 += dx1; f2 += dx2;
        }
        if (y < 4) mask.x |= row << uint(8 * y); else mask.y |= row << uint(8 * (y - 4));
        r0 += dy0; r1 += dy1; r2 += dy2;
    }
    return mask;
}

// Bits of the tile's pixels inside lo..hi.
uvec2 boundsMask(ivec2 origin, ivec2 lo, ivec2 hi) {
    uint row = ((2u << uint(hi.x - origin.x)) - 1u) & ~((1u << uint(lo.x - origin.x)) - 1u);
    uvec2 mask = uvec2(0u);
    for (int y = lo.y - origin.y; y <= hi.y - origin.y; ++y) {
        if (y < 4) mask.x |= row << uint(8 * y); else mask.y |= row << uint(8 * (y - 4));
    }
    return mask;
}

void main() {
    uint slot = gl_WorkGroupID.x + gl_WorkGroupID.y * gl_NumWorkGroups.x;
    if (slot >= counters[0]) return;
    uint local = listed[slot];
    vec3 c0, c1, c2;
    loadCorners(local, c0, c1, c2);
    Setup s;
    if (!setup(c0, c1, c2, s)) return;
    uint id = pc.triangleBase + local;
    vec2 g = inverseDepthGradient(s);
    float gx = g.x, gy = g.y;
    // Edges short enough for coverage32 (almost all).
    bool narrow = isNarrow(s);
    ivec2 firstTile = s.box.xy / TILE_SIDE;
    ivec2 lastTile = s.box.zw / TILE_SIDE;
    uint tilesWide = uint(lastTile.x - firstTile.x + 1);
    uint tileCount = tilesWide * uint(lastTile.y - firstTile.y + 1);
    for (uint i = gl_LocalInvocationIndex; i < tileCount; i += 8u) {
        ivec2 tile = firstTile + ivec2(i % tilesWide, i / tilesWide);
        ivec2 origin = tile * TILE_SIDE;
        ivec2 lo = max(origin, s.box.xy);
        ivec2 hi = min(origin + (TILE_SIDE - 1), s.box.zw);
        TileEdge e0, e1, e2;
        ivec3 verdict = ivec3(classifyEdge(s.p1, s.p2, s.bias0, origin, e0),
                              classifyEdge(s.p2, s.p0, s.bias1, origin, e1),
                              classifyEdge(s.p0, s.p1, s.bias2, origin, e2));
        if (any(equal(verdict, ivec3(EDGE_OUTSIDE)))) continue;
        uvec2 mask = boundsMask(origin, lo, hi);
        ivec3 crosses = ivec3(equal(verdict, ivec3(EDGE_CROSSES)));
        if (crosses != ivec3(0)) mask &= narrow ? coverage32(e0, e1, e2, crosses) : coverage64(s, origin, lo, hi);
        if (mask == uvec2(0u)) continue;
        touchTile(uint(tile.y) * pc.tilesX + uint(tile.x));
        // The covered pixels, lowest bit first: rows 0-3, then rows 4-7.
        for (uint upper = 0u; upper < 2u; ++upper) {
            uint bits = upper == 0u ? mask.x : mask.y;
            while (bits != 0u) {
                int bit = findLSB(bits);
                bits &= bits - 1u;
                ivec2 pixel = origin + ivec2(bit & 7, (bit >> 3) + 4 * int(upper));
                ivec2 d = pixel * SUBPIXEL + SUBPIXEL / 2 - s.p0;
                float depth = 1.0 / (s.w0 + gx * float(d.x) + gy * float(d.y));
                if (!(depth > 0.0) || depth > pc.far) continue;
                uint64_t key = (uint64_t(floatBitsToUint(depth)) << 32) | uint64_t(id);
                uint index = uint(pixel.y) * pc.width + uint(pixel.x);
                // A plain load first: the atomic only where this triangle may be nearer.
                if (key < visibility[index]) atomicMin(visibility[index], key);
            }
        }
    }
}
