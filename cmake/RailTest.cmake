# rail_add_test(NAME TIMEOUT [SOURCES file...] [LIBS target...] [DEPENDS target...]
#               [ARGS arg...])
#
# One test program under CTest: built from SOURCES (default NAME.c), linked
# with LIBS (default: rail_static and cmocka), built after DEPENDS, run with
# ARGS. TIMEOUT is in seconds for a plain build; every suite scales it by
# RAIL_TEST_TIMEOUT_SCALE (sanitizers run several times slower), here only.
#
# rail_test_timeout(TEST SECONDS) sets that scaled timeout on any test, for
# tests that are scripts rather than programs.

set(RAIL_TEST_TIMEOUT_SCALE 1 CACHE STRING "Multiplier for per-test timeouts")

function(rail_test_timeout test seconds)
  math(EXPR scaled "${seconds} * ${RAIL_TEST_TIMEOUT_SCALE}")
  set_tests_properties(${test} PROPERTIES TIMEOUT ${scaled})
endfunction()

function(rail_add_test name timeout)
  cmake_parse_arguments(PARSE_ARGV 2 T "" "" "SOURCES;LIBS;DEPENDS;ARGS")
  if(NOT T_SOURCES)
    set(T_SOURCES ${name}.c)
  endif()
  if(NOT T_LIBS)
    set(T_LIBS rail_static PkgConfig::CMOCKA)
  endif()
  add_executable(${name} ${T_SOURCES})
  target_link_libraries(${name} PRIVATE ${T_LIBS})
  if(T_DEPENDS)
    add_dependencies(${name} ${T_DEPENDS})
  endif()
  add_test(NAME ${name} COMMAND ${name} ${T_ARGS})
  rail_test_timeout(${name} ${timeout})
endfunction()
