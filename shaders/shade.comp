#version 450
// Pass 2: one thread per covered (supersampled) pixel, as listed by
// classify.comp (which also wrote the background, so no buffer needs
// clearing). Reads the visibility word, and for pixels owned by this
// chunk's triangles computes the surface normal (flat, or smooth from
// per-vertex normals with perspective-correct barycentrics from a
// ray/triangle intersection), a headlight + ambient term, optional
// wireframe, and writes color, depth and normal. Without supersampling
// this pass writes the final image directly and the resolve pass is
// skipped.

layout(local_size_x = 64) in;

layout(push_constant) uniform Params {
    vec4 viewRow0;
    vec4 viewRow1;
    vec4 viewRow2;
    float sx;
    float sy;
    float wireWidth;     // wireframe half-width in pixels; 0 disables it
    uint flags;          // bit 0: flat normals; bit 1: write depth; bit 2: write normals
    uint width;
    uint height;
    uint bandY0;
    uint bandHeight;
    uint triangleBase;
    uint triangleCount;
    uint outputOffset;   // first element of this band in the color/depth/normal buffers
    uint pad1;
} pc;

layout(std430, binding = 0) readonly buffer Positions { float positions[]; };
layout(std430, binding = 1) readonly buffer Indices { uint indices[]; };
layout(std430, binding = 2) readonly buffer Visibility { uvec2 visibility[]; };  // (triangle id, depth bits)
layout(std430, binding = 3) readonly buffer Normals { float normals[]; };
layout(std430, binding = 4) writeonly buffer Color { uint color[]; };
layout(std430, binding = 5) writeonly buffer Depth { float depth[]; };
layout(std430, binding = 6) writeonly buffer NormalOut { uint normalOut[]; };
layout(std430, binding = 7) readonly buffer Covered { uint covered[]; };
layout(std430, binding = 8) readonly buffer ShadeCounters { uint shadeCounters[]; };

vec3 worldPosition(uint v) { return vec3(positions[3 * v], positions[3 * v + 1], positions[3 * v + 2]); }
vec3 vertexNormal(uint v) { return vec3(normals[3 * v], normals[3 * v + 1], normals[3 * v + 2]); }
vec3 toView(vec3 p) {
    vec4 q = vec4(p, 1.0);
    return vec3(dot(pc.viewRow0, q), dot(pc.viewRow1, q), dot(pc.viewRow2, q));
}
vec3 rotateToView(vec3 n) { return vec3(dot(pc.viewRow0.xyz, n), dot(pc.viewRow1.xyz, n), dot(pc.viewRow2.xyz, n)); }

uint packColor(vec4 c) {
    uvec4 u = uvec4(round(clamp(c, 0.0, 1.0) * 255.0));
    return u.r | (u.g << 8) | (u.b << 16) | (u.a << 24);
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

void main() {
    uint slot = (gl_WorkGroupID.x + gl_WorkGroupID.y * gl_NumWorkGroups.x) * 64u + gl_LocalInvocationIndex;
    if (slot >= shadeCounters[0]) return;
    uint index = covered[slot];
    uvec2 pixel = uvec2(index % pc.width, index / pc.width);
    uvec2 word = visibility[index];
    uint outIndex = pc.outputOffset + index;
    uint id = word.x;
    if (id < pc.triangleBase || id - pc.triangleBase >= pc.triangleCount) return;
    uint local = id - pc.triangleBase;
    uint i0 = indices[3 * local], i1 = indices[3 * local + 1], i2 = indices[3 * local + 2];
    vec3 w0 = worldPosition(i0), w1 = worldPosition(i1), w2 = worldPosition(i2);
    vec3 v0 = toView(w0), v1 = toView(w1), v2 = toView(w2);

    // Ray from the eye (view origin) through the pixel center.
    vec2 center = vec2(pixel) + 0.5 + vec2(0.0, float(pc.bandY0));
    vec2 ndc = vec2(center.x / float(pc.width) * 2.0 - 1.0, 1.0 - center.y / float(pc.height) * 2.0);
    vec3 ray = vec3(ndc.x / pc.sx, ndc.y / pc.sy, -1.0);
    // Moller-Trumbore barycentrics (exact, whatever clipping did in pass 1).
    vec3 e1 = v1 - v0, e2 = v2 - v0;
    vec3 pv = cross(ray, e2);
    float det = dot(e1, pv);
    float u = 0.0, v = 0.0;
    if (abs(det) > 1e-30) {
        u = clamp(dot(-v0, pv) / det, 0.0, 1.0);
        v = clamp(dot(ray, cross(-v0, e1)) / det, 0.0, 1.0 - u);
    }

    vec3 faceNormal = cross(e1, e2);  // view space
    vec3 n;
    if ((pc.flags & 1u) != 0u || length(faceNormal) == 0.0) {
        n = faceNormal;
    } else {
        vec3 smoothNormal = vertexNormal(i0) * (1.0 - u - v) + vertexNormal(i1) * u + vertexNormal(i2) * v;
        n = rotateToView(smoothNormal);
        // A smooth normal must stay on the face's side.
        if (dot(n, faceNormal) < 0.0) n = -n;
    }
    n = length(n) > 0.0 ? normalize(n) : vec3(0.0, 0.0, 1.0);
    vec3 toEye = normalize(-ray);
    bool backFace = dot(faceNormal, toEye) < 0.0;
    if (backFace) n = -n;

    // Headlight plus ambient; back faces (seen through holes) are tinted.
    float diffuse = max(dot(n, toEye), 0.0);
    vec3 albedo = backFace ? vec3(0.75, 0.45, 0.40) : vec3(0.78, 0.78, 0.80);
    vec3 rgb = albedo * (0.22 + 0.78 * diffuse);

    if (pc.wireWidth > 0.0 && v0.z < 0.0 && v1.z < 0.0 && v2.z < 0.0) {
        vec2 s0 = toScreen(v0), s1 = toScreen(v1), s2 = toScreen(v2);
        float d = min(distanceToSegment(center, s0, s1), min(distanceToSegment(center, s1, s2), distanceToSegment(center, s2, s0)));
        if (d < pc.wireWidth) rgb = mix(rgb, vec3(0.08, 0.10, 0.14), 0.85);
    }

    color[outIndex] = packColor(vec4(rgb, 1.0));
    if ((pc.flags & 2u) != 0u) depth[outIndex] = uintBitsToFloat(word.y);
    if ((pc.flags & 4u) == 0u) return;
    // World-space normal, facing the camera.
    vec3 worldN = vec3(dot(vec3(pc.viewRow0.x, pc.viewRow1.x, pc.viewRow2.x), n),
                       dot(vec3(pc.viewRow0.y, pc.viewRow1.y, pc.viewRow2.y), n),
                       dot(vec3(pc.viewRow0.z, pc.viewRow1.z, pc.viewRow2.z), n));
    normalOut[outIndex] = packColor(vec4(normalize(worldN) * 0.5 + 0.5, 1.0));
}
