# SPDX-License-Identifier: Apache-2.0
# Install the C++ SDK: headers, the static library and the CMake package foveal::foveal.
# Destinations come from FOVEAL_INSTALL_INCLUDEDIR / FOVEAL_INSTALL_LIBDIR (top-level CMakeLists).
include(CMakePackageConfigHelpers)
set(_inc ${FOVEAL_INSTALL_INCLUDEDIR})
set(_lib ${FOVEAL_INSTALL_LIBDIR})
set(_cmake ${_lib}/cmake/foveal)

install(TARGETS foveal_core EXPORT fovealTargets
  ARCHIVE DESTINATION ${_lib} COMPONENT sdk
  LIBRARY DESTINATION ${_lib} COMPONENT sdk
  INCLUDES DESTINATION ${_inc})
install(DIRECTORY cpp/include/foveal DESTINATION ${_inc} COMPONENT sdk FILES_MATCHING PATTERN "*.hpp")
install(FILES ${PROJECT_BINARY_DIR}/generated/foveal/config.hpp DESTINATION ${_inc}/foveal COMPONENT sdk)
install(EXPORT fovealTargets NAMESPACE foveal:: DESTINATION ${_cmake} COMPONENT sdk)

configure_package_config_file(cmake/fovealConfig.cmake.in ${PROJECT_BINARY_DIR}/fovealConfig.cmake
  INSTALL_DESTINATION ${_cmake})
write_basic_package_version_file(${PROJECT_BINARY_DIR}/fovealConfigVersion.cmake COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/fovealConfig.cmake ${PROJECT_BINARY_DIR}/fovealConfigVersion.cmake
  DESTINATION ${_cmake} COMPONENT sdk)
