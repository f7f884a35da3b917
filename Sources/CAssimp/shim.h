#ifndef MESHFARM_CASSIMP_SHIM_H
#define MESHFARM_CASSIMP_SHIM_H

#include <assimp/cimport.h>
#include <assimp/scene.h>
#include <assimp/postprocess.h>
#include <assimp/version.h>
#include <assimp/cexport.h>
#include <assimp/cfileio.h>

#endif
