# SentencePiece, the tokenizer of LLaMA checkpoints (io/sentencepiece_tokenizer.hpp). Debian's
# libsentencepiece-dev ships a pkg-config file but no CMake package: this makes the imported target
# loramoe::sentencepiece from it, with both libraries (libsentencepiece_train builds tokenizer.model
# files for tests and demos). Without pkg-config, the usual search paths are tried. Written to be
# included by the project's CMakeLists.txt and by an installed package config alike.

if(TARGET loramoe::sentencepiece)
    return()
endif()

find_package(PkgConfig QUIET)
if(PKG_CONFIG_FOUND)
    pkg_check_modules(PC_SENTENCEPIECE QUIET sentencepiece)
endif()
find_path(LORAMOE_SENTENCEPIECE_INCLUDE_DIR sentencepiece_processor.h HINTS ${PC_SENTENCEPIECE_INCLUDE_DIRS})
find_library(LORAMOE_SENTENCEPIECE_LIBRARY sentencepiece HINTS ${PC_SENTENCEPIECE_LIBRARY_DIRS})
find_library(LORAMOE_SENTENCEPIECE_TRAIN_LIBRARY sentencepiece_train HINTS ${PC_SENTENCEPIECE_LIBRARY_DIRS})
foreach(found IN ITEMS LORAMOE_SENTENCEPIECE_INCLUDE_DIR LORAMOE_SENTENCEPIECE_LIBRARY
                       LORAMOE_SENTENCEPIECE_TRAIN_LIBRARY)
    if(NOT ${found})
        message(FATAL_ERROR "SentencePiece not found (${found}); on Debian: apt-get install libsentencepiece-dev")
    endif()
endforeach()

add_library(loramoe::sentencepiece INTERFACE IMPORTED)
target_include_directories(loramoe::sentencepiece INTERFACE ${LORAMOE_SENTENCEPIECE_INCLUDE_DIR})
target_link_libraries(loramoe::sentencepiece INTERFACE
    ${LORAMOE_SENTENCEPIECE_LIBRARY} ${LORAMOE_SENTENCEPIECE_TRAIN_LIBRARY})
