#version 450
// Pass 2: one 8x8 workgroup per tile that the raster passes touched
// (tiles.glsl), one thread per (supersampled) pixel. A covered pixel gets
// its surface normal (flat, or smooth from per-vertex normals with
// perspective-correct barycentrics from a ray/triangle intersection), a
// headlight + ambient term and optional wireframe; color, depth and normal
// are written. The background was filled before the raster passes, so
// untouched tiles cost nothing here. Without supersampling this pass
// writes the final image directly and the resolve pass is skipped.
//
// The pass runs once per mesh chunk (shading the pixels its triangles
// own); the last run puts the visibility words of its tiles back to empty,
// so the next band or view needs no clearing pass.
#extension GL_ARB_gpu_shader_int64 : require
#extension GL_EXT_scalar_block_layout : require

layout(local_size_x = 8, local_size_y = 8) in;

layout(push_constant) uniform Params {
    vec4 viewRow0;
    vec4 viewRow1;
    vec4 viewRow2;
    float sx;
    float sy;
    float wireWidth;     // wireframe half-width in pixels (with WIREFRAME)
    uint pad0;
    uint width;
    uint height;
    uint bandY0;
    uint bandHeight;
    uint triangleBase;
    uint triangleCount;
    uint outputOffset;   // first element of this band in the color/depth/normal buffers
    uint tilesX;         // tiles per row of the band
} pc;

// Scalar layout: packed xyz, each read as one vector load.
layout(scalar, binding = 0) readonly buffer Positions { vec3 positions[]; };
layout(scalar, binding = 1) readonly buffer Triangles { uvec3 triangles[]; };
layout(std430, binding = 2) buffer Visibility { uint64_t visibility[]; };  // depth bits << 32 | triangle id
// Octahedral, 16-bit snorm each (PackedNormal.swift); 0x80008000 = no normal.
layout(std430, binding = 3) readonly buffer Normals { uint normals[]; };
layout(std430, binding = 4) writeonly buffer Color { uint color[]; };
layout(std430, binding = 5) writeonly buffer Depth { float depth[]; };
layout(std430, binding = 6) writeonly buffer NormalOut { uint normalOut[]; };
#define TILE_BINDING 7
#include "tiles.glsl"

// What to compute, fixed when the pipeline is built (one pipeline per
// combination): lavapipe executes both sides of every branch, masked, so
// a run-time flag would leave the unused work (and its buffer accesses) in.
layout(constant_id = 0) const uint OPTIONS = 0u;
const bool FLAT = (OPTIONS & 1u) != 0u;        // flat (face) normals, else smooth
const bool WRITE_DEPTH = (OPTIONS & 2u) != 0u;
const bool WRITE_NORMALS = (OPTIONS & 4u) != 0u;
const bool LAST_CHUNK = (OPTIONS & 8u) != 0u;  // reset the visibility words read
const bool WIREFRAME = (OPTIONS & 16u) != 0u;

#include "shading.glsl"

vec3 worldPosition(uint v) { return positions[v]; }
vec3 vertexNormal(uint v) { return decodeNormal(normals[v]); }
vec3 toView(vec3 p) {
    vec4 q = vec4(p, 1.0);
    return vec3(dot(pc.viewRow0, q), dot(pc.viewRow1, q), dot(pc.viewRow2, q));
}

vec2 toScreen(vec3 v) {
    vec2 ndc = vec2(v.x * pc.sx, v.y * pc.sy) / -v.z;
    return vec2((ndc.x * 0.5 + 0.5) * float(pc.width), (0.5 - ndc.y * 0.5) * float(pc.height));
}

float distanceToSegment(vec2 p, vec2 a, vec2 b) {
    vec2 ab = b - a;
    float t = clamp(dot(p - a, ab) / max(dot(ab, ab), 1e-12), 0.0, 1.0);
    return length(p - (a + t * ab));
}

// Shades one covered pixel of triangle (i0, i1, i2), corners v0..v2 in
// view space, and writes its outputs.
void shadePixel(uvec2 pixel, uint64_t word, uint outIndex, uint i0, uint i1, uint i2, vec3 v0, vec3 v1, vec3 v2) {
    vec3 ray = pixelRay(pixel);
    vec3 e1 = v1 - v0, e2 = v2 - v0;
    vec3 faceNormal = cross(e1, e2);  // view space
    vec3 smoothNormal = vec3(0.0);
    if (!FLAT) {
        // Moller-Trumbore barycentrics (exact, whatever clipping did in pass 1).
        vec3 pv = cross(ray, e2);
        float det = dot(e1, pv);
        float u = 0.0, v = 0.0;
        if (abs(det) > 1e-30) {
            u = clamp(dot(-v0, pv) / det, 0.0, 1.0);
            v = clamp(dot(ray, cross(-v0, e1)) / det, 0.0, 1.0 - u);
        }
        smoothNormal = rotateToView(
            vertexNormal(i0) * (1.0 - u - v) + vertexNormal(i1) * u + vertexNormal(i2) * v);
    }
    vec3 n = lightingNormal(faceNormal, smoothNormal, FLAT);
    vec3 rgb = headlight(n, faceNormal, ray);

    if (WIREFRAME && v0.z < 0.0 && v1.z < 0.0 && v2.z < 0.0) {
        vec2 pixelCenter = vec2(pixel) + 0.5 + vec2(0.0, float(pc.bandY0));
        vec2 s0 = toScreen(v0), s1 = toScreen(v1), s2 = toScreen(v2);
        float d = min(distanceToSegment(pixelCenter, s0, s1), min(distanceToSegment(pixelCenter, s1, s2), distanceToSegment(pixelCenter, s2, s0)));
        if (d < pc.wireWidth) rgb = mix(rgb, vec3(0.08, 0.10, 0.14), 0.85);
    }

    color[outIndex] = packColor(vec4(rgb, 1.0));
    if (WRITE_DEPTH) depth[outIndex] = uintBitsToFloat(uint(word >> 32));
    if (WRITE_NORMALS) normalOut[outIndex] = packWorldNormal(n);
}

void main() {
    uint slot = gl_WorkGroupID.x + gl_WorkGroupID.y * gl_NumWorkGroups.x;
    if (slot >= tileList[0]) return;
    uint tile = tileList[TILE_LIST_HEADER + slot];
    uvec2 pixel = uvec2(tile % pc.tilesX, tile / pc.tilesX) * TILE_SIDE + gl_LocalInvocationID.xy;
    if (pixel.x >= pc.width || pixel.y >= pc.bandHeight) return;
    uint index = pixel.y * pc.width + pixel.x;
    uint64_t word = visibility[index];
    // The last chunk's run leaves the band's visibility empty for the next.
    if (LAST_CHUNK) visibility[index] = ~uint64_t(0);
    uint id = uint(word);
    // The background (all ones), or a pixel of another chunk's triangle.
    if (id < pc.triangleBase || id - pc.triangleBase >= pc.triangleCount) return;
    uint local = id - pc.triangleBase;
    uvec3 corners = triangles[local];
    uint i0 = corners.x, i1 = corners.y, i2 = corners.z;
    vec3 v0 = toView(worldPosition(i0)), v1 = toView(worldPosition(i1)), v2 = toView(worldPosition(i2));
    shadePixel(pixel, word, pc.outputOffset + index, i0, i1, i2, v0, v1, v2);
}
