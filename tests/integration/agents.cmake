# Agent-level integration tests: real rollcall processes on 127.0.0.x, real
# erl / elixir / epmd (tests/integration/test_{cluster,erlang,cli}.py, shared
# helpers in harness.py). Included by tests/integration/tests.cmake.
#
# RUN_SERIAL: the timing bounds (100 ms to notice a kill -9, sweeps never
# delayed beyond ping_timeout) are part of what is tested, so these must not
# share the machine with other tests; each also starts several processes.
if(NOT Python3_EXECUTABLE)
  find_package(Python3 COMPONENTS Interpreter)
endif()
if(Python3_EXECUTABLE)
  set(_rc_python ${Python3_EXECUTABLE})
else()
  set(_rc_python python3)
endif()

foreach(suite cluster erlang cli)
  add_test(NAME integration/agents_${suite}
           COMMAND ${_rc_python} ${CMAKE_CURRENT_LIST_DIR}/test_${suite}.py $<TARGET_FILE:rollcall>)
  set_tests_properties(integration/agents_${suite} PROPERTIES
                       LABELS integration
                       TIMEOUT 300
                       RUN_SERIAL TRUE)
endforeach()
