// Shading shared by shade.comp (after the visibility buffer) and
// fused.comp (the binned path): the ray through a pixel, the normal that
// lights it, headlight + ambient with back faces tinted, and the packing of
// colors and world-space normals. The includer declares `pc` with
// viewRow0..2 (world -> view rows), sx, sy, width, height and bandY0.

// Ray from the eye (view origin) through the center of band pixel `pixel`.
vec3 pixelRay(uvec2 pixel) {
    vec2 center = vec2(pixel) + 0.5 + vec2(0.0, float(pc.bandY0));
    vec2 ndc = vec2(center.x / float(pc.width) * 2.0 - 1.0, 1.0 - center.y / float(pc.height) * 2.0);
    return vec3(ndc.x / pc.sx, ndc.y / pc.sy, -1.0);
}

// A packed vertex normal (PackedNormal.swift: octahedral, 16-bit snorm
// each; 0x80008000 = no normal, decoded as zero).
vec3 decodeNormal(uint bits) {
    vec2 e = unpackSnorm2x16(bits);
    vec3 n = vec3(e, 1.0 - abs(e.x) - abs(e.y));
    float t = max(-n.z, 0.0);
    n.xy += vec2(n.x >= 0.0 ? -t : t, n.y >= 0.0 ? -t : t);
    return bits == 0x80008000u ? vec3(0.0) : normalize(n);
}

vec3 rotateToView(vec3 n) { return vec3(dot(pc.viewRow0.xyz, n), dot(pc.viewRow1.xyz, n), dot(pc.viewRow2.xyz, n)); }

// The unit normal that lights a pixel (view space): the face normal when
// flat or when the face is degenerate, else the interpolated vertex normal
// (any positive scale) turned to the face's side; +Z when it is zero.
vec3 lightingNormal(vec3 faceNormal, vec3 smoothNormal, bool flatShading) {
    vec3 n;
    if (flatShading || length(faceNormal) == 0.0) {
        n = faceNormal;
    } else {
        n = dot(smoothNormal, faceNormal) < 0.0 ? -smoothNormal : smoothNormal;
    }
    return length(n) > 0.0 ? normalize(n) : vec3(0.0, 0.0, 1.0);
}

// Headlight plus ambient for unit normal n on a face with normal
// faceNormal seen along ray; back faces (seen through holes in scans) are
// tinted. n is turned to face the eye.
vec3 headlight(inout vec3 n, vec3 faceNormal, vec3 ray) {
    vec3 toEye = normalize(-ray);
    bool backFace = dot(faceNormal, toEye) < 0.0;
    if (backFace) n = -n;
    float diffuse = max(dot(n, toEye), 0.0);
    vec3 albedo = backFace ? vec3(0.75, 0.45, 0.40) : vec3(0.78, 0.78, 0.80);
    return albedo * (0.22 + 0.78 * diffuse);
}

uint packColor(vec4 c) {
    uvec4 u = uvec4(round(clamp(c, 0.0, 1.0) * 255.0));
    return u.r | (u.g << 8) | (u.b << 16) | (u.a << 24);
}

// A view-space unit normal as a world-space normal map color.
uint packWorldNormal(vec3 n) {
    vec3 worldN = vec3(dot(vec3(pc.viewRow0.x, pc.viewRow1.x, pc.viewRow2.x), n),
                       dot(vec3(pc.viewRow0.y, pc.viewRow1.y, pc.viewRow2.y), n),
                       dot(vec3(pc.viewRow0.z, pc.viewRow1.z, pc.viewRow2.z), n));
    return packColor(vec4(normalize(worldN) * 0.5 + 0.5, 1.0));
}
