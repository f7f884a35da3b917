#version 450
// Between rasterization and shading: one thread per (supersampled) pixel of
// the band. Background pixels get their final values here (transparent
// black, depth 0, normal 0); covered pixels are appended to a list that
// `shade.comp` works through, one thread per listed pixel.
//
// Why a separate pass: lavapipe runs every invocation through the whole
// shader body, masked or not, so a full-screen shading pass costs the full
// shading math for every pixel, covered or not (~45 ns a pixel, ~45 ms at
// 1024x1024 on two cores). This pass is a few instructions a pixel; the
// expensive shading then runs only where a triangle is visible.

layout(local_size_x = 64) in;

layout(push_constant) uniform Params {
    uint width;          // pixels per (supersampled) row
    uint bandHeight;     // rows in the band
    uint outputOffset;   // first element of this band in the color/depth/normal buffers
    uint flags;          // bit 1: write depth; bit 2: write normals (as in shade.comp)
} pc;

layout(std430, binding = 0) readonly buffer Visibility { uvec2 visibility[]; };  // (triangle id, depth bits)
layout(std430, binding = 1) writeonly buffer Color { uint color[]; };
layout(std430, binding = 2) writeonly buffer Depth { float depth[]; };
layout(std430, binding = 3) writeonly buffer NormalOut { uint normalOut[]; };
layout(std430, binding = 4) writeonly buffer Covered { uint covered[]; };
// shadeCounters[0]: pixels in the list; [1..3]: shade.comp's dispatch.
layout(std430, binding = 5) buffer ShadeCounters { uint shadeCounters[]; };

void main() {
    uint index = gl_GlobalInvocationID.x + gl_GlobalInvocationID.y * gl_NumWorkGroups.x * 64u;
    if (index >= pc.width * pc.bandHeight) return;
    if (visibility[index].x != 0xFFFFFFFFu) {
        covered[atomicAdd(shadeCounters[0], 1u)] = index;
        return;
    }
    uint outIndex = pc.outputOffset + index;
    color[outIndex] = 0u;
    if ((pc.flags & 2u) != 0u) depth[outIndex] = 0.0;
    if ((pc.flags & 4u) != 0u) normalOut[outIndex] = 0u;
}
