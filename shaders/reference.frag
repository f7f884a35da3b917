#version 450
// Flat headlight shading from screen-space derivatives (comparable work to
// the compute path's shading) plus linear depth in a second attachment.
layout(location = 0) in float viewDepth;
layout(location = 1) in vec3 worldPosition;
layout(location = 0) out vec4 color;
layout(location = 1) out float depthOut;

void main() {
    vec3 n = normalize(cross(dFdx(worldPosition), dFdy(worldPosition)));
    float shade = 0.22 + 0.78 * abs(n.z);
    color = vec4(vec3(0.78) * shade, 1.0);
    depthOut = viewDepth;
}
