# The Unicode libraries of the tokenizer.json reader (io/bpe_tokenizer.hpp): Oniguruma, the regular
# expression engine HuggingFace `tokenizers` runs its split patterns with (Debian's libonig-dev ships a
# pkg-config file, no CMake package: this makes the imported target loramoe::oniguruma from it), and
# ICU's common library for NFC (CMake's FindICU: ICU::uc). Written to be included by the project's
# CMakeLists.txt and by an installed package config alike.

if(TARGET loramoe::oniguruma)
    return()
endif()

find_package(PkgConfig QUIET)
if(PKG_CONFIG_FOUND)
    pkg_check_modules(PC_ONIGURUMA QUIET oniguruma)
endif()
find_path(LORAMOE_ONIGURUMA_INCLUDE_DIR oniguruma.h HINTS ${PC_ONIGURUMA_INCLUDE_DIRS})
find_library(LORAMOE_ONIGURUMA_LIBRARY onig HINTS ${PC_ONIGURUMA_LIBRARY_DIRS})
if(NOT LORAMOE_ONIGURUMA_INCLUDE_DIR OR NOT LORAMOE_ONIGURUMA_LIBRARY)
    message(FATAL_ERROR "Oniguruma not found; on Debian: apt-get install libonig-dev")
endif()
add_library(loramoe::oniguruma INTERFACE IMPORTED)
target_include_directories(loramoe::oniguruma INTERFACE ${LORAMOE_ONIGURUMA_INCLUDE_DIR})
target_link_libraries(loramoe::oniguruma INTERFACE ${LORAMOE_ONIGURUMA_LIBRARY})

find_package(ICU COMPONENTS uc)
if(NOT ICU_FOUND)
    message(FATAL_ERROR "ICU not found; on Debian: apt-get install libicu-dev")
endif()
