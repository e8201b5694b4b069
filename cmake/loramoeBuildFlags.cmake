# Flags for this project's own programs (tests, tools, examples, benchmarks), not for consumers:
# the SIMD architecture is fixed once per build, by the machine that builds.
add_library(loramoe_build_flags INTERFACE)
target_compile_options(loramoe_build_flags INTERFACE -Wall -Wextra -Wpedantic)
if(LORAMOE_NATIVE)
    target_compile_options(loramoe_build_flags INTERFACE -march=native)
endif()
# Debug builds keep the hot-loop assertions; -DNDEBUG builds compile them out.
target_compile_definitions(loramoe_build_flags INTERFACE $<$<CONFIG:Debug>:LORAMOE_ENABLE_ASSERTS>)
