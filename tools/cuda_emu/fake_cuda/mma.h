// mma.h for the whole-file emulators: shim.hpp's nvcuda::wmma (a full tile copy per thread).
#pragma once
#include "emu_types.hpp"
#include "shim.hpp"
