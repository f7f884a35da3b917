// Shared by the raster passes: push constants, buffers, triangle setup
// (transform, snap, edge functions) and the per-pixel visibility write,
// which also marks the pixel's tile for shade.comp (tiles.glsl).
// The polygon clipper lives in raster_clip.glsl, included only by the pass
// that needs it: lavapipe pays for its private arrays in every invocation.
//
// Conventions (docs/architecture.md, "Rendering"):
//  - view space is right-handed, the camera looks down -Z, +Y is up;
//  - clip coordinates are (cx, cy, cw) = (x * sx, y * sy, -z): NDC = c / cw;
//  - pixel (0,0) is the top-left pixel, rows go down, pixel centers sit at
//    half-integers; screen x = (ndc.x * 0.5 + 0.5) * width,
//    screen y = (0.5 - ndc.y * 0.5) * height;
//  - positions are snapped to 1/256 pixel (8 subpixel bits, like Vulkan
//    hardware) and edge functions are exact integers (64-bit, or 32-bit
//    where the values provably fit), with the
//    top-left fill rule: adjacent triangles never leave cracks or overlap.
//  - depth is linear view depth (-z), interpolated perspective-correctly;
//    the visibility word is (floatBits(depth) << 32) | triangleId, so a
//    64-bit atomicMin keeps the nearest triangle (ties: lowest id).

#extension GL_ARB_gpu_shader_int64 : require
#extension GL_EXT_shader_atomic_int64 : require
#extension GL_EXT_scalar_block_layout : require

layout(push_constant) uniform Params {
    vec4 viewRow0;       // world -> view, rows of a 3x4 matrix
    vec4 viewRow1;
    vec4 viewRow2;
    float sx;            // 1 / (tan(fovY / 2) * aspect)
    float sy;            // 1 / tan(fovY / 2)
    float near;
    float far;
    uint width;          // render-target size (supersampled)
    uint height;
    uint bandY0;         // first row of the band being rendered
    uint bandHeight;     // rows in the band (the visibility buffer's height)
    uint triangleBase;   // global id of this chunk's first triangle
    uint triangleCount;  // triangles in this chunk
    uint largeThreshold; // bounding boxes above this many pixels take the tiled path
    uint largeCapacity;  // entries available in the large-triangle list
    uint tilesX;         // 8x8 tiles per row of the band (tiles.glsl)
    uint binCapacity;    // bin.comp: entries per tile
    uint viewSlot;       // bin.comp: the view's word in its flags buffer
} pc;

// Scalar layout: packed xyz (12-byte stride), each read as one vector load
// (lavapipe loads buffers lane by lane, once per load instruction).
layout(scalar, binding = 0) readonly buffer Positions { vec3 positions[]; };
layout(scalar, binding = 1) readonly buffer Triangles { uvec3 triangles[]; };
layout(std430, binding = 2) buffer Visibility { uint64_t visibility[]; };
// counters[0]: triangles in the large list, counters[1..3] its indirect
// dispatch; counters[4]: triangles in the clip list, counters[5..7] its
// dispatch. Both lists share one buffer of pc.largeCapacity entries (one
// per triangle of the chunk): the large list grows from the front, the clip
// list from the back, and a triangle is in at most one of them.
layout(std430, binding = 3) buffer Counters { uint counters[]; };
layout(std430, binding = 4) buffer Lists { uint listed[]; };
#define TILE_BINDING 5
#include "tiles.glsl"

const int SUBPIXEL = 256;
const float GUARD = 4.0;   // guard band: clip only what lies beyond 4x the viewport

vec3 toView(uint v) {
    vec4 p = vec4(positions[v], 1.0);
    return vec3(dot(pc.viewRow0, p), dot(pc.viewRow1, p), dot(pc.viewRow2, p));
}

// Clip-space vertex: (cx, cy, cw).
vec3 toClip(vec3 v) { return vec3(v.x * pc.sx, v.y * pc.sy, -v.z); }

// A snapped, consistently oriented sub-triangle ready for edge tests.
struct Setup {
    ivec2 p0, p1, p2;       // 1/256-pixel fixed point, band-relative
    float w0, w1, w2;       // 1 / cw per vertex
    ivec4 box;              // inclusive pixel bounds, clamped to the band
    int64_t area;           // twice the area, > 0
    int bias0, bias1, bias2;// 0 for top-left edges, -1 otherwise (strict test)
    float invArea;
    bool flipped;           // corners 1 and 2 were swapped (the triangle faced the other way)
};

ivec2 snap(vec3 c) {
    vec2 ndc = c.xy / c.z;
    float x = (ndc.x * 0.5 + 0.5) * float(pc.width);
    float y = (0.5 - ndc.y * 0.5) * float(pc.height) - float(pc.bandY0);
    return ivec2(round(x * float(SUBPIXEL)), round(y * float(SUBPIXEL)));
}

int floorDiv(int a, int b) { return a >= 0 ? a / b : -((-a + b - 1) / b); }
int ceilDiv(int a, int b) { return -floorDiv(-a, b); }

int64_t edge(ivec2 a, ivec2 b, ivec2 p) {
    return int64_t(b.x - a.x) * int64_t(p.y - a.y) - int64_t(b.y - a.y) * int64_t(p.x - a.x);
}

// Top-left rule for this orientation (clockwise on screen, y down): top
// edges run in +x, left edges run upward.
int fillBias(ivec2 a, ivec2 b) {
    int dx = b.x - a.x;
    int dy = b.y - a.y;
    return (dy < 0 || (dy == 0 && dx > 0)) ? 0 : -1;
}

// Returns false for degenerate or off-band sub-triangles.
bool setup(vec3 a, vec3 b, vec3 c, out Setup s) {
    s.p0 = snap(a); s.p1 = snap(b); s.p2 = snap(c);
    s.w0 = 1.0 / a.z; s.w1 = 1.0 / b.z; s.w2 = 1.0 / c.z;
    s.area = edge(s.p0, s.p1, s.p2);
    if (s.area == 0) return false;
    s.flipped = s.area < 0;
    if (s.flipped) {  // both faces are drawn: flip to the canonical orientation
        ivec2 t = s.p1; s.p1 = s.p2; s.p2 = t;
        float tw = s.w1; s.w1 = s.w2; s.w2 = tw;
        s.area = -s.area;
    }
    ivec2 lo = min(s.p0, min(s.p1, s.p2));
    ivec2 hi = max(s.p0, max(s.p1, s.p2));
    // Pixels whose centers (i * 256 + 128) fall inside [lo, hi].
    s.box = ivec4(ceilDiv(lo.x - SUBPIXEL / 2, SUBPIXEL), ceilDiv(lo.y - SUBPIXEL / 2, SUBPIXEL),
                  floorDiv(hi.x - SUBPIXEL / 2, SUBPIXEL), floorDiv(hi.y - SUBPIXEL / 2, SUBPIXEL));
    s.box = ivec4(max(s.box.xy, ivec2(0)), min(s.box.zw, ivec2(int(pc.width) - 1, int(pc.bandHeight) - 1)));
    s.bias0 = fillBias(s.p1, s.p2);
    s.bias1 = fillBias(s.p2, s.p0);
    s.bias2 = fillBias(s.p0, s.p1);
    s.invArea = 1.0 / float(s.area);
    return s.box.x <= s.box.z && s.box.y <= s.box.w;
}

// Whether a clip-space vertex is inside the near plane and the guard band.
bool insideAll(vec3 c) {
    return c.z >= pc.near && abs(c.x) <= GUARD * c.z && abs(c.y) <= GUARD * c.z;
}

// Whether a triangle lies wholly outside one of those planes (clip-space
// corners): clipping would leave nothing of it.
bool outsideOnePlane(vec3 a, vec3 b, vec3 c) {
    vec3 x = vec3(a.x, b.x, c.x), y = vec3(a.y, b.y, c.y), w = vec3(a.z, b.z, c.z);
    return all(lessThan(w, vec3(pc.near))) || all(greaterThan(x, GUARD * w)) || all(lessThan(x, -GUARD * w))
        || all(greaterThan(y, GUARD * w)) || all(lessThan(y, -GUARD * w));
}

// Writes the visibility word of a covered pixel with edge values e0..e2.
void writePixel(Setup s, int x, int y, int64_t e0, int64_t e1, int64_t e2, uint id) {
    float b0 = float(e0) * s.invArea, b1 = float(e1) * s.invArea, b2 = float(e2) * s.invArea;
    float depth = 1.0 / (b0 * s.w0 + b1 * s.w1 + b2 * s.w2);
    if (!(depth > 0.0) || depth > pc.far) return;
    uint64_t key = (uint64_t(floatBitsToUint(depth)) << 32) | uint64_t(id);
    atomicMin(visibility[uint(y) * pc.width + uint(x)], key);
    touchTile(uint(y / TILE_SIDE) * pc.tilesX + uint(x / TILE_SIDE));
}

// Tests one pixel and, when covered and nearer, records the triangle.
void shadePixel(Setup s, int x, int y, uint id) {
    ivec2 p = ivec2(x * SUBPIXEL + SUBPIXEL / 2, y * SUBPIXEL + SUBPIXEL / 2);
    int64_t e0 = edge(s.p1, s.p2, p);
    int64_t e1 = edge(s.p2, s.p0, p);
    int64_t e2 = edge(s.p0, s.p1, p);
    if (e0 + s.bias0 < 0 || e1 + s.bias1 < 0 || e2 + s.bias2 < 0) return;
    writePixel(s, x, y, e0, e1, e2, id);
}

// Clip-space corners of triangle `local` of the chunk.
void loadCorners(uint local, out vec3 c0, out vec3 c1, out vec3 c2) {
    uvec3 corners = triangles[local];
    c0 = toClip(toView(corners.x));
    c1 = toClip(toView(corners.y));
    c2 = toClip(toView(corners.z));
}

// Tiles and edges, for the passes that work a triangle tile by tile
// (raster_large.comp, bin.comp).

// One edge over a tile: its value (with fill bias) at the tile's first
// pixel center and its steps per pixel, or, when the edge is inside or
// outside for the whole tile, a verdict instead.
struct TileEdge {
    int64_t start, stepX, stepY;
};

const int EDGE_INSIDE = 1;
const int EDGE_OUTSIDE = -1;
const int EDGE_CROSSES = 0;

// How far an edge's value can fall from a tile's first pixel to its
// lowest pixel (<= 0), and how much it varies across the tile.
int64_t tileReach(TileEdge e) { return (min(e.stepX, int64_t(0)) + min(e.stepY, int64_t(0))) * (TILE_SIDE - 1); }
int64_t tileSpan(TileEdge e) { return (abs(e.stepX) + abs(e.stepY)) * (TILE_SIDE - 1); }

int classifyEdge(ivec2 a, ivec2 b, int bias, ivec2 origin, out TileEdge e) {
    e.start = edge(a, b, origin * SUBPIXEL + SUBPIXEL / 2) + bias;
    e.stepX = -int64_t(b.y - a.y) * SUBPIXEL;
    e.stepY = int64_t(b.x - a.x) * SUBPIXEL;
    int64_t reach = tileReach(e);
    if (e.start + reach >= 0) return EDGE_INSIDE;
    if (e.start + reach + tileSpan(e) < 0) return EDGE_OUTSIDE;
    return EDGE_CROSSES;
}

// A triangle whose corners are less than NARROW apart on each axis (1/256
// pixel): an edge's steps per pixel are then below 2^27 each, and where it
// crosses a tile its values stay within 7 * 2^28 < 2^31 of zero, so 32-bit
// edge functions stepped across the tile are exact.
const int NARROW = 1 << 19;  // 2048 pixels

bool isNarrow(Setup s) {
    return max(max(abs(s.p1.x - s.p0.x), abs(s.p1.y - s.p0.y)),
               max(max(abs(s.p2.x - s.p1.x), abs(s.p2.y - s.p1.y)),
                   max(abs(s.p0.x - s.p2.x), abs(s.p0.y - s.p2.y)))) < NARROW;
}

// 1/w is linear in screen space: its gradients per 1/256 pixel, from the
// three edge functions' (b0 = e0 / area, ...). A pixel whose center is d
// (1/256 pixel) from p0 has depth 1 / (w0 + gx d.x + gy d.y).
vec2 inverseDepthGradient(Setup s) {
    float area = float(s.area);
    float gx = -(s.w0 * float(s.p2.y - s.p1.y) + s.w1 * float(s.p0.y - s.p2.y) + s.w2 * float(s.p1.y - s.p0.y)) / area;
    float gy = (s.w0 * float(s.p2.x - s.p1.x) + s.w1 * float(s.p0.x - s.p2.x) + s.w2 * float(s.p1.x - s.p0.x)) / area;
    return vec2(gx, gy);
}
