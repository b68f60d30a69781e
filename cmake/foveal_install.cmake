# SPDX-License-Identifier: Apache-2.0
# Install the C++ SDK: headers, the static library and the CMake package foveal::foveal.
# In a wheel (scikit-build-core) everything goes under the Python package, so that
# foveal.get_cmake_dir() finds it; otherwise the usual GNU layout under CMAKE_INSTALL_PREFIX.
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)
if(DEFINED SKBUILD)
  set(_inc foveal/include)
  set(_lib foveal/lib)
else()
  set(_inc ${CMAKE_INSTALL_INCLUDEDIR})
  set(_lib ${CMAKE_INSTALL_LIBDIR})
endif()
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
