// cuda_bf16.h for the whole-file emulators: __nv_bfloat16 and its conversions live in emu_types.hpp.
#pragma once
#include "emu_types.hpp"
