# Turns every doctest TEST_CASE of a test executable into a ctest test, labelled with its doctest test
# suite, so that `ctest -L gradcheck` runs one group. Run after each build of the executable
# (tests/CMakeLists.txt):
#   cmake -D EXECUTABLE=... -D CTEST_FILE=... -D WORKING_DIR=... -D TIMEOUT=... -P discover_tests.cmake
#
# doctest's own doctest_discover_tests(ADD_LABELS) asks for the suite of each test case with an
# unescaped --test-case filter, which loses the label of every name with a comma; and CMake lists
# split names at semicolons and brackets. A test that exits with status 77 is reported as skipped
# (the GPU tests, on a machine without a GPU). Here the names are read line by line, a filter escapes its
# commas (doctest's `\,`), and the suites are listed once each.

foreach(variable EXECUTABLE CTEST_FILE WORKING_DIR TIMEOUT)
    if(NOT DEFINED ${variable})
        message(FATAL_ERROR "discover_tests.cmake: -D ${variable}=... is required")
    endif()
endforeach()

# The names doctest lists for ARGN, one per line, into the variable `result` as a list whose items
# are indices into the variables line_0, line_1, ... of the caller (so no name is ever a list item).
function(doctest_list prefix)
    execute_process(COMMAND "${EXECUTABLE}" ${ARGN} OUTPUT_VARIABLE output RESULT_VARIABLE status
                    WORKING_DIRECTORY "${WORKING_DIR}")
    if(NOT status EQUAL 0)
        message(FATAL_ERROR "discover_tests.cmake: ${EXECUTABLE} ${ARGN} failed (${status}):\n${output}")
    endif()
    set(count 0)
    while(NOT output STREQUAL "")
        string(FIND "${output}" "\n" end)
        if(end EQUAL -1)
            set(line "${output}")
            set(output "")
        else()
            string(SUBSTRING "${output}" 0 ${end} line)
            math(EXPR next "${end} + 1")
            string(SUBSTRING "${output}" ${next} -1 output)
        endif()
        if(line STREQUAL "" OR line MATCHES "^===+$" OR line MATCHES "^\\[doctest\\] ")
            continue()
        endif()
        set(${prefix}_${count} "${line}" PARENT_SCOPE)
        math(EXPR count "${count} + 1")
    endwhile()
    set(${prefix}_count ${count} PARENT_SCOPE)
endfunction()

doctest_list(suite --list-test-suites)
set(script "")
set(seen_count 0)
foreach(s RANGE ${suite_count})
    if(s EQUAL suite_count)
        break()
    endif()
    set(label "${suite_${s}}")
    doctest_list(case "--test-suite=${label}" --list-test-cases)
    foreach(c RANGE ${case_count})
        if(c EQUAL case_count)
            break()
        endif()
        set(name "${case_${c}}")
        string(REPLACE "," "\\," filter "${name}")
        string(APPEND script
               "add_test([==[${name}]==] [==[${EXECUTABLE}]==] [==[--test-case=${filter}]==])\n"
               "set_tests_properties([==[${name}]==] PROPERTIES LABELS [==[${label}]==] TIMEOUT ${TIMEOUT}"
               " WORKING_DIRECTORY [==[${WORKING_DIR}]==] SKIP_RETURN_CODE 77)\n")
        math(EXPR seen_count "${seen_count} + 1")
    endforeach()
endforeach()

# Test cases outside any test suite: no label.
doctest_list(all --list-test-cases)
if(NOT all_count EQUAL seen_count)
    foreach(c RANGE ${all_count})
        if(c EQUAL all_count)
            break()
        endif()
        set(name "${all_${c}}")
        string(FIND "${script}" "add_test([==[${name}]==]" found)
        if(found EQUAL -1)
            string(REPLACE "," "\\," filter "${name}")
            string(APPEND script
                   "add_test([==[${name}]==] [==[${EXECUTABLE}]==] [==[--test-case=${filter}]==])\n"
                   "set_tests_properties([==[${name}]==] PROPERTIES TIMEOUT ${TIMEOUT}"
                   " WORKING_DIRECTORY [==[${WORKING_DIR}]==])\n")
        endif()
    endforeach()
endif()

file(WRITE "${CTEST_FILE}" "${script}")
