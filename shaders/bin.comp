#version 450
// Binned path, pass 1 (meshes of few triangles for the image: see
// ComputeRenderer.binCapacity): one thread per triangle. Each triangle's
// setup (snapped corners, depth plane, face normal, smooth-normal plane) is
// written once to its record, and the triangle is appended to the bin of
// every 8x8 tile its box touches that no edge excludes, with the edge values
// at the tile's first pixel, so fused.comp can rasterize and shade a tile
// with no atomics and no visibility buffer. The first triangle in a bin
// lists the tile (tiles.glsl's list) and counts fused.comp's workgroups.
//
// What this path cannot do it reports in the view's flag word instead,
// and the renderer draws the view again the classic way: a triangle that
// crosses the near plane or the guard band (it needs clipping), one too
// wide for 32-bit edge steps, a bin that overflows. (A triangle wholly
// behind the near plane or beyond one side of the guard band is skipped:
// clipping would leave nothing of it.) One thread walks all the tiles of
// its triangle's box: fine for the few triangles this path takes, slow for
// one that covers most of a large image.
#include "raster_common.glsl"

layout(local_size_x = 64) in;

// fused.comp's tiles a workgroup (its local size in y), set from
// ComputeRenderer.fusedTilesPerGroup. At most 32,768 tiles take this path
// (ComputeRenderer.binCapacity), so the workgroup count fits one dimension.
layout(constant_id = 0) const uint TILES_PER_GROUP = 4u;

// Per triangle, 8 uvec4 (fused.comp reads [0]-[2] for every bin entry,
// [3]-[6] once for the pixel's nearest triangle):
//  [0] p0.x, p0.y (1/256 pixel, band-relative), w0, gx   (floats as bits)
//  [1] gy, stepX0, stepY0, stepX1                       (edge steps per pixel)
//  [2] stepY1, stepX2, stepY2, -
//  [3] face normal (view space), -
//  [4] C, [5] X, [6] Y: the smooth normal (view space, any positive scale)
//      at d (1/256 pixel from p0) is C + X d.x + Y d.y
layout(std430, binding = 7) writeonly buffer Records { uvec4 records[]; };
// Per tile, pc.binCapacity entries: edge values at the tile's first pixel
// (0 for an edge inside the whole tile) and the triangle, with bit 29 + i
// set when edge i crosses the tile.
layout(std430, binding = 8) writeonly buffer Bins { uvec4 bins[]; };
layout(std430, binding = 9) readonly buffer Normals { uint normals[]; };
// One word per view in flight: FLAG_* bits.
layout(std430, binding = 10) buffer Flags { uint flags[]; };

const uint FLAG_NEEDS_CLIPPING = 1u;
const uint FLAG_TOO_WIDE = 2u;
const uint FLAG_BIN_OVERFLOW = 4u;

#include "shading.glsl"  // decodeNormal, rotateToView

void main() {
    uint local = gl_GlobalInvocationID.x + gl_GlobalInvocationID.y * gl_NumWorkGroups.x * 64u;
    if (local >= pc.triangleCount) return;
    uvec3 corners = triangles[local];
    vec3 v0 = toView(corners.x), v1 = toView(corners.y), v2 = toView(corners.z);
    vec3 c0 = toClip(v0), c1 = toClip(v1), c2 = toClip(v2);
    if (!(insideAll(c0) && insideAll(c1) && insideAll(c2))) {
        if (!outsideOnePlane(c0, c1, c2)) atomicOr(flags[pc.viewSlot], FLAG_NEEDS_CLIPPING);
        return;
    }
    Setup s;
    if (!setup(c0, c1, c2, s)) return;
    if (!isNarrow(s)) {
        atomicOr(flags[pc.viewSlot], FLAG_TOO_WIDE);
        return;
    }

    // The record. setup() may have swapped corners 1 and 2 (p1, p2, w1, w2).
    vec2 g = inverseDepthGradient(s);
    int sx0 = -(s.p2.y - s.p1.y), sy0 = s.p2.x - s.p1.x;  // edge i's steps per 1/256 pixel
    int sx1 = -(s.p0.y - s.p2.y), sy1 = s.p0.x - s.p2.x;
    int sx2 = -(s.p1.y - s.p0.y), sy2 = s.p1.x - s.p0.x;
    vec3 faceNormal = cross(v1 - v0, v2 - v0);
    // Perspective-correct barycentrics are proportional to e_i * w_i, and
    // e_i at p0 is (area, 0, 0): the smooth normal is affine in d.
    vec3 n0 = rotateToView(decodeNormal(normals[corners.x]));
    vec3 n1 = rotateToView(decodeNormal(normals[s.flipped ? corners.z : corners.y]));
    vec3 n2 = rotateToView(decodeNormal(normals[s.flipped ? corners.y : corners.z]));
    vec3 a0 = n0 * s.w0, a1 = n1 * s.w1, a2 = n2 * s.w2;
    vec3 planeC = a0 * float(s.area);
    vec3 planeX = a0 * float(sx0) + a1 * float(sx1) + a2 * float(sx2);
    vec3 planeY = a0 * float(sy0) + a1 * float(sy1) + a2 * float(sy2);
    uint r = local * 8u;
    records[r] = uvec4(uint(s.p0.x), uint(s.p0.y), floatBitsToUint(s.w0), floatBitsToUint(g.x));
    records[r + 1u] = uvec4(floatBitsToUint(g.y), uint(sx0 * SUBPIXEL), uint(sy0 * SUBPIXEL), uint(sx1 * SUBPIXEL));
    records[r + 2u] = uvec4(uint(sy1 * SUBPIXEL), uint(sx2 * SUBPIXEL), uint(sy2 * SUBPIXEL), 0u);
    records[r + 3u] = uvec4(floatBitsToUint(faceNormal), 0u);
    records[r + 4u] = uvec4(floatBitsToUint(planeC), 0u);
    records[r + 5u] = uvec4(floatBitsToUint(planeX), 0u);
    records[r + 6u] = uvec4(floatBitsToUint(planeY), 0u);

    // The bins of the tiles the triangle may cover. Each edge's value at a
    // tile's first pixel center steps by 8 pixels' worth from tile to tile
    // (64-bit adds, no multiplies); how far it can fall and rise across a
    // tile is the same for every tile.
    ivec2 firstTile = s.box.xy / TILE_SIDE;
    ivec2 lastTile = s.box.zw / TILE_SIDE;
    TileEdge e0, e1, e2;
    classifyEdge(s.p1, s.p2, s.bias0, firstTile * TILE_SIDE, e0);
    classifyEdge(s.p2, s.p0, s.bias1, firstTile * TILE_SIDE, e1);
    classifyEdge(s.p0, s.p1, s.bias2, firstTile * TILE_SIDE, e2);
    i64vec3 stepX = i64vec3(e0.stepX, e1.stepX, e2.stepX);
    i64vec3 stepY = i64vec3(e0.stepY, e1.stepY, e2.stepY);
    i64vec3 reach = i64vec3(tileReach(e0), tileReach(e1), tileReach(e2));
    i64vec3 span = i64vec3(tileSpan(e0), tileSpan(e1), tileSpan(e2));
    i64vec3 rowStart = i64vec3(e0.start, e1.start, e2.start);
    for (int ty = firstTile.y; ty <= lastTile.y; ++ty, rowStart += stepY * TILE_SIDE) {
        i64vec3 start = rowStart;
        for (int tx = firstTile.x; tx <= lastTile.x; ++tx, start += stepX * TILE_SIDE) {
            // Edge i is inside the whole tile, outside it, or crosses it.
            bvec3 inside = greaterThanEqual(start + reach, i64vec3(0));
            if (any(lessThan(start + reach + span, i64vec3(0)))) continue;
            uint tile = uint(ty) * pc.tilesX + uint(tx);
            uint slot = atomicAdd(tiles[tile], 1u);
            if (slot == 0u) {
                // List the tile, and keep fused.comp's indirect dispatch
                // (tileList[1..3], set to (0, 1, 1) before) at a workgroup
                // per TILES_PER_GROUP listed tiles: no pass in between.
                uint position = atomicAdd(tileList[0], 1u);
                tileList[TILE_LIST_HEADER + position] = tile;
                if (position % TILES_PER_GROUP == 0u) atomicAdd(tileList[1], 1u);
            }
            if (slot >= pc.binCapacity) {
                atomicOr(flags[pc.viewSlot], FLAG_BIN_OVERFLOW);
                continue;
            }
            uint bits = local | (inside.x ? 0u : 1u << 29) | (inside.y ? 0u : 1u << 30) | (inside.z ? 0u : 1u << 31);
            bins[tile * pc.binCapacity + slot] = uvec4(mix(uvec3(ivec3(start)), uvec3(0u), inside), bits);
        }
    }
}
