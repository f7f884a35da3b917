#ifndef MESHFARM_CVULKAN_SHIM_H
#define MESHFARM_CVULKAN_SHIM_H

#include <vulkan/vulkan.h>

#endif
