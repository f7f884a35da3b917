#version 450
// After the raster passes: turns the number of tiles they listed
// (tiles.glsl) into shade.comp's indirect dispatch, one workgroup per
// tile, folded into two dimensions to respect maxComputeWorkGroupCount.
layout(local_size_x = 1) in;

layout(std430, binding = 0) buffer TileList { uint tileList[]; };

void main() {
    uint n = tileList[0];
    uint x = min(n, 65535u);
    tileList[1] = x;
    tileList[2] = x == 0u ? 0u : (n + x - 1u) / x;
    tileList[3] = 1u;
}
