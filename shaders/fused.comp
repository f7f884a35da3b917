#version 450
// Binned path, pass 2: 8 threads for each tile that bin.comp
// listed; thread y owns row y of the tile and keeps its 8 pixels'
// nearest surface in registers while it walks the tile's bin, so there are
// no atomics and no visibility buffer, and a bin entry and its triangle's
// record are fetched once per step of the walk for the tile's 64 pixels.
// Coverage is the classic path's exactly: the same snapped corners and
// top-left rule, with 32-bit edge values stepped from bin.comp's exact
// 64-bit ones. Depth is 1/w from its plane, as in the classic large pass
// (the classic small pass interpolates it from the edge values: the two
// agree within rounding, 1e-5 relative in the tests); ties go to the lower
// triangle id, as in the visibility word. Then each covered pixel is shaded (shading.glsl) and
// written.
#extension GL_EXT_control_flow_attributes : require

// lavapipe pays for starting each workgroup about as much as the work of a
// sparse tile: a workgroup takes gl_WorkGroupSize.y listed tiles, 8 threads
// each (specialization constant 1: ComputeRenderer.fusedTilesPerGroup).
layout(local_size_x = 8, local_size_y_id = 1) in;

layout(push_constant) uniform Params {
    vec4 viewRow0;
    vec4 viewRow1;
    vec4 viewRow2;
    float sx;
    float sy;
    float far;
    uint binCapacity;    // entries per tile
    uint width;
    uint height;         // the binned path draws a view in one band
    uint bandY0;         // so 0; shading.glsl reads it
    uint tilesX;         // tiles per row
} pc;

// Read through texel buffers (RGBA32UI): lavapipe fetches texels with
// vector gathers, where it loads storage buffers lane by lane.
layout(binding = 0) uniform usamplerBuffer records;  // bin.comp's records
layout(binding = 1) uniform usamplerBuffer bins;
// tiles[t]: entries in tile t's bin (it may exceed pc.binCapacity, when
// bin.comp flagged the overflow); tileList: the tiles with entries.
#define TILE_BINDING 2
#include "tiles.glsl"
// Written 4 pixels at a time where a row of the tile lies inside the image
// and the outputs' rows are whole vectors (two stores a row instead of
// eight: lavapipe stores lane by lane).
layout(std430, binding = 4) writeonly buffer Color { uvec4 color[]; };
layout(std430, binding = 5) writeonly buffer Depth { vec4 depth[]; };
layout(std430, binding = 6) writeonly buffer NormalOut { uvec4 normalOut[]; };

const int SUBPIXEL = 256;  // raster_common.glsl

layout(constant_id = 0) const uint OPTIONS = 0u;  // shade.comp's bits
const bool FLAT = (OPTIONS & 1u) != 0u;
const bool WRITE_DEPTH = (OPTIONS & 2u) != 0u;
const bool WRITE_NORMALS = (OPTIONS & 4u) != 0u;

#include "shading.glsl"

void main() {
    uint group = gl_WorkGroupID.x + gl_WorkGroupID.y * gl_NumWorkGroups.x;
    uint slot = group * gl_WorkGroupSize.y + gl_LocalInvocationID.y;
    if (slot >= tileList[0]) return;
    uint tile = tileList[TILE_LIST_HEADER + slot];
    ivec2 origin = ivec2(tile % pc.tilesX, tile / pc.tilesX) * TILE_SIDE;
    int lane = int(gl_LocalInvocationID.x);
    int row = origin.y + lane;
    uint count = min(tiles[tile], pc.binCapacity);

    // Per pixel of the row: the nearest surface so far and its triangle
    // (only these are carried through the walk: carrying the face normal too
    // cost more, in selects and spilled registers, than loading it once).
    // Nearer means a larger 1/w (1/depth); 0 means no surface yet.
    float bestInverse[8];
    uint bestId[8];
    [[unroll]] for (int x = 0; x < 8; ++x) {
        bestInverse[x] = 0.0;
        bestId[x] = 0xFFFFFFFFu;
    }
    float nearestInverse = 1.0 / pc.far;
    for (uint i = 0u; i < count; ++i) {
        uvec4 entry = texelFetch(bins, int(tile * pc.binCapacity + i));
        uint id = entry.w & 0x1FFFFFFFu;
        uint r = id * 8u;
        uvec4 r0 = texelFetch(records, int(r)), r1 = texelFetch(records, int(r + 1u)), r2 = texelFetch(records, int(r + 2u));
        ivec2 p0 = ivec2(r0.xy);
        float w0 = uintBitsToFloat(r0.z), gx = uintBitsToFloat(r0.w), gy = uintBitsToFloat(r1.x);
        // Steps of the edges that cross the tile; the others are inside it.
        int dx0 = (entry.w & (1u << 29)) != 0u ? int(r1.y) : 0, dy0 = (entry.w & (1u << 29)) != 0u ? int(r1.z) : 0;
        int dx1 = (entry.w & (1u << 30)) != 0u ? int(r1.w) : 0, dy1 = (entry.w & (1u << 30)) != 0u ? int(r2.x) : 0;
        int dx2 = (entry.w & (1u << 31)) != 0u ? int(r2.y) : 0, dy2 = (entry.w & (1u << 31)) != 0u ? int(r2.z) : 0;
        int f0 = int(entry.x) + dy0 * lane, f1 = int(entry.y) + dy1 * lane, f2 = int(entry.z) + dy2 * lane;
        float dY = float(row * SUBPIXEL + SUBPIXEL / 2 - p0.y);
        float inverseY = w0 + gy * dY;
        [[unroll]] for (int x = 0; x < 8; ++x) {
            float dX = float((origin.x + x) * SUBPIXEL + SUBPIXEL / 2 - p0.x);
            float inverse = inverseY + gx * dX;  // 1/w: no division in the walk
            bool nearer = inverse > bestInverse[x] || (inverse == bestInverse[x] && id < bestId[x]);
            bool wins = (f0 | f1 | f2) >= 0 && inverse >= nearestInverse && nearer;
            bestInverse[x] = wins ? inverse : bestInverse[x];
            bestId[x] = wins ? id : bestId[x];
            f0 += dx0; f1 += dx1; f2 += dx2;
        }
    }

    if (row >= int(pc.height)) return;
    // The row's outputs; uncovered pixels keep the background (0).
    uint colors[8];
    float depths[8];
    uint normalColors[8];
    [[unroll]] for (int x = 0; x < 8; ++x) {
        colors[x] = 0u;
        depths[x] = 0.0;
        normalColors[x] = 0u;
        if (bestId[x] == 0xFFFFFFFFu) continue;
        uvec2 pixel = uvec2(origin.x + x, row);
        // The winner's face normal and, for smooth shading, its normal plane.
        uint r = bestId[x] * 8u;
        vec3 face = uintBitsToFloat(texelFetch(records, int(r + 3u)).xyz);
        vec3 smoothNormal = vec3(0.0);
        if (!FLAT) {
            ivec2 p0 = ivec2(texelFetch(records, int(r)).xy);
            vec2 d = vec2(ivec2(pixel) * SUBPIXEL + SUBPIXEL / 2 - p0);
            smoothNormal = uintBitsToFloat(texelFetch(records, int(r + 4u)).xyz)
                + uintBitsToFloat(texelFetch(records, int(r + 5u)).xyz) * d.x
                + uintBitsToFloat(texelFetch(records, int(r + 6u)).xyz) * d.y;
        }
        vec3 ray = pixelRay(pixel);
        vec3 n = lightingNormal(face, smoothNormal, FLAT);
        colors[x] = packColor(vec4(headlight(n, face, ray), 1.0));
        depths[x] = 1.0 / bestInverse[x];
        normalColors[x] = packWorldNormal(n);
    }
    uint first = uint(row) * pc.width + uint(origin.x);
    if (origin.x + 8 <= int(pc.width) && first % 4u == 0u) {
        uint v = first / 4u;
        color[v] = uvec4(colors[0], colors[1], colors[2], colors[3]);
        color[v + 1u] = uvec4(colors[4], colors[5], colors[6], colors[7]);
        if (WRITE_DEPTH) {
            depth[v] = vec4(depths[0], depths[1], depths[2], depths[3]);
            depth[v + 1u] = vec4(depths[4], depths[5], depths[6], depths[7]);
        }
        if (WRITE_NORMALS) {
            normalOut[v] = uvec4(normalColors[0], normalColors[1], normalColors[2], normalColors[3]);
            normalOut[v + 1u] = uvec4(normalColors[4], normalColors[5], normalColors[6], normalColors[7]);
        }
    } else {
        // The image's right border, or rows that are not whole vectors.
        [[unroll]] for (int x = 0; x < 8; ++x) {
            uint index = first + uint(x);
            if (origin.x + x >= int(pc.width) || bestId[x] == 0xFFFFFFFFu) continue;
            color[index / 4u][index % 4u] = colors[x];
            if (WRITE_DEPTH) depth[index / 4u][index % 4u] = depths[x];
            if (WRITE_NORMALS) normalOut[index / 4u][index % 4u] = normalColors[x];
        }
    }
}
