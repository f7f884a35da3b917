/// SPIR-V of the graphics pipeline's shaders (`shaders/reference.*`),
/// compiled at build time by the `ShaderCompiler` plugin.
enum SPIRV {}
