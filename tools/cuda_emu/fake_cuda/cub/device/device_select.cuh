// Stand-in CUB header for the emulators (see ../cub_fake.hpp).
#pragma once
#include "../cub_fake.hpp"
