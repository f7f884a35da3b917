#version 450
// Pass 3 (supersampling only): box-filters k x k samples into one output pixel. Color is
// averaged with premultiplied alpha (so edges against the transparent
// background keep their color and get fractional alpha); depth is the
// nearest covered sample's; normals are the average of covered samples.
layout(local_size_x = 8, local_size_y = 8) in;

layout(push_constant) uniform Params {
    uint outWidth;    // output pixels per row
    uint outRows;     // output rows in this band
    uint factor;      // k
    uint outRow0;     // first output row of this band
    uint flags;       // bit 1: depth, bit 2: normals (as in shade.comp)
    uint pad0;
    uint pad1;
    uint pad2;
} pc;

layout(std430, binding = 0) readonly buffer Color { uint color[]; };
layout(std430, binding = 1) readonly buffer Depth { float depth[]; };
layout(std430, binding = 2) readonly buffer NormalIn { uint normalIn[]; };
layout(std430, binding = 3) writeonly buffer OutColor { uint outColor[]; };
layout(std430, binding = 4) writeonly buffer OutDepth { float outDepth[]; };
layout(std430, binding = 5) writeonly buffer OutNormal { uint outNormal[]; };

vec4 unpack(uint c) { return vec4(c & 0xFFu, (c >> 8) & 0xFFu, (c >> 16) & 0xFFu, c >> 24) / 255.0; }
uint pack(vec4 c) {
    uvec4 u = uvec4(round(clamp(c, 0.0, 1.0) * 255.0));
    return u.r | (u.g << 8) | (u.b << 16) | (u.a << 24);
}

void main() {
    uvec2 o = gl_GlobalInvocationID.xy;
    if (o.x >= pc.outWidth || o.y >= pc.outRows) return;
    uint k = pc.factor;
    uint inWidth = pc.outWidth * k;
    vec4 sum = vec4(0.0);
    vec3 normalSum = vec3(0.0);
    float nearest = 0.0;
    for (uint dy = 0u; dy < k; ++dy) {
        for (uint dx = 0u; dx < k; ++dx) {
            uint i = (o.y * k + dy) * inWidth + o.x * k + dx;
            vec4 c = unpack(color[i]);
            sum += vec4(c.rgb * c.a, c.a);
            if (c.a > 0.0 && (pc.flags & 2u) != 0u) {
                float d = depth[i];
                nearest = nearest == 0.0 ? d : min(nearest, d);
            }
            if (c.a > 0.0 && (pc.flags & 4u) != 0u) normalSum += unpack(normalIn[i]).xyz * 2.0 - 1.0;
        }
    }
    uint out_i = (pc.outRow0 + o.y) * pc.outWidth + o.x;
    float alpha = sum.a / float(k * k);
    outColor[out_i] = sum.a > 0.0 ? pack(vec4(sum.rgb / sum.a, alpha)) : 0u;
    if ((pc.flags & 2u) != 0u) outDepth[out_i] = nearest;
    if ((pc.flags & 4u) != 0u) outNormal[out_i] = sum.a > 0.0 ? pack(vec4(normalize(normalSum) * 0.5 + 0.5, 1.0)) : 0u;
}
