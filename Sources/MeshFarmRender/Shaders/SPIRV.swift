/// SPIR-V modules compiled from `shaders/` at build time by the
/// `ShaderCompiler` plugin; each shader becomes a static `[UInt32]` member
/// (`raster.comp` -> `SPIRV.rasterComp`).
enum SPIRV {}
