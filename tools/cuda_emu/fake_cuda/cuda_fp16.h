// cuda_fp16.h for the whole-file emulators: the 16-bit types and conversions live in emu_types.hpp.
#pragma once
#include "emu_types.hpp"
