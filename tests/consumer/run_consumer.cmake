# The packaging tests (tests/CMakeLists.txt): builds and runs tests/consumer/ against loramoe.
#   cmake -D MODE=install|header-only|subdirectory -D SOURCE_DIR=... -D BUILD_DIR=... -D WORK_DIR=...
#         -D GENERATOR=... -D CXX_COMPILER=... [-D CUDA=ON] -P run_consumer.cmake
# install:      `cmake --install BUILD_DIR --prefix WORK_DIR/prefix`, then find_package(loramoe) from
#               there; with CUDA=ON (BUILD_DIR has the CUDA backend) the consumer's cuda_app too;
# header-only:  configures SOURCE_DIR afresh with the CUDA backend, tests, tools, examples and
#               benchmarks off, installs it without building anything, checks that only headers and no
#               CUDA header came, then find_package(loramoe) from there;
# subdirectory: add_subdirectory(SOURCE_DIR) with loramoe's tests, tools, examples and benchmarks off.
# WORK_DIR is emptied first, so every run starts fresh.

foreach(variable MODE SOURCE_DIR BUILD_DIR WORK_DIR GENERATOR CXX_COMPILER)
    if(NOT DEFINED ${variable})
        message(FATAL_ERROR "run_consumer.cmake: -D ${variable}=... is required")
    endif()
endforeach()
if(NOT MODE STREQUAL "install")
    set(CUDA OFF)
endif()

function(run step)
    execute_process(COMMAND ${ARGN} RESULT_VARIABLE status OUTPUT_VARIABLE out ERROR_VARIABLE err)
    if(NOT status EQUAL 0)
        message(FATAL_ERROR "packaging (${MODE}): ${step} failed (${status}):\n${ARGN}\n${out}\n${err}")
    endif()
    message(STATUS "packaging (${MODE}): ${step}: ok")
    set(last_output "${out}" PARENT_SCOPE)
endfunction()

# expect_installed(PRESENT paths... ABSENT paths...): fails unless each PRESENT path and no ABSENT
# path is in the prefix.
function(expect_installed)
    cmake_parse_arguments(PARSE_ARGV 0 expect "" "" "PRESENT;ABSENT")
    foreach(path IN LISTS expect_PRESENT)
        if(NOT EXISTS "${WORK_DIR}/prefix/${path}")
            message(FATAL_ERROR "packaging (${MODE}): ${path} was not installed")
        endif()
    endforeach()
    foreach(path IN LISTS expect_ABSENT)
        if(EXISTS "${WORK_DIR}/prefix/${path}")
            message(FATAL_ERROR "packaging (${MODE}): ${path} was installed, and should not be")
        endif()
    endforeach()
endfunction()

file(REMOVE_RECURSE "${WORK_DIR}")
file(MAKE_DIRECTORY "${WORK_DIR}")

set(configure_args -S "${SOURCE_DIR}/tests/consumer" -B "${WORK_DIR}/build" -G "${GENERATOR}"
    "-DCMAKE_CXX_COMPILER=${CXX_COMPILER}" -DCMAKE_EXPORT_COMPILE_COMMANDS=ON)   # no optimisation: compiles fastest
set(package_files share/cmake/loramoe/loramoeConfig.cmake share/cmake/loramoe/loramoeConfigVersion.cmake
                  share/cmake/loramoe/loramoeTargets.cmake)
if(MODE STREQUAL "install" OR MODE STREQUAL "header-only")
    if(MODE STREQUAL "header-only")
        set(BUILD_DIR "${WORK_DIR}/loramoe")
        run("configure loramoe" "${CMAKE_COMMAND}" -S "${SOURCE_DIR}" -B "${BUILD_DIR}" -G "${GENERATOR}"
            "-DCMAKE_CXX_COMPILER=${CXX_COMPILER}" -DLORAMOE_CUDA=OFF -DLORAMOE_BUILD_TESTS=OFF
            -DLORAMOE_BUILD_TOOLS=OFF -DLORAMOE_BUILD_EXAMPLES=OFF -DLORAMOE_BUILD_BENCHMARKS=OFF)
    endif()
    run("install" "${CMAKE_COMMAND}" --install "${BUILD_DIR}" --prefix "${WORK_DIR}/prefix")
    set(headers include/loramoe/loramoe.hpp include/loramoe/core/tensor.hpp include/loramoe/moe/loramoe_linear.hpp)
    if(CUDA)
        file(GLOB_RECURSE library RELATIVE "${WORK_DIR}/prefix" "${WORK_DIR}/prefix/*loramoe_cuda*")
        expect_installed(PRESENT ${headers} ${package_files} include/loramoe/cuda.hpp include/loramoe/cuda/memory.hpp
                                 ${library})
        if(NOT library)
            message(FATAL_ERROR "packaging (${MODE}): the loramoe_cuda library was not installed")
        endif()
    else()
        expect_installed(PRESENT ${headers} ${package_files} ABSENT include/loramoe/cuda.hpp include/loramoe/cuda)
    endif()
    # Headers only in include/ (no .cu or .cpp), and no library but the CUDA backend's.
    file(GLOB_RECURSE installed RELATIVE "${WORK_DIR}/prefix" "${WORK_DIR}/prefix/*")
    list(FILTER installed EXCLUDE REGEX "^include/loramoe/.*\\.hpp$|^share/cmake/loramoe/[A-Za-z-]+\\.cmake$")
    if(CUDA)
        list(FILTER installed EXCLUDE REGEX "loramoe_cuda")
    endif()
    if(installed)
        message(FATAL_ERROR "packaging (${MODE}): installed, and should not be: ${installed}")
    endif()
    # Only the installed copy may be found: no package registry, the prefix first.
    list(APPEND configure_args -DLORAMOE_CONSUMER_MODE=package "-DCMAKE_PREFIX_PATH=${WORK_DIR}/prefix"
         -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF "-Dloramoe_DIR=${WORK_DIR}/prefix/share/cmake/loramoe"
         -DLORAMOE_CONSUMER_CUDA=${CUDA})
elseif(MODE STREQUAL "subdirectory")
    list(APPEND configure_args -DLORAMOE_CONSUMER_MODE=subdirectory "-DLORAMOE_SOURCE_DIR=${SOURCE_DIR}")
else()
    message(FATAL_ERROR "run_consumer.cmake: MODE is install, header-only or subdirectory, not '${MODE}'")
endif()

run("configure" "${CMAKE_COMMAND}" ${configure_args})
run("build" "${CMAKE_COMMAND}" --build "${WORK_DIR}/build")
if(NOT MODE STREQUAL "subdirectory")
    # The consumer compiled against the installed headers, not the source tree.
    file(READ "${WORK_DIR}/build/compile_commands.json" commands)
    string(FIND "${commands}" "${SOURCE_DIR}/include" source_include)
    string(FIND "${commands}" "${WORK_DIR}/prefix/include" installed_include)
    if(NOT source_include EQUAL -1 OR installed_include EQUAL -1)
        message(FATAL_ERROR "packaging (${MODE}): the consumer did not compile against the installed headers:\n${commands}")
    endif()
endif()
run("run" "${WORK_DIR}/build/app")
message(STATUS "${last_output}")
if(CUDA)
    run("run cuda_app" "${WORK_DIR}/build/cuda_app")
    message(STATUS "${last_output}")
endif()
