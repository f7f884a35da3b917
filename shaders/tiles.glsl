// The 8x8 tiles of a band: the raster passes list every tile they write a
// pixel of, and shade.comp visits only the listed tiles. The includer
// defines TILE_BINDING (the first of two consecutive bindings).
//
//  - tiles[t]: 1 once tile t is listed; zeroed before each band.
//  - tileList[0]: tiles listed, [1..3]: the indirect dispatch of shade.comp
//    (written by tile_indirect.comp) or fused.comp (counted by bin.comp);
//    the listed tiles from [TILE_LIST_HEADER].

const int TILE_SIDE = 8;
const uint TILE_LIST_HEADER = 4u;

layout(std430, binding = TILE_BINDING) buffer Tiles { uint tiles[]; };
layout(std430, binding = TILE_BINDING + 1) buffer TileList { uint tileList[]; };

// Puts tile t in the list the first time it is touched.
void touchTile(uint t) {
    if (tiles[t] == 0u && atomicExchange(tiles[t], 1u) == 0u) {
        tileList[TILE_LIST_HEADER + atomicAdd(tileList[0], 1u)] = t;
    }
}
