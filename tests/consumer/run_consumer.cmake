# The packaging tests (tests/CMakeLists.txt): builds and runs tests/consumer/ against loramoe.
#   cmake -D MODE=install|subdirectory -D SOURCE_DIR=... -D BUILD_DIR=... -D WORK_DIR=...
#         -D GENERATOR=... -D CXX_COMPILER=... -P run_consumer.cmake
# install:      `cmake --install BUILD_DIR --prefix WORK_DIR/prefix`, then find_package(loramoe) from there;
# subdirectory: add_subdirectory(SOURCE_DIR) with loramoe's tests, tools, examples and benchmarks off.
# WORK_DIR is emptied first, so every run starts fresh.

foreach(variable MODE SOURCE_DIR BUILD_DIR WORK_DIR GENERATOR CXX_COMPILER)
    if(NOT DEFINED ${variable})
        message(FATAL_ERROR "run_consumer.cmake: -D ${variable}=... is required")
    endif()
endforeach()

function(run step)
    execute_process(COMMAND ${ARGN} RESULT_VARIABLE status OUTPUT_VARIABLE out ERROR_VARIABLE err)
    if(NOT status EQUAL 0)
        message(FATAL_ERROR "packaging (${MODE}): ${step} failed (${status}):\n${ARGN}\n${out}\n${err}")
    endif()
    message(STATUS "packaging (${MODE}): ${step}: ok")
    set(last_output "${out}" PARENT_SCOPE)
endfunction()

file(REMOVE_RECURSE "${WORK_DIR}")
file(MAKE_DIRECTORY "${WORK_DIR}")

set(configure_args -S "${SOURCE_DIR}/tests/consumer" -B "${WORK_DIR}/build" -G "${GENERATOR}"
    "-DCMAKE_CXX_COMPILER=${CXX_COMPILER}" -DCMAKE_EXPORT_COMPILE_COMMANDS=ON)   # no optimisation: compiles fastest
if(MODE STREQUAL "install")
    run("install" "${CMAKE_COMMAND}" --install "${BUILD_DIR}" --prefix "${WORK_DIR}/prefix")
    foreach(installed include/loramoe/loramoe.hpp include/loramoe/moe/loramoe_linear.hpp
                      share/cmake/loramoe/loramoeConfig.cmake share/cmake/loramoe/loramoeConfigVersion.cmake
                      share/cmake/loramoe/loramoeTargets.cmake)
        if(NOT EXISTS "${WORK_DIR}/prefix/${installed}")
            message(FATAL_ERROR "packaging (install): ${installed} was not installed")
        endif()
    endforeach()
    # Only the installed copy may be found: no package registry, the prefix first.
    list(APPEND configure_args -DLORAMOE_CONSUMER_MODE=package "-DCMAKE_PREFIX_PATH=${WORK_DIR}/prefix"
         -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF "-Dloramoe_DIR=${WORK_DIR}/prefix/share/cmake/loramoe")
elseif(MODE STREQUAL "subdirectory")
    list(APPEND configure_args -DLORAMOE_CONSUMER_MODE=subdirectory "-DLORAMOE_SOURCE_DIR=${SOURCE_DIR}")
else()
    message(FATAL_ERROR "run_consumer.cmake: MODE is install or subdirectory, not '${MODE}'")
endif()

run("configure" "${CMAKE_COMMAND}" ${configure_args})
run("build" "${CMAKE_COMMAND}" --build "${WORK_DIR}/build")
if(MODE STREQUAL "install")
    # The consumer compiled against the installed headers, not the source tree.
    file(READ "${WORK_DIR}/build/compile_commands.json" commands)
    string(FIND "${commands}" "${SOURCE_DIR}/include" source_include)
    string(FIND "${commands}" "${WORK_DIR}/prefix/include" installed_include)
    if(NOT source_include EQUAL -1 OR installed_include EQUAL -1)
        message(FATAL_ERROR "packaging (install): the consumer did not compile against the installed headers:\n${commands}")
    endif()
endif()
run("run" "${WORK_DIR}/build/app")
message(STATUS "${last_output}")
