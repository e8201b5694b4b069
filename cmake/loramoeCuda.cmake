# The CUDA backend: its kernels (src/cuda/), compiled by nvcc into the static library loramoe::cuda,
# beside the header-only library; their declarations in include/loramoe/cuda/ and cuda.hpp belong to
# it and are installed with it only. LORAMOE_CUDA = AUTO (on when nvcc is found), ON or OFF.
# Architectures: those of the GPUs of the building machine, plus sm_90 (H100/H200), unless the user
# sets CMAKE_CUDA_ARCHITECTURES.

set(LORAMOE_CUDA AUTO CACHE STRING "Build the CUDA backend: AUTO (when nvcc is found), ON or OFF")
set_property(CACHE LORAMOE_CUDA PROPERTY STRINGS AUTO ON OFF)

set(LORAMOE_CUDA_ENABLED OFF)
if(LORAMOE_CUDA STREQUAL "AUTO")
    include(CheckLanguage)
    check_language(CUDA)
    if(CMAKE_CUDA_COMPILER)
        set(LORAMOE_CUDA_ENABLED ON)
    else()
        message(STATUS "loramoe: no CUDA compiler found, the CUDA backend is not built")
    endif()
elseif(LORAMOE_CUDA)
    set(LORAMOE_CUDA_ENABLED ON)
endif()

if(LORAMOE_CUDA_ENABLED)
    if(NOT DEFINED CMAKE_CUDA_ARCHITECTURES)
        set(architectures 90)
        find_program(LORAMOE_NVIDIA_SMI nvidia-smi)
        if(LORAMOE_NVIDIA_SMI)
            execute_process(COMMAND ${LORAMOE_NVIDIA_SMI} --query-gpu=compute_cap --format=csv,noheader
                            OUTPUT_VARIABLE capabilities RESULT_VARIABLE status ERROR_QUIET)
            if(status EQUAL 0)
                string(REPLACE "." "" capabilities "${capabilities}")
                string(REGEX MATCHALL "[0-9]+" capabilities "${capabilities}")
                list(APPEND architectures ${capabilities})
            endif()
        endif()
        list(REMOVE_DUPLICATES architectures)
        set(CMAKE_CUDA_ARCHITECTURES ${architectures})
    endif()
    enable_language(CUDA)
    find_package(CUDAToolkit REQUIRED)
    # CMake 3.25 does not know that nvcc >= 12 takes -std=c++20: tell it.
    if(NOT CMAKE_CUDA20_STANDARD_COMPILE_OPTION)
        set(CMAKE_CUDA20_STANDARD_COMPILE_OPTION "-std=c++20")
        set(CMAKE_CUDA20_EXTENSION_COMPILE_OPTION "-std=c++20")
        list(APPEND CMAKE_CUDA_COMPILE_FEATURES cuda_std_20)
    endif()
    message(STATUS "loramoe: CUDA backend on, architectures ${CMAKE_CUDA_ARCHITECTURES}")

    file(GLOB LORAMOE_CUDA_SOURCES CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/src/cuda/*.cu)
    add_library(loramoe_cuda STATIC ${LORAMOE_CUDA_SOURCES})
    add_library(loramoe::cuda ALIAS loramoe_cuda)
    set_target_properties(loramoe_cuda PROPERTIES EXPORT_NAME cuda CUDA_STANDARD 20 CUDA_STANDARD_REQUIRED ON
                                                  POSITION_INDEPENDENT_CODE ON)
    # The kernels see include/ only (they use core/ and cuda/); the users of loramoe::cuda get the whole
    # library too, since <loramoe/cuda.hpp> includes it.
    target_include_directories(loramoe_cuda PUBLIC
        $<BUILD_INTERFACE:${PROJECT_SOURCE_DIR}/include> $<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}>)
    target_link_libraries(loramoe_cuda PUBLIC CUDA::cudart CUDA::cublas INTERFACE loramoe)
    target_compile_definitions(loramoe_cuda PUBLIC LORAMOE_CUDA)
endif()
