#version 450
// After the raster passes: turns the number of tiles they listed
// (tiles.glsl) into the indirect dispatch of shade.comp (pc.tilesPerGroup
// tiles a workgroup: 1), folded into two dimensions to respect
// maxComputeWorkGroupCount. (bin.comp counts fused.comp's workgroups
// itself.)
layout(local_size_x = 1) in;

layout(push_constant) uniform Params { uint tilesPerGroup; } pc;

layout(std430, binding = 0) buffer TileList { uint tileList[]; };

void main() {
    uint n = (tileList[0] + pc.tilesPerGroup - 1u) / pc.tilesPerGroup;
    uint x = min(n, 65535u);
    tileList[1] = x;
    tileList[2] = x == 0u ? 0u : (n + x - 1u) / x;
    tileList[3] = 1u;
}
