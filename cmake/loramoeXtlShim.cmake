# Debian's xsimd 8 package config links a target named `xtl` that no Debian package provides (xsimd
# needs nothing from xtl for the kernels loramoe uses). An empty target satisfies the link line.
if(TARGET xsimd AND NOT TARGET xtl)
    add_library(xtl INTERFACE IMPORTED)
endif()
