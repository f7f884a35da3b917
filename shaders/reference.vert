#version 450
// Graphics-pipeline reference: the same cameras through Vulkan's
// fixed-function rasterizer. Outputs linear view depth for comparison.
layout(push_constant) uniform Params {
    mat4 viewProjection;  // column-major, Vulkan clip space (y down, z in [0, 1])
    vec4 viewRow2;        // third row of the view matrix: view z = dot(viewRow2, p)
} pc;

layout(location = 0) in vec3 position;
layout(location = 0) out float viewDepth;
layout(location = 1) out vec3 viewPosition;

void main() {
    vec4 p = vec4(position, 1.0);
    gl_Position = pc.viewProjection * p;
    viewDepth = -dot(pc.viewRow2, p);
    viewPosition = p.xyz;
}
