// SPDX-License-Identifier: Apache-2.0
// Umbrella header of the foveal C++ SDK.
#pragma once
#include "foveal/build_info.hpp"
#include "foveal/config.hpp"
#include "foveal/core/device.hpp"
#include "foveal/core/dtype.hpp"
#include "foveal/core/error.hpp"
#include "foveal/core/exec_context.hpp"
#include "foveal/core/tensor_view.hpp"
#include "foveal/ops/box_iou.hpp"
#include "foveal/ops/box_iou_variants.hpp"
#include "foveal/ops/nms.hpp"
#include "foveal/ops/roi_align.hpp"
#include "foveal/ops/roi_pool.hpp"
#include "foveal/ops/tv.hpp"
#include "foveal/ops/rl.hpp"
#include "foveal/ops/bilateral.hpp"
#include "foveal/ops/pool.hpp"
