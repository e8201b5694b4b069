# install(...) + a package config, so that an installed copy works with
#   find_package(loramoe) + target_link_libraries(app PRIVATE loramoe::loramoe)
include(CMakePackageConfigHelpers)

if(LORAMOE_CUDA_ENABLED)
    install(TARGETS loramoe loramoe_cuda EXPORT loramoeTargets)
else()
    install(TARGETS loramoe EXPORT loramoeTargets)
endif()
install(DIRECTORY include/loramoe DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})

set(LORAMOE_CMAKE_DIR ${CMAKE_INSTALL_DATADIR}/cmake/loramoe)
install(EXPORT loramoeTargets NAMESPACE loramoe:: DESTINATION ${LORAMOE_CMAKE_DIR})
configure_package_config_file(cmake/loramoeConfig.cmake.in
    ${PROJECT_BINARY_DIR}/loramoeConfig.cmake
    INSTALL_DESTINATION ${LORAMOE_CMAKE_DIR})
# Header-only: the package is usable on any architecture.
write_basic_package_version_file(${PROJECT_BINARY_DIR}/loramoeConfigVersion.cmake
    COMPATIBILITY SameMinorVersion ARCH_INDEPENDENT)
install(FILES
    ${PROJECT_BINARY_DIR}/loramoeConfig.cmake
    ${PROJECT_BINARY_DIR}/loramoeConfigVersion.cmake
    cmake/loramoeXtlShim.cmake
    cmake/loramoeSentencePiece.cmake
    DESTINATION ${LORAMOE_CMAKE_DIR})
