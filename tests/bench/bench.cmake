# The benchmarks' CI smoke run (issue 4): tests/bench/bench.py --smoke runs
# every scenario once at N = 10 (about 25 s) and fails when a scenario breaks
# or produces no table - never because a number is slow. The full bench is
# run by hand (docs/BENCHMARKS.md). Included by tests/integration/tests.cmake.
#
# rollcall-bench-peerd (peerd.c): the bench's multiplexed peers, N rc_nodes in
# one process (s1, s5). It lands next to `rollcall` in the build directory,
# where bench.py looks for it by default.
#
# RUN_SERIAL: it starts some 20 agents, erl nodes and an epmd on loopback and
# times them; sharing the machine with other tests would only add noise.
if(NOT Python3_EXECUTABLE)
  find_package(Python3 COMPONENTS Interpreter)
endif()
if(Python3_EXECUTABLE)
  set(_rc_bench_python ${Python3_EXECUTABLE})
else()
  set(_rc_bench_python python3)
endif()

add_executable(rollcall-bench-peerd ${CMAKE_CURRENT_LIST_DIR}/peerd.c)
target_link_libraries(rollcall-bench-peerd PRIVATE rollcall_core)

add_test(NAME bench/smoke
         COMMAND ${_rc_bench_python} ${CMAKE_CURRENT_LIST_DIR}/bench.py --smoke
                 --rollcall $<TARGET_FILE:rollcall>
                 --peerd $<TARGET_FILE:rollcall-bench-peerd>
                 --out ${CMAKE_BINARY_DIR}/bench-smoke-results)
set_tests_properties(bench/smoke PROPERTIES
                     LABELS bench
                     TIMEOUT 120
                     RUN_SERIAL TRUE)
