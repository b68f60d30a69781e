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

# A CUDA build ships the CUDA runtime's static library beside libfoveal.a (redistributable under
# the CUDA EULA, Attachment A), so that find_package(foveal) needs no CUDA toolkit.
set(FOVEAL_CUDART_FILE "")
if(FOVEAL_WITH_CUDA)
  get_filename_component(_cudart "${CUDA_cudart_static_LIBRARY}" REALPATH)
  if(NOT EXISTS "${_cudart}")
    message(FATAL_ERROR "the CUDA runtime static library was not found (CUDA_cudart_static_LIBRARY='${CUDA_cudart_static_LIBRARY}')")
  endif()
  get_filename_component(FOVEAL_CUDART_FILE "${CUDA_cudart_static_LIBRARY}" NAME)
  install(FILES "${_cudart}" DESTINATION ${_lib} RENAME ${FOVEAL_CUDART_FILE} COMPONENT sdk)
endif()
set(FOVEAL_PACKAGE_LIBDIR ${_lib})
configure_package_config_file(cmake/fovealConfig.cmake.in ${PROJECT_BINARY_DIR}/fovealConfig.cmake
  INSTALL_DESTINATION ${_cmake} PATH_VARS FOVEAL_PACKAGE_LIBDIR)
write_basic_package_version_file(${PROJECT_BINARY_DIR}/fovealConfigVersion.cmake COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/fovealConfig.cmake ${PROJECT_BINARY_DIR}/fovealConfigVersion.cmake
  DESTINATION ${_cmake} COMPONENT sdk)
