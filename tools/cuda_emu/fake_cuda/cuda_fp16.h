// cuda_fp16.h for the whole-file emulators: __half and its conversions live in emu_types.hpp.
#pragma once
#include "emu_types.hpp"
