#version 450
// Device self-test: each invocation writes a known function of its global id,
// so the host can check that dispatch, indexing and readback all work.
// Used by the GPU worker's readiness probe and by the foundation test.
layout(local_size_x = 64) in;

layout(std430, binding = 0) writeonly buffer Output { uint values[]; };

layout(push_constant) uniform Constants {
    uint count;   // elements to write
    uint seed;    // mixed in so a stale buffer cannot pass the check
};

void main() {
    uint i = gl_GlobalInvocationID.x + gl_GlobalInvocationID.y * gl_NumWorkGroups.x * 64u;
    if (i >= count) return;
    values[i] = (i * 2654435761u) ^ seed;
}
