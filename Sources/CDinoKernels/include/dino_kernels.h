#pragma once
#include <stddef.h>
/// Name of the instruction set the kernels dispatched to ("avx512", "avx2" or "generic").
const char *dino_kernels_isa(void);
