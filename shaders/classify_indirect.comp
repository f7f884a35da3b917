#version 450
// Turns the length of classify.comp's covered-pixel list into shade.comp's
// indirect dispatch: 64 pixels a workgroup, folded into two dimensions to
// respect maxComputeWorkGroupCount.
layout(local_size_x = 1) in;

layout(std430, binding = 0) buffer ShadeCounters { uint shadeCounters[]; };

void main() {
    uint groups = (shadeCounters[0] + 63u) / 64u;
    uint x = min(groups, 65535u);
    shadeCounters[1] = x;
    shadeCounters[2] = x == 0u ? 0u : (groups + x - 1u) / x;
    shadeCounters[3] = 1u;
}
