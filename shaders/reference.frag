#version 450
// The compute path's flat shading (shading.glsl), so the baseline does the
// same work and draws the same image: headlight plus ambient on the face
// normal (here from screen-space derivatives of the view-space position),
// back faces tinted; plus linear depth in a second attachment.
layout(location = 0) in float viewDepth;
layout(location = 1) in vec3 viewPosition;
layout(location = 0) out vec4 color;
layout(location = 1) out float depthOut;

void main() {
    vec3 n = normalize(cross(dFdx(viewPosition), dFdy(viewPosition)));
    vec3 toEye = normalize(-viewPosition);
    float diffuse = abs(dot(n, toEye));
    vec3 albedo = gl_FrontFacing ? vec3(0.78, 0.78, 0.80) : vec3(0.75, 0.45, 0.40);
    color = vec4(albedo * (0.22 + 0.78 * diffuse), 1.0);
    depthOut = viewDepth;
}
