#version 450
// Graphics-pipeline reference: the same cameras through Vulkan's
// fixed-function rasterizer. Outputs linear view depth for comparison and
// the view-space position the fragment shader lights.
layout(push_constant) uniform Params {
    mat4 viewProjection;  // column-major, Vulkan clip space (y down, z in [0, 1])
    vec4 viewRow0;        // rows of the world -> view matrix
    vec4 viewRow1;
    vec4 viewRow2;
} pc;

layout(location = 0) in vec3 position;
layout(location = 0) out float viewDepth;
layout(location = 1) out vec3 viewPosition;

void main() {
    vec4 p = vec4(position, 1.0);
    gl_Position = pc.viewProjection * p;
    viewPosition = vec3(dot(pc.viewRow0, p), dot(pc.viewRow1, p), dot(pc.viewRow2, p));
    viewDepth = -viewPosition.z;
}
