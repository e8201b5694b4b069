# install(...) + a package config, so that an installed copy works with
#   find_package(loramoe)                   + target_link_libraries(app PRIVATE loramoe::loramoe)
#   find_package(loramoe COMPONENTS cuda)   + target_link_libraries(app PRIVATE loramoe::cuda)
# The headers of include/loramoe, all but the CUDA backend's; those (cuda.hpp, cuda/) only with the
# static library loramoe::cuda, when it is built. So with the CUDA backend off a configured tree
# installs without building anything, and never ships a CUDA header without the library behind it.
# include/ is read when installing, so a header added since the last configure is installed too.
include(CMakePackageConfigHelpers)

install(DIRECTORY include/loramoe DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}
        FILES_MATCHING PATTERN "*.hpp"
        PATTERN "cuda" EXCLUDE
        PATTERN "cuda.hpp" EXCLUDE)
if(LORAMOE_CUDA_ENABLED)
    install(TARGETS loramoe loramoe_cuda EXPORT loramoeTargets)
    install(FILES include/loramoe/cuda.hpp DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/loramoe)
    install(DIRECTORY include/loramoe/cuda DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/loramoe
            FILES_MATCHING PATTERN "*.hpp")
else()
    install(TARGETS loramoe EXPORT loramoeTargets)
endif()

set(LORAMOE_CMAKE_DIR ${CMAKE_INSTALL_DATADIR}/cmake/loramoe)
install(EXPORT loramoeTargets NAMESPACE loramoe:: DESTINATION ${LORAMOE_CMAKE_DIR})
configure_package_config_file(cmake/loramoeConfig.cmake.in
    ${PROJECT_BINARY_DIR}/loramoeConfig.cmake
    INSTALL_DESTINATION ${LORAMOE_CMAKE_DIR})
# Without the CUDA backend the package is headers only, usable on any architecture; with it, it holds a
# library compiled for this one.
if(LORAMOE_CUDA_ENABLED)
    write_basic_package_version_file(${PROJECT_BINARY_DIR}/loramoeConfigVersion.cmake
        COMPATIBILITY SameMinorVersion)
else()
    write_basic_package_version_file(${PROJECT_BINARY_DIR}/loramoeConfigVersion.cmake
        COMPATIBILITY SameMinorVersion ARCH_INDEPENDENT)
endif()
install(FILES
    ${PROJECT_BINARY_DIR}/loramoeConfig.cmake
    ${PROJECT_BINARY_DIR}/loramoeConfigVersion.cmake
    cmake/loramoeXtlShim.cmake
    cmake/loramoeSentencePiece.cmake
    cmake/loramoeUnicode.cmake
    DESTINATION ${LORAMOE_CMAKE_DIR})
